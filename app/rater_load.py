"""Load driver: many raters taking a listening test at once through the running app, as browsers do.

`python -m app.rater_load --url http://127.0.0.1:7860 --raters 50 --ratings 20 [--db URL]`; `python -m
app.bench_raters` starts the app and runs it as a benchmark. It lives in app/ (not tests/) for that benchmark.

Every rater is one Gradio session (its own `session_hash` and HTTP connection) that goes through the
same events the page fires: load (with the browser-storage value), consent, start, then per clip the
audio player's play event, a wait as long as the clip (the clip file is downloaded to learn its
length), the player's end event, an optional pause to choose the answer (`think_s`, drawn per page) and
"Save and continue" with a score. A rating counts as
*acknowledged* when the server's answer to the submission moves the rater to the next page (or to
the completion code). Prints one JSON summary: raters, acknowledged, stored (counted in the database
when --db is given, else the acknowledgements), errors, p50_ms / p95_ms / max_ms of the submissions
and the wall time. Only ACR and P.835 studies (one clip per page) are driven.

Every loop is bounded: a rater makes at most a fixed number of calls, every call has a timeout and
the whole run has a deadline.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import re
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import soundfile as sf

from app import messages

CONSENT_BUTTON = "I agree and want to take part"
START_BUTTON = "Start"
SUBMIT_BUTTON = "Save and continue"
CLIP_LABEL = "Clip"
CALL_TIMEOUT_S = 60.0
CALLS_PER_PAGE = 12  # play, end, submit, with retries; a rater stops after pages x this many calls
_PAGE_RE = re.compile(r"###\s+(Training page|Page)\s+(\d+)\s+of\s+(\d+)")
_CODE_RE = re.compile(r"completion code is \*\*([^*]+)\*\*")
_NOTICE_RE = re.compile(r'<p class="lab-notice" role="alert">(.*?)</p>', re.S)


class ServerError(RuntimeError):
    """An event the server answered with an error (message: what the server said, or a short reason)."""


class ServerGone(RuntimeError):
    """The server could not be reached (refused, reset or timed out)."""


@dataclass(frozen=True)
class Endpoints:
    """Gradio event indices of the rater flow, read from the app's /config."""

    load: int
    consent: int
    begin: int
    submit: int
    play: int
    end: int
    submit_inputs: (
        int  # how many values the submit event takes after the state (the radios; MUSHRA saves via its panel)
    )
    radios: int


def discover(config: Mapping[str, Any]) -> Endpoints:
    """Find the rater events in a Gradio config (they are private: called by index, as the page does)."""
    comps = {c["id"]: c for c in config["components"]}
    found: dict[str, int] = {}
    submit_inputs = radios = 0
    for dep in config["dependencies"]:
        kinds = [comps.get(i, {}).get("type") for i in dep["inputs"]]
        keeps = "browserstate" in [comps.get(i, {}).get("type") for i in dep["outputs"]]
        for target, trigger in dep["targets"]:
            comp = comps.get(target, {})
            props = comp.get("props", {})
            text = props.get("value") if comp.get("type") == "button" else props.get("label")
            if trigger == "load" and "browserstate" in kinds and keeps:  # the lab's load only reads its own
                found["load"] = dep["id"]
            elif trigger == "click" and text in (CONSENT_BUTTON, START_BUTTON, SUBMIT_BUTTON):
                name = {CONSENT_BUTTON: "consent", START_BUTTON: "begin", SUBMIT_BUTTON: "submit"}[text]
                found[name] = dep["id"]
                if name == "submit":
                    submit_inputs = len(dep["inputs"]) - 1
                    radios = kinds.count("radio")
            elif comp.get("type") == "audio" and text == CLIP_LABEL and trigger in ("play", "stop"):
                found["play" if trigger == "play" else "end"] = dep["id"]
    missing = {"load", "consent", "begin", "submit", "play", "end"} - set(found)
    if missing:
        raise ServerError(messages.no_rater_events(sorted(missing)))
    return Endpoints(submit_inputs=submit_inputs, radios=radios, **found)


@dataclass
class View:
    """What a response shows the rater (parsed from the component updates)."""

    stage: str  # intro | consent | instructions | page | done | message | notice
    notice: str = ""
    page: int = 0  # 1-based page number on a page view
    total: int = 0
    training: bool = False
    scales: int = 0
    clip_url: str | None = None
    code: str | None = None
    stored: dict | None = None  # the browser-storage value sent back (rater_id, session_id)
    text: str = ""


def parse_view(data: Sequence[Any]) -> View:
    """The view a list of Gradio output values shows."""
    texts: list[str] = []
    stored = None
    clip_url = None
    scales = 0
    for value in data:
        if isinstance(value, dict) and value.get("__type__") == "update":
            inner = value.get("value")
            if "interactive" in value and value.get("visible") is not False:  # a scale's radio, reset per page
                scales += 1
            if isinstance(inner, dict) and inner.get("url") and value.get("label", "").startswith("Clip "):
                clip_url = inner["url"]
            if isinstance(inner, str):
                texts.append(inner)
        elif isinstance(value, dict) and ("rater_id" in value or not value):
            stored = value
        elif isinstance(value, str):
            texts.append(value)
    joined = "\n".join(texts)
    notice = " ".join(m.strip() for m in _NOTICE_RE.findall(joined))
    view = View("message", notice=notice, stored=stored, text=joined)
    if (code := _CODE_RE.search(joined)) is not None:
        view.stage, view.code = "done", code.group(1)
    elif (page := _PAGE_RE.search(joined)) is not None:
        view.stage, view.training = "page", page.group(1).startswith("Training")
        view.page, view.total = int(page.group(2)), int(page.group(3))
        view.scales, view.clip_url = scales, clip_url
    elif "## Instructions" in joined:
        view.stage = "instructions"
    elif "## Consent" in joined:
        view.stage = "consent"
    elif "## About this test" in joined:
        view.stage = "intro"
    elif notice:
        view.stage = "notice"
    return view


class GradioSession:
    """One browser tab: a session hash and an HTTP connection to the app."""

    def __init__(self, url: str, endpoints: Endpoints, timeout_s: float = CALL_TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self.endpoints = endpoints
        self.session_hash = uuid.uuid4().hex[:11]
        self.http = httpx.Client(base_url=self.url, timeout=timeout_s)

    def close(self) -> None:
        self.http.close()

    def call(self, fn_index: int, data: list[Any]) -> list[Any]:
        """Run one event; returns its output values. Raises ServerError or ServerGone."""
        payload = {
            "data": data,
            "fn_index": fn_index,
            "session_hash": self.session_hash,
            "trigger_id": None,
            "event_data": None,
        }
        try:
            joined = self.http.post("/gradio_api/queue/join", json=payload)
            if joined.status_code != 200:
                raise ServerError(f"the queue refused the event (HTTP {joined.status_code})")
            event_id = joined.json().get("event_id")
            with self.http.stream(
                "GET", "/gradio_api/queue/data", params={"session_hash": self.session_hash}
            ) as events:
                for line in events.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    message = json.loads(line[5:])
                    if message.get("event_id") not in (None, event_id):
                        continue  # an event of this tab still running from before
                    if message.get("msg") == "process_completed":
                        output = message.get("output") or {}
                        if not message.get("success"):
                            raise ServerError(str(output.get("error") or "the event failed"))
                        return output.get("data") or []
                    if message.get("msg") == "unexpected_error":
                        raise ServerError(str(message.get("message") or "unexpected error"))
        except httpx.TransportError as exc:
            raise ServerGone(f"{type(exc).__name__}: {exc}") from None
        raise ServerGone("the event stream ended without an answer")

    def fetch_seconds(self, url: str) -> float:
        """Download a served clip (as the audio player does) and return its duration in seconds."""
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            response = self.http.get(path)
        except httpx.TransportError as exc:
            raise ServerGone(f"{type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise ServerError(f"the clip could not be downloaded (HTTP {response.status_code})")
        info = sf.info(io.BytesIO(response.content))
        return info.frames / info.samplerate


@dataclass
class RaterLog:
    """What one simulated rater did and what the server acknowledged."""

    rater_id: str | None = None
    session_id: str | None = None
    stored: dict | None = None  # browser-storage value (to resume after a reload or a crash)
    acknowledged: int = 0  # ratings the server confirmed by moving on
    first_page: int = 0  # the page the rater was on when this run started (1-based; 0 before any page)
    latencies_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    code: str | None = None
    gone: bool = False  # stopped because the server went away


def run_rater(
    url: str,
    endpoints: Endpoints,
    max_ratings: int,
    *,
    stored: dict | None = None,
    seed: int = 0,
    deadline: float | None = None,
    on_ack: Callable[[RaterLog], None] | None = None,
    stop: threading.Event | None = None,
    log: RaterLog | None = None,
    think_s: tuple[float, float] = (0.0, 0.0),
) -> RaterLog:
    """One rater: open the page (resuming `stored` when given), consent, rate up to `max_ratings` clips."""
    rng = random.Random(seed)
    log = log or RaterLog()
    tab = GradioSession(url, endpoints)
    deadline = deadline or time.monotonic() + 600
    try:
        view = parse_view(tab.call(endpoints.load, [stored or {}]))
        _keep(log, view)
        if view.stage in ("intro", "consent"):  # the introduction's Continue only shows the consent page
            view = parse_view(tab.call(endpoints.consent, [None, ""]))
            _keep(log, view)
        if view.stage == "instructions":
            view = parse_view(tab.call(endpoints.begin, [None]))
        log.first_page = view.page if view.stage == "page" and not view.training else 0
        budget = CALLS_PER_PAGE * (max_ratings + 10)
        while view.stage == "page" and budget > 0 and log.acknowledged < max_ratings:
            if time.monotonic() > deadline or (stop is not None and stop.is_set()):
                log.errors.append("stopped before the end of the session (deadline or stop)")
                break
            budget -= 3
            if view.clip_url:
                seconds = tab.fetch_seconds(view.clip_url)
                tab.call(endpoints.play, [None])
                time.sleep(seconds + 0.02)
                tab.call(endpoints.end, [None])
            time.sleep(rng.uniform(*think_s))
            answers = [rng.randint(1, 5) if i < view.scales else None for i in range(endpoints.radios)]
            sliders = [0] * (endpoints.submit_inputs - endpoints.radios)
            started = time.monotonic()
            following = parse_view(tab.call(endpoints.submit, [None, *answers, *sliders]))
            elapsed = time.monotonic() - started
            if following.stage == "notice":
                log.errors.append(f"page {view.page}: {following.notice}")
                continue  # listen again and resubmit (bounded by the call budget)
            moved = following.stage == "done" or (
                following.stage == "page" and (following.page > view.page or following.training != view.training)
            )
            if not moved:
                reason = following.notice or following.stage
                log.errors.append(f"page {view.page}: the answer did not move on ({reason})")
                view = following
                continue
            if not view.training:
                log.acknowledged += 1
                log.latencies_s.append(elapsed)
                if on_ack is not None:
                    on_ack(log)
            view = following
        if view.stage == "done":
            log.code = view.code
        elif view.stage not in ("page",):
            log.errors.append(f"unexpected {view.stage} view: {(view.notice or view.text)[:200]}")
    except ServerGone as exc:
        log.gone = True
        log.errors.append(f"server gone: {exc}")
    except ServerError as exc:
        log.errors.append(f"server error: {exc}")
    finally:
        tab.close()
    return log


def _keep(log: RaterLog, view: View) -> None:
    if view.stored and view.stored.get("rater_id"):
        log.stored = dict(view.stored)
        log.rater_id = view.stored["rater_id"]
        log.session_id = view.stored.get("session_id")


def endpoints_of(url: str, timeout_s: float = 30.0) -> Endpoints:
    """Read the app's /config and find the rater events."""
    try:
        config = httpx.get(f"{url.rstrip('/')}/config", timeout=timeout_s).json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ServerGone(f"the app at {url} did not answer: {exc}") from None
    return discover(config)


@dataclass
class LoadResult:
    """Every rater's log and the run's wall time."""

    raters: list[RaterLog]
    wall_s: float

    @property
    def acknowledged(self) -> int:
        return sum(r.acknowledged for r in self.raters)

    def summary(self, stored: int | None = None) -> dict[str, Any]:
        """The JSON summary printed by the command line."""
        latencies = sorted(s * 1000 for r in self.raters for s in r.latencies_s)
        return {
            "raters": len(self.raters),
            "acknowledged": self.acknowledged,
            "stored": stored if stored is not None else self.acknowledged,
            "stored_counted_in": "database" if stored is not None else "server acknowledgements",
            "errors": sum(len(r.errors) for r in self.raters),
            "finished_sessions": sum(r.code is not None for r in self.raters),
            "p50_ms": round(_quantile(latencies, 0.50), 1) if latencies else None,
            "p95_ms": round(_quantile(latencies, 0.95), 1) if latencies else None,
            "max_ms": round(latencies[-1], 1) if latencies else None,
            "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
            "wall_s": round(self.wall_s, 2),
            "ratings_per_s": round(self.acknowledged / self.wall_s, 2) if self.wall_s > 0 else None,
        }


def run_load(
    url: str,
    raters: int,
    ratings: int,
    *,
    seed: int = 0,
    deadline_s: float = 600.0,
    stored: Sequence[dict | None] | None = None,
    on_ack: Callable[[RaterLog], None] | None = None,
    stop: threading.Event | None = None,
    think_s: tuple[float, float] = (0.0, 0.0),
) -> LoadResult:
    """`raters` raters at once, each rating up to `ratings` clips; `stored` resumes earlier raters."""
    endpoints = endpoints_of(url)
    started = time.monotonic()
    deadline = started + deadline_s
    logs = [RaterLog() for _ in range(raters)]
    with ThreadPoolExecutor(max_workers=raters, thread_name_prefix="rater") as pool:
        futures = [
            pool.submit(
                run_rater,
                url,
                endpoints,
                ratings,
                stored=stored[i] if stored else None,
                seed=seed * 1000 + i,
                deadline=deadline,
                on_ack=on_ack,
                stop=stop,
                log=logs[i],
                think_s=think_s,
            )
            for i in range(raters)
        ]
        for future in futures:
            future.result()
    return LoadResult(logs, time.monotonic() - started)


def count_stored(db_url: str, study_id: str | None = None) -> int:
    """Ratings in the database (of one study, or all)."""
    from listening_tests.storage import Store

    store = Store(db_url)
    try:
        return len(store.list_ratings(study_id))
    finally:
        store.close()


def _quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of sorted values."""
    if len(values) == 1:
        return values[0]
    position = q * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.rater_load", description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:7860", help="the running app")
    parser.add_argument("--raters", type=int, default=50, help="raters at once (default 50)")
    parser.add_argument("--ratings", type=int, default=20, help="ratings per rater at most (default 20)")
    parser.add_argument("--db", help="database URL: count the stored ratings there after the run")
    parser.add_argument("--study", help="with --db: count only this study's ratings")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--deadline-s", type=float, default=600.0, help="stop every rater after this long")
    parser.add_argument("--json", help="also write the summary to this file")
    args = parser.parse_args(argv)
    if not 1 <= args.raters <= 500 or not 1 <= args.ratings <= 1000:
        print(messages.LOAD_LIMITS, file=sys.stderr)
        return 2
    try:
        result = run_load(args.url, args.raters, args.ratings, seed=args.seed, deadline_s=args.deadline_s)
    except (ServerGone, ServerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stored = count_stored(args.db, args.study) if args.db else None
    summary = result.summary(stored)
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0 if summary["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
