"""The side-by-side lab without Gradio: checking uploads, one run of a mixture through the three pipelines
(players' files, spectrograms, metrics) and the quick ratings of its outputs.

Errors a user can fix are `AudioError`, `ModelError`, `StoreError` or `ValueError` with one sentence; the
tab (app/lab.py) shows that sentence, never a traceback.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soundfile as sf

from app import messages
from app.services import Services
from ddpmss.audio import AudioError, load_audio, resample, write_audio
from ddpmss.corpus.librimix import MixtureEntry, read_mixture_list
from ddpmss.metrics import score
from ddpmss.models import ModelError
from ddpmss.plots import spectrogram_png
from ddpmss.settings import EXAMPLES_DIR, PIPELINES
from listening_tests.settings import LabSettings
from listening_tests.storage import Rating, StoreError

PIPELINE_TITLES = {
    "sepformer": "SepFormer",
    "sepformer_diffwave": "SepFormer + DiffWave",
    "sepformer_diffwave_fusion": "SepFormer + DiffWave fusion",
}
TALKERS = 2
METRIC_COLUMNS = (
    ("si_sdr", "SI-SDR (dB)"),
    ("si_sdr_i", "SI-SDRi (dB)"),
    ("pesq_wb", "PESQ-WB (legacy)"),
    ("pesq_nb", "PESQ-NB (legacy)"),
    ("stoi", "STOI"),
    ("estoi", "ESTOI"),
    ("dnsmos_sig", "DNSMOS SIG"),
    ("dnsmos_bak", "DNSMOS BAK"),
    ("dnsmos_ovrl", "DNSMOS OVRL"),
)
REFERENCE_METRICS = tuple(key for key, _ in METRIC_COLUMNS if not key.startswith("dnsmos"))  # DNSMOS needs none
EXAMPLES_CSV = EXAMPLES_DIR / "examples.csv"
USER_ERRORS = (AudioError, ModelError, ValueError, StoreError)

STAGE_PROGRESS = {"sepformer": 0.2, "vocoder": 0.35, "fusion": 0.65}
Progress = Callable[..., object]


class Cancelled(Exception):
    """The run was cancelled (its tab pressed Cancel or closed)."""


class LabJobs:
    """One lab job per browser session at a time; cancelling a session's job makes its next `stop()` raise.

    Gradio's own cancel ends the waiting request at once, but not the worker thread running the models:
    the run checks its flag between stages and vocoder steps (a second at most with the published models).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, threading.Event] = {}

    def claim(self, session: str) -> threading.Event | None:
        """The new job's cancel flag, or None when the session already has a job."""
        with self._lock:
            if session in self._jobs:
                return None
            self._jobs[session] = threading.Event()
            return self._jobs[session]

    def flag(self, session: str) -> threading.Event:
        """The cancel flag of the session's job (a fresh one when none was claimed, e.g. a direct call)."""
        with self._lock:
            return self._jobs.setdefault(session, threading.Event())

    def cancel(self, session: str) -> None:
        """Stop the session's job at its next check and free the session for a new one."""
        with self._lock:
            flag = self._jobs.pop(session, None)
        if flag is not None:
            flag.set()

    def release(self, session: str, flag: threading.Event) -> None:
        """The job with this flag is over (a newer job of the session keeps its own)."""
        with self._lock:
            if self._jobs.get(session) is flag:
                del self._jobs[session]


def stopper(flag: threading.Event) -> Callable[[], None]:
    """A `stop` for `separate` that raises Cancelled once `flag` is set."""

    def stop() -> None:
        if flag.is_set():
            raise Cancelled

    return stop


@dataclass
class LabRun:
    """One separation: two files per pipeline (talker order matched to the references when given)."""

    run_id: str
    sample_rate: int
    files: dict[str, list[Path]]
    spectrograms: dict[str, list[Path]]
    metrics: dict[str, list[dict[str, Any]]]
    timings: dict[str, float]
    models: str
    details: dict[str, list[float]]
    with_references: bool = True
    inputs: dict[str, Path] = field(default_factory=dict)  # mixture, reference1, reference2: server paths, kept
    # for the run's zip (app/lab_export.py), never shown

    def output_files(self) -> list[str]:
        """The six WAV paths, pipeline by pipeline (talker 1, talker 2)."""
        return [str(p) for name in PIPELINES for p in self.files[name]]

    def summary(self) -> dict[str, Any]:
        """JSON-ready metrics, timings and file names (NaN becomes null); without references it names the
        metrics that need them."""
        summary = {
            "run_id": self.run_id,
            "models": self.models,
            "sample_rate": self.sample_rate,
            "timings_s": self.timings,
            "files": {name: [p.name for p in paths] for name, paths in self.files.items()},
            "metrics": self.metrics,
            "details": self.details,
        }
        if not self.with_references:
            summary["metrics_need_references"] = list(REFERENCE_METRICS)
            summary["note"] = messages.METRICS_NEED_REFERENCES
        return _json_ready(summary)

    def metrics_rows(self) -> list[list[Any]]:
        """One table row per (talker, pipeline) with the metric columns (blank where a metric is undefined)."""
        rows = []
        for talker in range(TALKERS):
            for name in PIPELINES:
                values = self.metrics[name][talker]
                rows.append(
                    [f"talker {talker + 1}", PIPELINE_TITLES[name]]
                    + [_rounded(values[key]) for key, _ in METRIC_COLUMNS]
                )
        return rows


def metrics_headers() -> list[str]:
    """Column names of `LabRun.metrics_rows`."""
    return ["talker", "pipeline"] + [title for _, title in METRIC_COLUMNS]


def examples(csv_path: Path = EXAMPLES_CSV) -> list[MixtureEntry]:
    """The example mixtures (LibriMix-format CSV); empty when the list is missing or unreadable."""
    try:
        return read_mixture_list(csv_path)
    except (OSError, ValueError):
        return []


def example_files(name: str, csv_path: Path = EXAMPLES_CSV) -> tuple[str, str | None, str | None]:
    """(mixture, reference 1, reference 2) paths of the example called `name`."""
    for entry in examples(csv_path):
        if entry.mixture_id == name:
            refs = [str(p) for p in entry.source_paths[:TALKERS]] + [None, None]
            return str(entry.mixture_path), refs[0], refs[1]
    raise ValueError(messages.no_example(name))


@dataclass(frozen=True)
class Upload:
    """What an accepted upload holds (from its header): the lab converts it to mono at the output rate."""

    channels: int
    sample_rate: int
    seconds: float


def limits(settings: LabSettings) -> dict[str, float]:
    """The lab's limits as `load_audio` keywords: length (LAB_MAX_SECONDS), minimum length and file size."""
    return {
        "max_seconds": settings.lab_max_seconds,
        "min_seconds": settings.min_seconds,
        "max_bytes": int(settings.max_upload_mb * 1e6),
    }


def check_upload(settings: LabSettings, path: str) -> Upload:
    """Refuse, with one sentence (AudioError), a file that is over the size or length limit (read from its
    header, before any decoding), empty, unreadable, too short or silent (decoded once, within the limit)."""
    load_audio(path, **limits(settings))
    info = sf.info(path)
    return Upload(info.channels, info.samplerate, info.frames / info.samplerate)


def conversion_line(settings: LabSettings, path: str) -> str:
    """The line under an upload saying how it is converted (AudioError when it is refused)."""
    upload = check_upload(settings, path)
    return messages.conversions(upload.channels, upload.sample_rate, upload.seconds, settings.output_sr)


def input_problems(
    settings: LabSettings, mixture: str | None, reference1: str | None, reference2: str | None
) -> list[str]:
    """One sentence per input (mixture, reference 1, reference 2) that stops a run, empty when it is fine."""
    paths = (mixture, reference1, reference2)
    problems = ["" if mixture else messages.NO_MIXTURE, "", ""]
    if bool(reference1) != bool(reference2):
        problems[1 if not reference1 else 2] = messages.BOTH_REFERENCES
    for index, path in enumerate(paths):
        if path and not problems[index]:
            try:
                check_upload(settings, path)
            except AudioError as exc:
                problems[index] = str(exc)
    return problems


def separate(
    services: Services,
    mixture: str | None,
    reference1: str | None = None,
    reference2: str | None = None,
    progress: Progress | None = None,
    with_dnsmos: bool = True,
    stop: Callable[[], None] = lambda: None,
) -> LabRun:
    """Run the three pipelines on an uploaded mixture; DNSMOS always, the other metrics when both references
    are given. `stop()` is called between stages and vocoder steps: it raises (Cancelled) to end the run there."""
    report = progress or (lambda *args, **kwargs: None)
    settings = services.settings
    if not mixture:
        raise ValueError(messages.NO_MIXTURE)
    if bool(reference1) != bool(reference2):
        raise ValueError(messages.BOTH_REFERENCES)
    report(0.0, desc=messages.READING_AUDIO)
    audio, sr = load_audio(mixture, **limits(settings))
    refs = [load_audio(p, target_sr=settings.output_sr, **limits(settings))[0] for p in (reference1, reference2) if p]
    report(0.1, desc=messages.LOADING_MODELS)
    separator = services.models.get()

    def stage(name: str) -> None:
        stop()
        report(STAGE_PROGRESS[name], desc=messages.STAGES[name])

    def step(source: int, k: int, steps: int) -> None:
        stop()
        done = ((source - 1) * steps + k - 1) / (TALKERS * steps)
        report(STAGE_PROGRESS["vocoder"] + done * 0.3, desc=messages.vocoder_step(source, k, steps))

    result = separator.separate(audio, sr, PIPELINES, on_stage=stage, on_step=step)
    stop()
    out_sr = result.sample_rate
    run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    folder = services.runtime_dir / "lab" / run_id
    estimates = result.aligned(refs) if refs else dict(result.outputs)
    metrics: dict[str, list[dict[str, Any]]] = {}
    report(0.7, desc=messages.SCORING if refs else messages.SCORING_DNSMOS)
    mix_out = resample(audio, sr, out_sr) if refs else None
    n = min(len(mix_out), *(len(r) for r in refs), *(e.shape[-1] for e in estimates.values())) if refs else None
    for name, est in estimates.items():
        metrics[name] = []
        for i in range(TALKERS):
            stop()  # between outputs: DNSMOS takes about a second each
            if refs:
                metrics[name].append(
                    score(est[i, :n], refs[i][:n], out_sr, mixture=mix_out[:n], with_dnsmos=with_dnsmos)
                )
            else:
                metrics[name].append(score(est[i], None, out_sr, with_dnsmos=with_dnsmos))
    stop()
    report(0.85, desc=messages.WRITING)
    files: dict[str, list[Path]] = {}
    spectrograms: dict[str, list[Path]] = {}
    for name, est in estimates.items():
        files[name], spectrograms[name] = [], []
        for i in range(TALKERS):
            stem = f"{name}_talker{i + 1}"
            write_audio(folder / f"{stem}.wav", est[i], out_sr)
            files[name].append(folder / f"{stem}.wav")
            title = f"{PIPELINE_TITLES[name]}, talker {i + 1}"
            spectrograms[name].append(spectrogram_png(est[i], out_sr, folder / f"{stem}.png", title))
    report(1.0, desc=messages.DONE)
    timings = {k: round(v, 3) for k, v in result.timings.items()}
    models = result.models.names()
    given = {"mixture": mixture, "reference1": reference1, "reference2": reference2}
    inputs = {role: Path(path) for role, path in given.items() if path}
    return LabRun(run_id, out_sr, files, spectrograms, metrics, timings, models, result.details, bool(refs), inputs)


def rate_output(services: Services, run_id: str, pipeline: str, talker: int, value: int | None) -> Rating | None:
    """Store the quick 1-5 rating of one lab output under the protocol `demo` (a repeated click is a no-op)."""
    if value is None or not run_id:
        return None
    if pipeline not in PIPELINES or not 1 <= talker <= TALKERS:
        raise ValueError(messages.NO_OUTPUT)
    return services.store.save_demo_rating(
        run_id=run_id,
        item_id=f"lab-{run_id}_s{talker}",
        condition=pipeline,
        score=value,
        submission_key=f"demo.{run_id}.{PIPELINES.index(pipeline)}.{talker}.{value}",  # a changed score is refused
    )


def _rounded(value: object) -> float | None:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return round(float(value), 2) if isinstance(value, (int, float)) else None


def _json_ready(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return value
