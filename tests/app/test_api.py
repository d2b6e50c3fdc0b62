"""The built Blocks and the running server: API visibility, the `separate` endpoint, admin data protection."""

from __future__ import annotations

import json
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from app import lab_run
from app.messages import DENIED
from app.results import admin_access
from app.services import ModelLoader
from app.ui import build_app, launch_options
from ddpmss.settings import PIPELINES
from tests.support.app import (
    ABSOLUTE_PATH,
    SR,
    Clock,
    finish_acr_session,
    make_services,
    read_outputs,
    recompute_metrics,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def labels(demo: Any) -> set[str]:
    return {getattr(b, "label", None) for b in demo.blocks.values()} - {None}


def test_only_separate_is_public_and_results_tab_needs_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPACE_ID", raising=False)
    services = make_services(tmp_path / "open")
    demo = build_app(services, admin_access(services))
    public = [f.api_name for f in demo.fns.values() if f.api_visibility != "private"]
    assert public == ["separate"]
    assert "Admin password" in labels(demo) and "Screening per rater" in labels(demo)

    exposed = make_services(tmp_path / "exposed", host="0.0.0.0")  # no credentials: results are not built at all
    demo = build_app(exposed, admin_access(exposed))
    assert "Screening per rater" not in labels(demo) and "Admin password" not in labels(demo)
    assert [f.api_name for f in demo.fns.values() if f.api_visibility != "private"] == ["separate"]


@pytest.fixture()
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_separator):
    """A running app with an admin password, tiny models and one finished ACR session."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.delenv("SPACE_ID", raising=False)
    clock = Clock()
    services = make_services(
        tmp_path, loader=ModelLoader(lambda: tiny_separator), clock=clock, port=free_port(), admin_password="s3cret"
    )
    finish_acr_session(services, clock)
    demo = build_app(services, admin_access(services))
    demo.queue().launch(prevent_thread_lock=True, quiet=True, **launch_options(services))
    try:
        yield demo, f"http://127.0.0.1:{services.settings.port}"
    finally:
        demo.close()


def call_raw(url: str, fn_index: int, data: list[Any]) -> dict[str, Any]:
    """Call any event by index over plain HTTP, as a client ignoring api_visibility would."""
    session = uuid.uuid4().hex
    with httpx.Client(base_url=url, timeout=60) as http:
        joined = http.post("/gradio_api/queue/join", json={"data": data, "fn_index": fn_index, "session_hash": session})
        joined.raise_for_status()
        with http.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as events:
            for line in events.iter_lines():
                if line.startswith("data:"):
                    message = json.loads(line[5:])
                    if message.get("msg") == "process_completed":
                        return message
    raise AssertionError("no answer from the server")


@pytest.mark.slow
def test_server_api_separate_and_private_results(served) -> None:
    from gradio_client import Client, handle_file

    demo, url = served
    client = Client(url, verbose=False)
    assert list(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == ["/separate"]
    mixture, ref1, ref2 = lab_run.example_files(lab_run.examples()[0].mixture_id)
    *files, summary = client.predict(handle_file(mixture), handle_file(ref1), handle_file(ref2), api_name="/separate")
    outputs = read_outputs(files, mixture)  # six real, distinct separations at the output rate
    expected = recompute_metrics(outputs, mixture, [ref1, ref2])
    for name in PIPELINES:  # the JSON reports the metrics of the very files returned
        for talker in (0, 1):
            for key in ("si_sdr", "si_sdr_i"):
                assert summary["metrics"][name][talker][key] == pytest.approx(expected[name][talker][key], abs=0.02)
    assert summary["sample_rate"] == SR and set(summary["timings_s"]) >= {"sepformer", "vocoder"}

    results = next(i for i, f in demo.fns.items() if f.name == "results_password" and f.api_visibility == "private")
    denied = call_raw(url, results, ["wrong"])["output"]["data"]
    assert DENIED in denied[0] and all(not table["data"] for table in denied[2:5])  # no table,
    assert not denied[5] and denied[6] is None  # no plot, no file
    granted = call_raw(url, results, ["s3cret"])["output"]["data"]
    assert "6 ratings from 1 raters" in granted[0] and len(granted[6]) >= 2


@pytest.mark.slow
def test_server_api_separate_with_the_mixture_alone(served) -> None:
    from gradio_client import Client, handle_file

    demo, url = served
    mixture = lab_run.example_files(lab_run.examples()[0].mixture_id)[0]
    *files, summary = Client(url, verbose=False).predict(handle_file(mixture), api_name="/separate")
    read_outputs(files, mixture)
    status = next(i for i, f in demo.fns.items() if f.name == "status")  # the models line the page shows
    shown = call_raw(url, status, [])["output"]["data"][0]
    assert shown.startswith("Models: SepFormer: local checkpoint tiny-models")
    for text in (json.dumps(summary), shown):  # no returned text holds an absolute server path
        assert not ABSOLUTE_PATH.search(text), text
    for name in PIPELINES:
        for values in summary["metrics"][name]:
            assert all(1.0 <= values[key] <= 5.0 for key in ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")), values
            assert values["si_sdr"] is None and values["pesq_wb"] is None
    assert summary["metrics_need_references"] == list(lab_run.REFERENCE_METRICS)


def test_server_api_bad_upload_gives_the_sentence_not_a_traceback(served, tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    _, url = served
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio " * 50)
    with pytest.raises(Exception, match="not a readable audio file") as caught:
        Client(url, verbose=False).predict(handle_file(str(bad)), None, None, api_name="/separate")
    assert "Traceback" not in str(caught.value)


@pytest.mark.slow
def test_server_api_refuses_a_five_minute_mixture_at_once(served, tmp_path: Path, speechlike) -> None:
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import ValidationError

    _, url = served
    a, b, sr = speechlike
    long = tmp_path / "five_minutes.wav"
    sf.write(long, np.tile(a + b, 200), sr)
    client = Client(url, verbose=False)
    started = time.perf_counter()
    with pytest.raises(ValidationError, match="lasts 300.0 s, longer than the 30 s limit") as caught:
        client.predict(handle_file(str(long)), api_name="/separate")
    assert time.perf_counter() - started < 2.0
    assert "Traceback" not in str(caught.value)
    assert not (tmp_path / "runtime" / "lab").exists()  # refused before the queue: nothing ran


@pytest.mark.slow
def test_server_api_one_job_per_session(served) -> None:
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import ValidationError

    _, url = served
    mixture = lab_run.example_files(lab_run.examples()[0].mixture_id)[0]
    client = Client(url, verbose=False)  # one client: one session
    first = client.submit(handle_file(mixture), api_name="/separate")
    time.sleep(0.5)
    with pytest.raises(ValidationError, match="already separating a mixture"):
        client.predict(handle_file(mixture), api_name="/separate")
    assert len(first.result(timeout=120)) == 7  # the first job is untouched
    other = Client(url, verbose=False).submit(handle_file(mixture), api_name="/separate")  # another session
    assert len(other.result(timeout=120)) == 7
    assert len(client.predict(handle_file(mixture), api_name="/separate")) == 7  # free again once done


def test_launch_options_limit_uploads_and_never_serve_the_data_dir(tmp_path: Path) -> None:
    services = make_services(tmp_path, max_upload_mb=5)
    options = launch_options(services)
    assert options["max_file_size"] == 5_000_000
    assert options["blocked_paths"] == [str(services.settings.data_dir)]
    assert (options["server_name"], options["server_port"]) == ("127.0.0.1", 7860)
