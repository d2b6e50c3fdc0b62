"""Bad and odd audio through the engine, the command line and the running app's `separate` endpoint.

Every file of the generated corpus (tests/support/badaudio.py, 40+ cases) must give either a correct result
(two sources per pipeline, as long as the input, finite) or one clear sentence; no traceback reaches
the user, the server stays up, and nothing is left behind in the temporary folders. Figures go to a
folder from which `python -m tests.reliability.report` renders docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from tests.support.badaudio import OK, Case, make_corpus
from tests.support.reliability import AppProcess, call, files_under, fn_index, record, run_module

pytestmark = pytest.mark.slow

UPLOAD_LIMIT_MB = 12
UPLOAD_LIMIT = UPLOAD_LIMIT_MB * 1_000_000
OUT_SR = 8000  # the micro models run at 8 kHz end to end
PIPELINES = ("sepformer", "sepformer_diffwave", "sepformer_diffwave_fusion")
LIMITS = {"max_seconds": 600.0, "min_seconds": 0.1, "max_bytes": UPLOAD_LIMIT}
OUTPUT_NAME = re.compile(r"^(sepformer|sepformer_diffwave|sepformer_diffwave_fusion)_talker[12]\.(wav|png)$")
THIRD_PARTY_LINE = re.compile(r"^\[src/libmpg123/")  # libsndfile's MP3 probe writes this to stderr itself


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Case]]:
    folder = tmp_path_factory.mktemp("badaudio")
    return folder, make_corpus(folder, UPLOAD_LIMIT)


def outcome_counts(cases: list, rows: list[dict]) -> dict[str, int]:
    """How many bad files were tried, matched by a result row, separated and refused."""
    ok = sum(r["outcome"] == OK for r in rows)
    return {"cases": len(cases), "matched": len(rows), "ok": ok, "refused": len(rows) - ok}


@pytest.fixture(scope="module")
def micro_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random-weight models small enough to separate 10 minutes in about a minute (8 kHz throughout)."""
    from tests.support.tiny_models import write_tiny_models

    return write_tiny_models(tmp_path_factory.mktemp("micro-models"), micro=True)


@pytest.fixture(scope="module")
def separator(micro_models: Path, tmp_path_factory: pytest.TempPathFactory):
    from ddpmss.pipelines import Separator
    from ddpmss.settings import Settings

    settings = Settings(
        models=str(micro_models),
        device="cpu",
        output_sr=OUT_SR,
        max_upload_mb=UPLOAD_LIMIT_MB,
        cache_dir=tmp_path_factory.mktemp("cache"),
    )
    return Separator.from_settings(settings)


def one_sentence(text: str) -> bool:
    """One line, ending with a full stop, no Python traceback or frame in it."""
    text = text.strip()
    return (
        bool(text)
        and "\n" not in text
        and text.endswith(".")
        and "Traceback" not in text
        and 'File "' not in text
        and len(text) < 300
    )


def matches(case: Case, outcome: str, expected: str | None = None) -> bool:
    expected = expected or case.expected
    return outcome == OK if expected == OK else (outcome != OK and expected in outcome)


def input_seconds(path: Path) -> float:
    info = sf.info(path)
    return sf.read(path, dtype="float32")[0].shape[0] / info.samplerate if info.frames else 0.0


def check_outputs(outputs: dict[str, np.ndarray], seconds: float, pipelines=PIPELINES) -> None:
    assert set(outputs) == set(pipelines)
    for name, est in outputs.items():
        assert est.shape == (2, round(seconds * OUT_SR)), (name, est.shape)
        assert np.all(np.isfinite(est)), name


# ------------------------------------------------------------------------------------------- corpus


def test_corpus_has_every_kind_of_bad_file(corpus) -> None:
    folder, cases = corpus
    assert len(cases) >= 25 and len({c.name for c in cases}) == len(cases)
    expected = {c.expected for c in cases}
    assert OK in expected and len(expected) >= 9  # ok + every kind of refusal
    for name in (
        "empty.wav",
        "header_only.wav",
        "truncated.wav",
        "random_bytes.wav",
        "text_renamed.wav",
        "zero_frames.wav",
        "ten_ms.wav",
        "ten_minutes.wav",
        "over_limit.wav",
        "rate96k_6ch.wav",
        "pcm_u8.wav",
        "pcm_24.wav",
        "float_nan.wav",
        "float_inf.wav",
        "zeros.wav",
        "dc_only.wav",
        "clipped_square.wav",
        "valid.mp3",
        "valid.ogg",
        "valid.flac",
        "flac_named.wav",
    ):
        assert any(c.name == name for c in cases), name
    assert (folder / "over_limit.wav").stat().st_size > UPLOAD_LIMIT
    assert sf.info(folder / "rate96k_6ch.wav").channels == 6 and sf.info(folder / "pcm_u8.wav").subtype == "PCM_U8"


def test_long_mixtures_are_separated_in_segments_with_a_stable_talker_order(separator, monkeypatch) -> None:
    """SepFormer's positional encoding covers only minutes: long inputs go in segments, stitched in order."""
    rng = np.random.default_rng(0)
    calls: list[int] = []

    def fake_once(mix: np.ndarray) -> np.ndarray:  # the two 'talkers' are 0.3 and 0.7 of the input, in any order
        calls.append(len(mix))
        pair = np.stack([0.3 * mix, 0.7 * mix])
        return pair[::-1].copy() if rng.random() < 0.5 else pair

    monkeypatch.setattr(separator, "_sepformer_once", fake_once)
    monkeypatch.setattr(separator, "_segment_samples", lambda: 3 * separator.sep_sr)
    mixture = (0.1 + rng.random(int(20.3 * separator.sep_sr))).astype(np.float32)
    out = separator.run_sepformer(mixture, separator.sep_sr)
    assert out.shape == (2, len(mixture)) and len(calls) >= 7 and max(calls) == 3 * separator.sep_sr
    ratio = out[0] / mixture
    assert np.allclose(ratio, ratio[0], atol=1e-5) and round(float(ratio[0]), 4) in (0.3, 0.7)


# ------------------------------------------------------------------------------------------- engine


def test_engine_gives_a_result_or_one_sentence(
    corpus, separator, tmp_path: Path, monkeypatch, figures_dir: Path
) -> None:
    from ddpmss.audio import AudioError, load_audio

    folder, cases = corpus
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # anything written to the temp folder shows up here
    rows, started = [], time.monotonic()
    for case in cases:
        t0 = time.monotonic()
        try:
            audio, sr = load_audio(case.path(folder), **LIMITS)
        except AudioError as exc:
            outcome = str(exc)
            assert one_sentence(outcome), (case.name, outcome)
        else:
            pipelines = ("sepformer",) if case.long else PIPELINES
            result = separator.separate(audio, sr, pipelines)
            check_outputs(result.outputs, len(audio) / sr, pipelines)
            outcome = OK
        assert matches(case, outcome), (case.name, outcome)
        rows.append({"case": case.name, "outcome": outcome, "seconds": round(time.monotonic() - t0, 2)})
    leftovers = files_under(scratch)
    assert leftovers == []
    record(
        figures_dir,
        "audio_engine",
        {
            **outcome_counts(cases, rows),
            "leftover_files": len(leftovers),
            "tracebacks": 0,
            "wall_s": round(time.monotonic() - started, 1),
            "rows": rows,
        },
    )


# --------------------------------------------------------------------------------------------- CLI


def test_cli_gives_a_result_or_one_sentence(
    corpus, micro_models: Path, tmp_path: Path, monkeypatch, capfd, figures_dir: Path
) -> None:
    """`python -m ddpmss separate` on every file (in process, so every case is cheap; stdout and stderr are
    captured at the file-descriptor level, C libraries included); three cases also as real subprocesses."""
    from ddpmss.__main__ import main

    folder, cases = corpus
    monkeypatch.setenv("DDPMSS_OUTPUT_SR", str(OUT_SR))
    monkeypatch.setenv("DDPMSS_MAX_UPLOAD_MB", str(UPLOAD_LIMIT_MB))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    rows, third_party, started = [], 0, time.monotonic()
    flags = ["--models", str(micro_models), "--device", "cpu"]
    for case in cases:
        out = tmp_path / "out" / case.name
        pipelines = ["--pipelines", "sepformer"] if case.long else []
        t0 = time.monotonic()
        rc = main(["separate", str(case.path(folder)), "--out", str(out), *flags, *pipelines])
        captured = capfd.readouterr()
        lines = [line for line in captured.err.splitlines() if line.strip()]
        assert "Traceback" not in captured.err + captured.out, case.name
        ours = [line for line in lines if not THIRD_PARTY_LINE.match(line)]
        third_party += len(lines) - len(ours)
        if rc == 0:
            outcome = OK
            assert [line for line in ours if not line.startswith("models: ")] == [], (case.name, ours)
            wavs = sorted(p.relative_to(out).as_posix() for p in files_under(out))
            names = ["sepformer"] if case.long else list(PIPELINES)
            assert wavs == sorted(f"{n}/source{i}.wav" for n in names for i in (1, 2)), wavs
            seconds = input_seconds(case.path(folder))
            assert all(abs(sf.info(p).duration - seconds) < 1 / OUT_SR + 1e-6 for p in files_under(out))
        else:
            assert rc == 2 and len(ours) == 1 and ours[0].startswith("error: "), (case.name, lines)
            outcome = ours[0][len("error: ") :]
            assert one_sentence(outcome) and not out.exists(), (case.name, outcome)
        assert matches(case, outcome), (case.name, outcome)
        rows.append({"case": case.name, "outcome": outcome, "seconds": round(time.monotonic() - t0, 2)})
    assert files_under(scratch) == []

    real = {}  # the real entry point, as a user runs it
    env = {
        **os.environ,
        "DDPMSS_OUTPUT_SR": str(OUT_SR),
        "DDPMSS_MAX_UPLOAD_MB": str(UPLOAD_LIMIT_MB),
        "HF_HUB_OFFLINE": "1",
        "TMPDIR": str(scratch),
    }
    for name in ("pcm_24.wav", "text_renamed.wav", "over_limit.wav"):
        case = next(c for c in cases if c.name == name)
        done = run_module(
            "ddpmss", "separate", str(case.path(folder)), "--out", str(tmp_path / "real" / name), *flags, env=env
        )
        assert "Traceback" not in done.stderr + done.stdout
        if case.expected == OK:
            assert done.returncode == 0 and len(files_under(tmp_path / "real" / name)) == 6
        else:
            assert done.returncode == 2 and done.stderr.strip().splitlines() == [f"error: {rows_outcome(rows, name)}"]
        real[name] = done.returncode
    assert files_under(scratch) == []
    record(
        figures_dir,
        "audio_cli",
        {
            **outcome_counts(cases, rows),
            "tracebacks": 0,
            "third_party_stderr_lines": third_party,
            "subprocess_runs": real,
            "leftover_files": 0,
            "wall_s": round(time.monotonic() - started, 1),
            "rows": rows,
        },
    )


def rows_outcome(rows: list[dict[str, Any]], name: str) -> str:
    return next(r["outcome"] for r in rows if r["case"] == name)


# --------------------------------------------------------------------------------------------- app


@pytest.fixture(scope="module")
def audio_app(tmp_path_factory: pytest.TempPathFactory, micro_models: Path):
    from tests.support.app import make_stimuli, write_study

    folder = tmp_path_factory.mktemp("audio-app")
    study = write_study(folder, make_stimuli(folder / "stimuli"), "acr")
    env = {"DDPMSS_OUTPUT_SR": str(OUT_SR), "DDPMSS_MAX_UPLOAD_MB": str(UPLOAD_LIMIT_MB), "DDPMSS_THREADS": "2"}
    app = AppProcess(folder, study, micro_models, env=env).start()
    try:
        yield app
    finally:
        app.stop()


def upload(url: str, path: Path) -> httpx.Response:
    with open(path, "rb") as f:
        return httpx.post(f"{url}/gradio_api/upload", files={"files": (path.name, f, "audio/wav")}, timeout=120)


def test_app_separate_endpoint_gives_a_result_or_one_sentence(corpus, audio_app: AppProcess, figures_dir: Path) -> None:
    """Every file uploaded as a browser does, then the public `separate` endpoint; the server stays up."""
    folder, cases = corpus
    url = audio_app.url
    separate = fn_index(audio_app.config(), "separate")
    rows, started = [], time.monotonic()
    for case in cases:
        t0 = time.monotonic()
        sent = upload(url, case.path(folder))
        if sent.status_code != 200:
            outcome = sent.text.strip().strip('"')
            assert sent.status_code == 413 and one_sentence(outcome), (case.name, sent.status_code, outcome)
        else:
            path = sent.json()[0]
            file = {"path": path, "orig_name": case.name, "meta": {"_type": "gradio.FileData"}}
            answer = call(url, separate, [file, None, None], timeout=600)
            if answer.get("success"):
                outcome = OK
                data = answer["output"]["data"]
                files = [Path(d["path"]) for d in data[:6]]
                seconds = input_seconds(case.path(folder))
                assert all(abs(sf.info(p).duration - seconds) < 1 / OUT_SR + 1e-6 for p in files), case.name
                assert data[6]["sample_rate"] == OUT_SR
            elif answer.get("http_status") == 422:  # the lab's validator refused it before the queue
                details = json.loads(answer["text"]).get("detail") or []
                outcome = next(d["message"] for d in details if d.get("message"))
                assert one_sentence(outcome), (case.name, answer)
            else:
                outcome = str((answer.get("output") or {}).get("error"))
                assert one_sentence(outcome), (case.name, answer)
        assert matches(case, outcome, case.app_expected), (case.name, outcome)
        assert audio_app.process.poll() is None and audio_app.answers(), f"the server went down after {case.name}"
        rows.append({"case": case.name, "outcome": outcome, "seconds": round(time.monotonic() - t0, 2)})

    # after every bad file the rater side still works
    from app.rater_load import endpoints_of, parse_view

    load = endpoints_of(url).load
    assert parse_view(call(url, load, [{}])["output"]["data"]).stage == "intro"

    # nothing left behind: the app wrote only the outputs of the accepted files (and Gradio keeps the uploads
    # in its cache, which it empties by age: app.ui.CACHE_EXPIRY)
    ok_cases = [c for c in cases if matches(c, OK, c.app_expected)]
    runs = sorted((audio_app.runtime_dir / "lab").iterdir())
    assert len(runs) == len(ok_cases)
    for run in runs:
        assert sorted(p.suffix for p in run.iterdir()) == [".png"] * 6 + [".wav"] * 6
    stray, uploads = [], 0
    corpus_names = {c.name for c in cases}
    for path in files_under(audio_app.tmp):
        part = path.relative_to(audio_app.runtime_dir).parts if audio_app.runtime_dir in path.parents else ()
        if part[:1] == ("lab",) and len(part) == 3 and OUTPUT_NAME.match(part[2]):
            continue
        if part[:1] == ("gradio",) and len(part) == 3 and (part[2] in corpus_names or OUTPUT_NAME.match(part[2])):
            uploads += part[2] in corpus_names
            continue
        if path.name == ".ses" and path.parent == audio_app.tmp:
            continue  # onnxruntime writes its session-id file into $TMPDIR on import (DNSMOS): not ours to remove
        stray.append(str(path))
    assert stray == []
    assert "Traceback" not in audio_app.log()  # user errors are answered, not logged as crashes
    record(
        figures_dir,
        "audio_app",
        {
            **outcome_counts(cases, rows),
            "tracebacks": 0,
            "server_restarts_needed": 0,
            "requests": len(rows) + 1,
            "stray_files": len(stray),
            "uploads_in_gradio_cache": uploads,
            "wall_s": round(time.monotonic() - started, 1),
            "rows": rows,
        },
    )


def test_app_turns_an_unexpected_crash_into_one_sentence(tmp_path: Path, monkeypatch, speechlike) -> None:
    """A failure inside the models (not a user error) reaches the user as one sentence, the log has the rest."""
    from gradio_client import Client, handle_file

    from app.messages import SEPARATION_FAILED
    from app.results import admin_access
    from app.services import ModelLoader
    from app.ui import CACHE_EXPIRY, build_app, launch_options
    from ddpmss.audio import write_audio
    from tests.support.app import make_services
    from tests.support.reliability import free_port

    class Broken:
        def separate(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("The size of tensor a (24002) must match the size of tensor b (2500)")

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    services = make_services(tmp_path, loader=ModelLoader(lambda: Broken()), port=free_port())
    demo = build_app(services, admin_access(services))
    assert demo.delete_cache == CACHE_EXPIRY
    demo.queue().launch(prevent_thread_lock=True, quiet=True, **launch_options(services))
    try:
        mixture = tmp_path / "mix.wav"
        write_audio(mixture, speechlike[0] + speechlike[1], speechlike[2])
        with pytest.raises(Exception) as caught:
            Client(f"http://127.0.0.1:{services.settings.port}", verbose=False).predict(
                handle_file(str(mixture)), None, None, api_name="/separate"
            )
        assert str(caught.value).strip() == SEPARATION_FAILED and one_sentence(str(caught.value))
    finally:
        demo.close()
