"""Helpers of the reliability tests: the app as a real subprocess, raw Gradio calls, and the figures.

`AppProcess` runs `python app.py` on a free loopback port with its own TMPDIR (so every file the app
writes can be accounted for), can be killed with SIGKILL and restarted on the same data. `record()`
writes the figures a test measured as one JSON file per section into a folder the test is given (a
temporary one unless RELIABILITY_FIGURES names one); `python -m tests.reliability.report --figures DIR`
renders docs/reliability.md from such a folder, so the document holds only numbers the tests produced.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.support.paths import ROOT

START_LIMIT_S = 120.0
LOOPBACK = "127.0.0.1"
USER_AGENT = "reliability-probe/1.0 (jane.doe@example.org)"  # must never be stored anywhere


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


class AppProcess:
    """`python app.py` as a subprocess on a free loopback port (restartable on the same data)."""

    def __init__(
        self, folder: Path, study: Path, models: Path, *, db_url: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.folder = Path(folder)
        self.study, self.models, self.db_url = study, models, db_url
        self.data_dir = self.folder / "data"
        self.tmp = self.folder / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.extra_env = env or {}
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self.startup_s: list[float] = []

    @property
    def runtime_dir(self) -> Path:
        return self.tmp / "ddpmss-lab"

    @property
    def log_path(self) -> Path:
        return self.folder / f"app-{self.starts}.log"

    def start(self) -> AppProcess:
        self.starts += 1
        env = {
            **os.environ,
            "TMPDIR": str(self.tmp),
            "HF_HUB_OFFLINE": "1",
            "GRADIO_ANALYTICS_ENABLED": "False",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        env.pop("GRADIO_TEMP_DIR", None)
        command = [
            sys.executable,
            "app.py",
            "--port",
            str(self.port),
            "--host",
            LOOPBACK,
            "--data-dir",
            str(self.data_dir),
            "--study",
            str(self.study),
            "--models",
            str(self.models),
            "--device",
            "cpu",
        ]
        if self.db_url:
            command += ["--db", self.db_url]
        log = open(self.log_path, "w")
        started = time.monotonic()
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        while not self.answers():
            if self.process.poll() is not None:
                raise AssertionError(f"the app exited at start-up:\n{self.log_path.read_text()[-3000:]}")
            if time.monotonic() - started > START_LIMIT_S:
                raise AssertionError(f"the app did not answer within {START_LIMIT_S:.0f} s")
            time.sleep(0.25)
        self.startup_s.append(time.monotonic() - started)
        return self

    def answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/config", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill9(self) -> None:
        """SIGKILL: no clean-up of any kind runs in the app."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self.process = None

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.folder.glob("app-*.log")))

    def crashes_in_our_code(self) -> list[str]:
        """Traceback lines of the server log that point into the project's own code (Gradio refusing a
        malformed request logs a traceback of its own: those are not crashes of the app)."""
        ours = (
            str(ROOT / "app") + "/",
            str(ROOT / "listening_tests") + "/",
            str(ROOT / "ddpmss") + "/",
            str(ROOT / "app.py"),
        )
        return [
            line.strip()
            for line in self.log().splitlines()
            if line.strip().startswith('File "') and any(f'File "{o}' in line for o in ours)
        ]

    def config(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/config", timeout=10).json()


def fn_index(config: dict[str, Any], api_name: str) -> int:
    """Index of the event whose (private) api_name is `api_name`."""
    for dep in config["dependencies"]:
        if dep.get("api_name") == api_name:
            return dep["id"]
    raise KeyError(api_name)


def call(
    url: str,
    fn: int,
    data: list[Any],
    session_hash: str | None = None,
    timeout: float = 120,
    query: dict[str, str] | None = None,
    event_data: Any = None,
) -> dict[str, Any]:
    """Run any event by index over plain HTTP, as the page does (`event_data`: what a custom HTML component's
    trigger sends); returns the process_completed message (or {'http_status': N, 'text': ...} when the queue
    refuses the request)."""
    session_hash = session_hash or uuid.uuid4().hex[:11]
    with httpx.Client(base_url=url, timeout=timeout, headers={"User-Agent": USER_AGENT}) as http:
        payload = {"data": data, "fn_index": fn, "session_hash": session_hash, "trigger_id": None}
        payload["event_data"] = event_data
        joined = http.post("/gradio_api/queue/join", json=payload, params=query or {})
        if joined.status_code != 200:
            return {"http_status": joined.status_code, "text": joined.text, "success": False}
        event_id = joined.json().get("event_id")
        with http.stream("GET", "/gradio_api/queue/data", params={"session_hash": session_hash}) as events:
            for line in events.iter_lines():
                if line.startswith("data:"):
                    message = json.loads(line[5:])
                    if message.get("event_id") not in (None, event_id):
                        continue  # another event of the same tab
                    if message.get("msg") in ("process_completed", "unexpected_error"):
                        return message
    raise AssertionError("no answer from the server")


def call_together(url: str, calls: list[tuple[int, list[Any]]], session_hash: str, timeout: float = 120) -> list[dict]:
    """Several events of one tab sent at the same moment (a double click), read from the tab's one event
    stream as the page does; returns their answers in the order sent."""
    from concurrent.futures import ThreadPoolExecutor

    def join(fn_data: tuple[int, list[Any]]) -> str:
        fn, data = fn_data
        payload = {"data": data, "fn_index": fn, "session_hash": session_hash, "trigger_id": None, "event_data": None}
        answer = httpx.post(f"{url}/gradio_api/queue/join", json=payload, timeout=timeout)
        answer.raise_for_status()
        return answer.json()["event_id"]

    with ThreadPoolExecutor(len(calls)) as pool:
        ids = list(pool.map(join, calls))
    answers: dict[str, dict] = {}
    with httpx.Client(base_url=url, timeout=timeout) as http:
        for _ in range(len(calls)):  # the stream closes when the tab has nothing pending; reopen if needed
            with http.stream("GET", "/gradio_api/queue/data", params={"session_hash": session_hash}) as events:
                for line in events.iter_lines():
                    if line.startswith("data:"):
                        message = json.loads(line[5:])
                        if message.get("msg") == "process_completed" and message.get("event_id") in ids:
                            answers[message["event_id"]] = message
                    if len(answers) == len(ids):
                        return [answers[i] for i in ids]
    raise AssertionError(f"only {len(answers)} of {len(ids)} answers arrived")


def run_module(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m ...` in the project root (output captured)."""
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).rglob("*") if p.is_file())


# ------------------------------------------------------------------------------------------ figures


def record(folder: Path, section: str, figures: dict[str, Any]) -> Path:
    """Write a test's measured figures, with when and where they were measured, to `folder/<section>.json`."""
    entry = {
        "section": section,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),  # other work sharing the cores
        **figures,
    }
    path = Path(folder) / f"{section}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entry, indent=2, default=str) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------- rater tabs


class Tab:
    """One browser tab of a rater, driven through the app's (private) events exactly as the page fires them."""

    def __init__(self, url: str, endpoints: Any, query: dict[str, str] | None = None) -> None:
        self.url, self.ep, self.query = url, endpoints, query
        self.session_hash = uuid.uuid4().hex[:11]
        self.stored: dict | None = None
        self.view: Any = None
        self.data: list[Any] = []

    def send(self, fn: int, data: list[Any], event_data: Any = None) -> dict[str, Any]:
        """The raw answer of one event."""
        return call(self.url, fn, data, self.session_hash, query=self.query, event_data=event_data)

    def step(self, fn: int, data: list[Any]) -> Any:
        """Run an event that must succeed; returns (and keeps) the parsed view."""
        from app.rater_load import parse_view

        answer = self.send(fn, data)
        assert answer.get("success"), answer
        self.data = answer["output"]["data"]
        view = parse_view(self.data)
        if view.stored and view.stored.get("rater_id"):
            self.stored = dict(view.stored)
        if view.stage != "notice":
            self.view = view
        return view

    def open(self, stored: dict | None = None) -> Any:
        return self.step(self.ep.load, [stored if stored is not None else (self.stored or {})])

    def join(self, participant: str = "") -> Any:
        """Open the page, consent and start: returns the first rating page's view."""
        view = self.open()
        if view.stage in ("intro", "consent"):  # the introduction's Continue only shows the consent page
            view = self.step(self.ep.consent, [None, participant])
        if view.stage == "instructions":
            view = self.step(self.ep.begin, [None])
        return view

    def listen(self, seconds: float = 0.55, play: int | None = None, end: int | None = None) -> None:
        """Play the clip for `seconds`, then report its end (as the audio player does)."""
        self.send(self.ep.play if play is None else play, [None])
        time.sleep(seconds)
        self.send(self.ep.end if end is None else end, [None])

    def answers(self, *scores: Any) -> list[Any]:
        return [None, *scores, *[None] * (self.ep.radios - len(scores))]

    def submit(self, *scores: Any) -> dict[str, Any]:
        return self.send(self.ep.submit, self.answers(*scores))

    @property
    def rater_id(self) -> str | None:
        return (self.stored or {}).get("rater_id")

    @property
    def session_id(self) -> str | None:
        return (self.stored or {}).get("session_id")


def outcome(answer: dict[str, Any]) -> tuple[str, str]:
    """('refused', message) for an error answer, else (view stage, notice)."""
    from app.rater_load import parse_view

    if not answer.get("success"):
        return "refused", str((answer.get("output") or {}).get("error") or answer.get("text") or "")
    view = parse_view(answer["output"]["data"])
    return view.stage, view.notice
