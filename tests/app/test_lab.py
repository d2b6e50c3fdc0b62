"""Side-by-side lab callbacks without a browser: separation, metrics, spectrograms, errors, examples."""

from __future__ import annotations

import csv
import io
import json
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app import lab_export, lab_history, lab_jobs, lab_run
from app.services import ModelLoader
from ddpmss.audio import AudioError
from ddpmss.settings import PIPELINES
from listening_tests.storage import RatingError
from tests.support.app import ABSOLUTE_PATH, make_services, read_outputs, recompute_metrics


@pytest.fixture()
def services(tmp_path: Path, tiny_separator):
    return make_services(tmp_path, loader=ModelLoader(lambda: tiny_separator))


def test_examples_are_listed_with_their_references() -> None:
    names = [e.mixture_id for e in lab_run.examples()]
    assert names, "examples/examples.csv lists no mixtures"
    mixture, ref1, ref2 = lab_run.example_files(names[0])
    assert all(Path(p).is_file() for p in (mixture, ref1, ref2))
    with pytest.raises(ValueError, match="no example called"):
        lab_run.example_files("nope")


def test_separate_with_references_gives_six_outputs_spectrograms_and_metrics(services) -> None:
    mixture, ref1, ref2 = lab_run.example_files(lab_run.examples()[0].mixture_id)
    stages = []
    run = lab_run.separate(services, mixture, ref1, ref2, lambda f, desc="": stages.append(desc), with_dnsmos=False)
    outputs = read_outputs(run.output_files(), mixture, services.settings.output_sr)
    assert all(p.is_file() and p.read_bytes()[:4] == b"\x89PNG" for ps in run.spectrograms.values() for p in ps)
    expected = recompute_metrics(outputs, mixture, [ref1, ref2], services.settings.output_sr)
    for name in PIPELINES:  # the reported metrics are those of the files written, against the right reference
        for talker in range(lab_run.TALKERS):
            for key in ("si_sdr", "si_sdr_i"):
                assert run.metrics[name][talker][key] == pytest.approx(expected[name][talker][key], abs=0.02)
    rows = run.metrics_rows()
    assert [row[:2] for row in rows] == [[f"talker {t}", lab_run.PIPELINE_TITLES[n]] for t in (1, 2) for n in PIPELINES]
    assert [row[2:4] for row in rows] == [
        pytest.approx([expected[n][t - 1]["si_sdr"], expected[n][t - 1]["si_sdr_i"]], abs=0.02)
        for t in (1, 2)
        for n in PIPELINES
    ]
    summary = json.loads(json.dumps(run.summary(), allow_nan=False))  # JSON-ready: NaN became null
    assert [summary["metrics"][n][t]["si_sdr"] for n in PIPELINES for t in (0, 1)] == pytest.approx(
        [expected[n][t]["si_sdr"] for n in PIPELINES for t in (0, 1)], abs=0.02
    )
    assert summary["files"] == {n: [f"{n}_talker1.wav", f"{n}_talker2.wav"] for n in PIPELINES}
    assert summary["timings_s"]["sepformer"] > 0
    assert "Loading the models" in stages and "Scoring against the references" in stages
    check_zip(run, mixture, [ref1, ref2])
    check_kept(services, run)


def check_kept(services, run: lab_run.LabRun) -> None:
    """A saved run comes back as it was shown (its zip included); a bad id or a lost file gives nothing."""
    lab_history.save_run(run)
    back = lab_history.load_run(services.runtime_dir, run.run_id)
    assert back is not None and back.complete and back.summary() == run.summary()
    assert back.metrics_rows() == run.metrics_rows() and back.mixture_name == run.mixture_name
    assert lab_export.write_zip(back) == lab_export.write_zip(run)
    assert not ABSOLUTE_PATH.search((back.files[PIPELINES[0]][0].parent / lab_history.STATE).read_text())
    for bad in ("../" + run.run_id, "x", None):
        assert lab_history.load_run(services.runtime_dir, bad) is None
    back.spectrograms[PIPELINES[-1]][1].unlink()
    assert lab_history.load_run(services.runtime_dir, run.run_id) is None


def test_only_the_newest_runs_stay_on_disk(tmp_path: Path) -> None:
    names = ["20261206-230000-aaaaaa", "20261206-230001-bbbbbb", "20261206-230002-cccccc"]
    for name in (*names, "not-a-run"):
        (tmp_path / "lab" / name).mkdir(parents=True)
    assert lab_history.prune_runs(tmp_path, keep=2) == 1
    assert sorted(p.name for p in (tmp_path / "lab").iterdir()) == [*names[1:], "not-a-run"]
    assert lab_history.prune_runs(tmp_path, keep=2) == 0 and lab_history.prune_runs(tmp_path / "none", 1) == 0


@pytest.mark.slow  # DNSMOS of six outputs
def test_a_live_run_shows_each_pipeline_as_soon_as_it_is_done(services) -> None:
    mixture = lab_run.examples()[0].mixture_path
    stages: list[str] = []
    snapshots = []
    for run in lab_run.run_live(services, str(mixture), progress=lambda f, desc="": stages.append(desc)):
        snapshots.append((len(stages), run))
    first_players = [sorted({name for name, _ in run.players()}) for _, run in snapshots]
    assert first_players[0] == ["sepformer"]  # SepFormer's players before the vocoder's first step
    assert "DiffWave re-synthesis, talker 1: step 1 of 6" in stages[snapshots[0][0] :]
    assert first_players[-1] == sorted(PIPELINES)
    assert [run.complete for _, run in snapshots] == [False] * (len(snapshots) - 1) + [True]
    scored = [set(run.metrics) for _, run in snapshots]
    assert all(a <= b for a, b in zip(scored, scored[1:], strict=False)) and scored[-1] == set(PIPELINES)
    assert all(set(run.metrics) <= set(run.files) for _, run in snapshots)  # scored only once written
    final = snapshots[-1][1]
    assert all(1.0 <= final.metrics[n][t]["dnsmos_ovrl"] <= 5.0 for n in PIPELINES for t in (0, 1))
    assert {"sepformer", "vocoder", "fusion", "files", "metrics", "total"} <= set(final.timings)
    assert final.timings["total"] >= final.timings["sepformer"] + final.timings["vocoder"]
    assert final.seconds == pytest.approx(3.0, abs=0.01)


def check_zip(run: lab_run.LabRun, mixture: str, references: list[str]) -> None:
    """The run's zip holds the six WAVs and their spectrograms as written, the inputs as given, metrics.csv
    with the run's metrics and run.json with model names and versions, and no server path."""
    stem = f"lab-{run.run_id}"
    with zipfile.ZipFile(lab_export.write_zip(run)) as archive:
        names = set(archive.namelist())
        outputs = [Path(p) for p in run.output_files()] + [p for ps in run.spectrograms.values() for p in ps]
        assert names == {f"{stem}/{p.name}" for p in outputs} | {
            f"{stem}/input/mixture.wav",
            f"{stem}/input/reference1.wav",
            f"{stem}/input/reference2.wav",
            f"{stem}/metrics.csv",
            f"{stem}/run.json",
        }
        assert all(archive.read(f"{stem}/{p.name}") == p.read_bytes() for p in outputs)
        given = zip(("mixture", "reference1", "reference2"), [mixture, *references], strict=True)
        assert all(archive.read(f"{stem}/input/{role}.wav") == Path(p).read_bytes() for role, p in given)
        rows = list(csv.DictReader(io.StringIO(archive.read(f"{stem}/metrics.csv").decode())))
        assert [(r["pipeline"], r["talker"]) for r in rows] == [(n, t) for n in PIPELINES for t in ("1", "2")]
        for row in rows:
            expected = run.metrics[row["pipeline"]][int(row["talker"]) - 1]["si_sdr"]
            assert float(row["si_sdr"]) == pytest.approx(expected, abs=1e-4)
        text = archive.read(f"{stem}/run.json").decode()
    saved = json.loads(text)
    assert saved["models"] == run.models and saved["models"].startswith("SepFormer: local checkpoint ")
    assert saved["versions"]["speechbrain"] == "1.1.2" and saved["versions"]["torch"].startswith("2.")
    assert {role for role, digest in saved["model_sha256"].items() if re.fullmatch("[0-9a-f]{64}", digest)} >= {
        "sepformer",
        "vocoder",
    }
    assert saved["inputs"]["mixture"] == {"file": "input/mixture.wav", "uploaded_as": Path(mixture).name}
    assert not ABSOLUTE_PATH.search(text)


@pytest.mark.slow
def test_separate_without_references_gives_dnsmos_and_names_the_other_metrics(
    services, tmp_path: Path, speechlike
) -> None:
    a, b, sr = speechlike
    path = tmp_path / "mix.flac"
    sf.write(path, a + b, sr)
    run = lab_run.separate(services, str(path))
    read_outputs(run.output_files(), path, services.settings.output_sr)
    summary = json.loads(json.dumps(run.summary(), allow_nan=False))
    for name in PIPELINES:
        for talker in range(lab_run.TALKERS):
            values = summary["metrics"][name][talker]
            assert all(1.0 <= values[key] <= 5.0 for key in ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")), values
            assert all(values[key] is None for key in lab_run.REFERENCE_METRICS)
    assert summary["metrics_need_references"] == ["si_sdr", "si_sdr_i", "pesq_wb", "pesq_nb", "stoi", "estoi"]
    assert "need both references" in summary["note"]
    rows = run.metrics_rows()
    assert len(rows) == 6 and all(row[-1] is not None and row[2] is None for row in rows)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"this is not audio at all" * 10, "not a readable audio file"),
    ],
)
def test_bad_uploads_are_refused_with_one_sentence(services, tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "upload.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=message):
        lab_run.separate(services, str(path))


def test_upload_size_limit_is_checked_before_decoding(services, tmp_path: Path) -> None:
    services.settings.max_upload_mb = 0.01
    path = tmp_path / "big.wav"
    sf.write(path, np.zeros(16000, np.float32) + 0.1, 16000)
    with pytest.raises(AudioError, match="upload limit"):
        lab_run.separate(services, str(path))


def test_uploads_are_checked_at_once_against_the_lab_limits(services, tmp_path: Path, speechlike) -> None:
    a, b, sr = speechlike
    assert services.settings.lab_max_seconds == 30.0  # the default
    long = tmp_path / "five_minutes.wav"
    sf.write(long, np.tile(a + b, 200), sr)  # 5 minutes
    started = time.perf_counter()
    with pytest.raises(AudioError, match=r"lasts 300.0 s, longer than the 30 s limit"):
        lab_run.check_upload(services.settings, str(long))
    assert time.perf_counter() - started < 0.5  # from the header, not decoded
    silent, empty, text = tmp_path / "silent.wav", tmp_path / "empty.wav", tmp_path / "text.wav"
    sf.write(silent, np.zeros(sr, np.float32), sr)
    empty.write_bytes(b"")
    text.write_text("not audio " * 20)
    problems = lab_run.input_problems(services.settings, str(silent), str(empty), str(text))
    assert [p.split("' ")[-1] for p in problems] == [
        "contains no sound (it is silent or a constant level).",
        "is empty (0 bytes).",
        "is not a readable audio file (use WAV, FLAC, OGG or MP3).",
    ]
    good = tmp_path / "good.wav"
    sf.write(good, a + b, sr)
    assert lab_run.input_problems(services.settings, None, str(good), None) == [
        "Upload or record a mixture first, or pick an example.",
        "",
        "Give both reference sources, or neither.",
    ]
    assert lab_run.input_problems(services.settings, str(good), None, None) == ["", "", ""]


def test_the_conversion_line_states_channels_and_rate(services, tmp_path: Path, speechlike) -> None:
    a, b, sr = speechlike
    wide = tmp_path / "wide.wav"
    mono = np.interp(np.arange(6 * len(a)) / 6, np.arange(len(a)), a + b).astype(np.float32)  # 96 kHz
    sf.write(wide, np.stack([mono] * 6, axis=1), 96000, subtype="FLOAT")
    assert lab_run.conversion_line(services.settings, str(wide)) == (
        "1.5 s: 6 channels mixed down to mono and 96000 Hz resampled to 16000 Hz."
    )
    plain = tmp_path / "plain.wav"
    sf.write(plain, a + b, sr)
    assert lab_run.conversion_line(services.settings, str(plain)) == "1.5 s, mono at 16000 Hz: used as it is."


def test_a_cancelled_run_stops_at_the_next_vocoder_step(services, tmp_path: Path, speechlike) -> None:
    a, b, sr = speechlike
    path = tmp_path / "mix.wav"
    sf.write(path, a + b, sr)
    jobs = lab_jobs.LabJobs()
    flag = jobs.claim("tab")
    assert flag is not None and jobs.claim("tab") is None  # one job per browser session
    seen: list[str] = []
    cancelled_at: list[float] = []

    def progress(fraction: float, desc: str = "") -> None:
        seen.append(desc)
        if desc == "DiffWave re-synthesis, talker 1: step 2 of 6":
            jobs.cancel("tab")  # as the Cancel button (or closing the tab) does, from another thread
            cancelled_at.append(time.perf_counter())

    with pytest.raises(lab_jobs.Cancelled):
        lab_run.separate(services, str(path), progress=progress, with_dnsmos=False, stop=lab_jobs.stopper(flag))
    assert time.perf_counter() - cancelled_at[0] < 1.0
    assert seen[-1] == "DiffWave re-synthesis, talker 1: step 2 of 6"  # no further step, stage or file
    assert "SepFormer: separating the two talkers" in seen
    lab = services.runtime_dir / "lab"  # SepFormer's files were written before the cancel: removed with their run
    assert not lab.exists() or not any(lab.iterdir())
    assert jobs.claim("tab") is not None  # the session may start a new job at once


def test_missing_inputs_are_explained(services) -> None:
    mixture, ref1, _ = lab_run.example_files(lab_run.examples()[0].mixture_id)
    with pytest.raises(ValueError, match="Upload or record a mixture"):
        lab_run.separate(services, None)
    with pytest.raises(ValueError, match="both reference sources"):
        lab_run.separate(services, mixture, ref1, None)


def test_model_loading_errors_reach_the_user_without_server_paths(tmp_path: Path, capfd) -> None:
    from ddpmss.models import ModelError

    def broken() -> None:
        raise ModelError(f"The models folder '{tmp_path}/x' must hold sepformer/ and diffwave/.")

    services = make_services(tmp_path, loader=ModelLoader(broken))
    mixture = lab_run.example_files(lab_run.examples()[0].mixture_id)[0]
    with pytest.raises(ModelError) as caught:
        lab_run.separate(services, mixture)
    assert str(caught.value) == "The models could not be loaded on the server; its log says why."
    assert services.models.status() == "Models: not available (the server's log says why)."
    assert f"models: not available: The models folder '{tmp_path}/x' must hold" in capfd.readouterr().err


def test_model_names_never_hold_a_server_path(tiny_models: Path) -> None:
    from ddpmss.models import OFFLINE_NOTE, ModelSources, resolve_sources
    from ddpmss.settings import HUB_DIFFWAVE, HUB_SEPFORMER, Settings

    offline = resolve_sources(Settings(models="offline")).names()
    assert offline.startswith("SepFormer: ddpmss/pretrained/sepformer (offline model of this project); DiffWave: ")
    assert offline.endswith(OFFLINE_NOTE) and "not the published checkpoints" in OFFLINE_NOTE
    local = resolve_sources(Settings(models=str(tiny_models))).names()
    assert local == (
        f"SepFormer: local checkpoint {tiny_models.name}/sepformer; DiffWave: local checkpoint "
        f"{tiny_models.name}/diffwave; fusion: local checkpoint {tiny_models.name}/fusion"
    )
    hub = ModelSources(HUB_SEPFORMER, HUB_DIFFWAVE, None, offline=False).names()
    assert hub == (
        "SepFormer: speechbrain/sepformer-wsj02mix (published checkpoint); DiffWave: "
        "speechbrain/tts-diffwave-ljspeech (published checkpoint); fusion: none (identity on SepFormer)"
    )
    assert not ABSOLUTE_PATH.search(offline + local + hub)
    assert ABSOLUTE_PATH.search(resolve_sources(Settings(models=str(tiny_models))).describe())  # the check bites


def test_quick_ratings_are_stored_once_under_the_demo_protocol(services) -> None:
    assert lab_run.rate_output(services, "run1", "sepformer", 1, None) is None  # cleared: nothing stored
    first = lab_run.rate_output(services, "run1", "sepformer", 1, 4)
    again = lab_run.rate_output(services, "run1", "sepformer", 1, 4)  # a double click
    assert first.id == again.id
    with pytest.raises(RatingError, match="already been rated"):  # a changed score is refused, not dropped
        lab_run.rate_output(services, "run1", "sepformer", 1, 2)
    lab_run.rate_output(services, "run1", "sepformer_diffwave", 2, 5)
    records = [r for r in services.store.list_ratings() if r.protocol == "demo"]
    assert [(r.item_id, r.condition, r.score) for r in records] == [
        ("lab-run1_s1", "sepformer", 4),
        ("lab-run1_s2", "sepformer_diffwave", 5),
    ]
    assert len({r.session_id for r in records}) == 1
    with pytest.raises(ValueError, match="does not exist"):
        lab_run.rate_output(services, "run1", "other", 1, 3)


def test_run_times_give_the_estimate() -> None:
    times = lab_jobs.RunTimes(keep=3)
    assert times.estimate(4.0) == (None, 0)
    for total in (10.0, 30.0, 2.0, 6.0):  # per 2 s of mixture; the first falls out of the last three
        times.record(2.0, total)
    times.record(0.0, 5.0)  # an unknown length is not kept
    assert times.estimate(4.0) == (pytest.approx(12.0), 3)  # median rate 3 s per second of mixture


def test_the_status_line_names_pipelines_ready_and_scored_then_the_times() -> None:
    run = lab_run.LabRun("r", 16000, {}, {}, {}, {}, "m", {}, seconds=4.0, elapsed=2.25)
    run.files = {"sepformer": [], "sepformer_diffwave": []}
    run.metrics = {"sepformer": []}
    assert lab_run.status_lines(run) == "After 2.2 s: SepFormer ready and scored; SepFormer + DiffWave ready, scoring."
    run.timings = {"sepformer": 0.5, "vocoder": 3.0, "fusion": 0.25, "files": 0.3, "metrics": 4.0, "total": 5.5}
    run.complete = True
    assert lab_run.status_lines(run) == (
        "Done in 5.5 s: SepFormer 0.5 s, DiffWave 3.0 s, fusion 0.2 s, files 0.3 s; metrics 4.0 s beside them."
    )


@pytest.mark.slow  # DNSMOS of six outputs
def test_the_lab_bench_times_players_before_the_complete_run(services, tmp_path: Path) -> None:
    from app import bench

    mixture = bench.example_mixture(tmp_path)
    assert sf.info(mixture).duration == pytest.approx(4.0)
    timed = bench.time_run(services, mixture)
    assert 0 < timed["sepformer_players_s"] <= timed["all_players_s"] <= timed["complete_s"]
    assert timed["stage_total_s"] <= timed["complete_s"] + 5e-4  # stage times are rounded to the millisecond
    assert timed["stage_vocoder_s"] > 0
    assert bench.cpu_model()


def test_the_models_leave_a_core_to_the_lab_metrics() -> None:
    from app.services import model_threads
    from listening_tests.settings import LabSettings

    assert [model_threads(LabSettings(threads=0), cores=n) for n in (1, 2, 16)] == [1, 1, 15]
    assert model_threads(LabSettings(threads=2), cores=2) == 2  # DDPMSS_THREADS decides when set
