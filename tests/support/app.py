"""Helpers for the app tests: a small hand-made stimulus set, a study over it, and the app's Services around both."""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

from app import steps
from app.playback import ListenLog
from app.services import ModelLoader, Services, open_services
from app.steps import Visit
from ddpmss.audio import load_audio, write_audio
from ddpmss.metrics import si_sdr, si_sdr_improvement
from ddpmss.settings import PIPELINES
from listening_tests.settings import LabSettings
from listening_tests.stimuli import MANIFEST_COLUMNS, TRIALS_COLUMNS

SR = 16000
CONDITIONS = ("reference", "mixture", "anchor_lp3500", "anchor_lp7000", "sepformer", "sepformer_diffwave")
QUALITY = {
    "reference": 5.0,
    "mixture": 1.5,
    "anchor_lp3500": 2.0,
    "anchor_lp7000": 3.0,
    "sepformer": 4.0,
    "sepformer_diffwave": 3.5,
}
CONTROLS = (("trap_2", "trap", 2, 0), ("gold_excellent", "gold", 5, 1))
ABSOLUTE_PATH = re.compile(r"(^|[\s'\"(=:])/[\w.-]+/")  # a POSIX absolute path in a text the app returns
COPY_DB = 40.0  # SI-SDR of a signal against a 16-bit copy of itself is far above this; distinct signals far below


def make_stimuli(folder: Path, n_items: int = 4, duration_s: float = 0.5) -> Path:
    """WAVs, manifest.csv and trials.csv of a tiny stimulus set; returns the manifest path."""
    rng = np.random.default_rng(0)
    t = np.arange(int(duration_s * SR)) / SR
    rows, trials = [], []
    items = [f"mix{i // 2}_s{i % 2 + 1}" for i in range(n_items)]
    for k, item in enumerate(items):
        for condition in (*CONDITIONS, *(c[0] for c in CONTROLS if k == 0)):
            audio = 0.1 * np.sin(2 * np.pi * (150 + 20 * k) * t) + 0.01 * rng.standard_normal(len(t))
            rel = f"wav/{item}/{condition}.wav"
            write_audio(folder / rel, audio.astype(np.float32), SR)
            quality = QUALITY.get(condition)
            rows.append(
                {
                    "item_id": item,
                    "condition": condition,
                    "path": rel,
                    "sha256": "",
                    "duration_s": f"{duration_s:.4f}",
                    "sample_rate": SR,
                    "loudness_lufs": "-26.00",
                    "gain_db": "0.00",
                    "si_sdr": "" if quality is None or condition == "reference" else f"{quality * 4:.4f}",
                    "stoi": "" if quality is None or condition == "reference" else f"{quality / 5:.4f}",
                }
            )
    for item, (condition, kind, expected, tolerance) in ((items[0], c) for c in CONTROLS):
        trials.append(
            {
                "item_id": item,
                "condition": condition,
                "kind": kind,
                "scale": "ovrl",
                "expected_score": expected,
                "tolerance": tolerance,
            }
        )
    _write(folder / "manifest.csv", MANIFEST_COLUMNS, rows)
    _write(folder / "trials.csv", TRIALS_COLUMNS, trials)
    return folder / "manifest.csv"


def write_study(folder: Path, manifest: Path, protocol: str = "acr", **fields: object) -> Path:
    """A study YAML over `manifest`; returns its path."""
    conditions = list(CONDITIONS) if protocol == "mushra" else ["reference", "mixture", "sepformer"]
    study = {
        "id": f"app-{protocol}",
        "title": f"App test ({protocol})",
        "protocol": protocol,
        "stimuli": {"manifest": str(manifest)},
        "conditions": conditions,
        "items_per_session": 2 if protocol == "mushra" else 4,
        "votes_per_stimulus": 5,
        "trapping": 0 if protocol == "mushra" else 1,
        "gold": 0 if protocol == "mushra" else 1,
        "training_items": 1,
        "completion_code_prefix": "APP",
        **fields,
    }
    path = folder / f"study-{protocol}.yaml"
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    return path


class Clock:
    """A hand-driven clock for the ListenLog."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_services(
    tmp_path: Path,
    protocol: str = "acr",
    loader: ModelLoader | None = None,
    clock: Clock | None = None,
    **settings: object,
) -> Services:
    """Services over a fresh stimulus set, study and SQLite store in `tmp_path` (listening timed by `clock`)."""
    manifest = make_stimuli(tmp_path / "stimuli")
    study = write_study(tmp_path, manifest, protocol, **settings.pop("study_fields", {}))
    values = {"study": study, "data_dir": tmp_path / "data", "device": "cpu", **settings}
    services = open_services(LabSettings(**values), tmp_path / "runtime", loader or ModelLoader(_no_models))
    if clock is not None:
        services.listens = ListenLog(clock)
    return services


def listen(services: Services, visit: Visit, clock: Clock, slot: int = 0, seconds: float | None = None) -> bool:
    """Play clip `slot` of the page on screen to its end; returns whether its controls open.

    By default the end arrives 0.05 s after the clip's duration, as browsers report it (start-up latency).
    """
    steps.played(services, visit, slot)
    clock.now += visit.page.clips[slot].duration_s + 0.05 if seconds is None else seconds
    steps.paused(services, visit, slot)  # browsers send pause, then ended
    return steps.ended(services, visit, slot)


def expected_answer(services: Services, visit: Visit, other: int = 4) -> int:
    """The right answer for the ACR clip on screen: the trap/gold expectation, else alternating `other` and 2."""
    clip = visit.page.clips[0]
    for key, trial in services.stimuli.trials.items():
        if services.stimuli.stimuli[key].path == clip.path:
            return int(trial.expected_score)
    return other if visit.page.index % 2 else 2


def start(services: Services, query: dict | None = None) -> tuple[Visit, dict]:
    """Open a tab, read the introduction and consent; returns the visit and the browser-storage value."""
    visit, view, stored = steps.open_visit(services, None, query or {})
    assert view.stage == "intro"
    visit, view = steps.introduced(services, visit)
    assert view.stage == "consent"
    visit, view, stored = steps.consent(services, visit)
    assert view.stage == "instructions" and stored["rater_id"] == visit.rater_id
    return visit, stored


def run_training(services: Services, visit: Visit, clock: Clock) -> steps.View:
    """Go through the training pages, playing every clip (training cannot be skipped); returns the first rating
    page's view."""
    visit, view = steps.begin(services, visit)
    while view.stage == "page" and view.training:
        assert not view.clips[0].enabled  # rating opens only after listening, in training too
        for slot in range(len(view.clips)):
            listen(services, visit, clock, slot)
        visit, view = steps.submit(services, visit, [3], [])
    return view


def finish_acr_session(
    services: Services, clock: Clock, other: int = 4, submitted: list[tuple[str, int]] | None = None
) -> steps.View:
    """One rater's whole ACR session, answering trap and gold clips correctly; returns the final view.

    Every (condition, score) submitted is appended to `submitted` when it is given.
    """
    visit, _ = start(services)
    view = run_training(services, visit, clock)
    while view.stage == "page":
        listen(services, visit, clock)
        answer = expected_answer(services, visit, other)
        if submitted is not None:
            clip = visit.page.clips[0].path
            submitted.append((next(s.condition for s in services.stimuli.stimuli.values() if s.path == clip), answer))
        visit, view = steps.submit(services, visit, [answer], [])
    return view


def _no_models() -> None:
    raise RuntimeError("no models in this test")


def _write(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), restval="")
        writer.writeheader()
        writer.writerows(rows)


def read_outputs(files: Sequence[str | Path], mixture: str | Path, sr: int = SR) -> dict[str, list[np.ndarray]]:
    """The lab's six output files, pipeline by pipeline, checked to be real separations of `mixture`.

    Each is a WAV at `sr` as long as the mixture (within 10 ms) and is not a copy of the mixture; the two
    talkers of a pipeline differ, and the vocoder's re-synthesis differs from SepFormer's output. (The
    fusion is not compared with SepFormer: its last layer starts at zero, so a random-weight fusion model
    passes SepFormer's estimate through by design.)
    """
    assert len(files) == 2 * len(PIPELINES)
    mix, _ = load_audio(mixture, target_sr=sr)
    outputs: dict[str, list[np.ndarray]] = {}
    for index, path in enumerate(files):
        assert sf.info(path).samplerate == sr and sf.info(path).format == "WAV", path
        audio, _ = sf.read(path, dtype="float32")
        assert abs(len(audio) - len(mix)) <= sr // 100, (path, len(audio), len(mix))
        assert similarity_db(audio, mix) < COPY_DB, f"{path} is a copy of the mixture"
        outputs.setdefault(PIPELINES[index // 2], []).append(audio)
    for name, (first, second) in outputs.items():
        assert similarity_db(first, second) < COPY_DB, f"{name}: both talkers are the same signal"
    for talker in range(2):
        vocoded, sepformer = outputs["sepformer_diffwave"][talker], outputs["sepformer"][talker]
        assert similarity_db(vocoded, sepformer) < COPY_DB
    return outputs


def recompute_metrics(
    outputs: dict[str, list[np.ndarray]], mixture: str | Path, references: Sequence[str | Path], sr: int = SR
) -> dict[str, list[dict[str, float]]]:
    """SI-SDR and SI-SDRi of every output against its reference, from the written files (ddpmss.metrics)."""
    mix, _ = load_audio(mixture, target_sr=sr)
    refs = [load_audio(path, target_sr=sr)[0] for path in references]
    found: dict[str, list[dict[str, float]]] = {}
    for name, talkers in outputs.items():
        found[name] = []
        for audio, ref in zip(talkers, refs, strict=True):
            n = min(len(audio), len(ref), len(mix))
            found[name].append(
                {"si_sdr": si_sdr(audio[:n], ref[:n]), "si_sdr_i": si_sdr_improvement(audio[:n], ref[:n], mix[:n])}
            )
    return found


def similarity_db(a: np.ndarray, b: np.ndarray) -> float:
    """SI-SDR of `a` against `b` over their common length: above COPY_DB they are the same signal."""
    n = min(len(a), len(b))
    return si_sdr(a[:n], b[:n])
