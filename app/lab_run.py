"""The side-by-side lab without Gradio: checking uploads, one run of a mixture through the three pipelines
(players' files, spectrograms, metrics) and the quick ratings of its outputs.

Errors a user can fix are `AudioError`, `ModelError`, `StoreError` or `ValueError` with one sentence; the
tab (app/lab.py) shows that sentence, never a traceback.
"""

from __future__ import annotations

import math
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from app import messages
from app.lab_jobs import Cancelled
from app.services import Services
from ddpmss.audio import AudioError, load_audio, resample, write_audio
from ddpmss.corpus.librimix import MixtureEntry, read_mixture_list
from ddpmss.metrics import score, single_thread_dnsmos
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

STAGE_PROGRESS = {"sepformer": 0.15, "vocoder": 0.3, "fusion": 0.8}
Progress = Callable[..., object]


@dataclass
class LabRun:
    """One separation: two files per pipeline (talker order matched to the references when given), filled
    pipeline by pipeline while it runs (`complete` once every file and metric is in)."""

    run_id: str
    sample_rate: int
    files: dict[str, list[Path]]
    spectrograms: dict[str, list[Path]]
    metrics: dict[str, list[dict[str, Any]]]
    timings: dict[str, float]
    models: str
    details: dict[str, list[float]]
    model_checksums: dict[str, str | None] = field(default_factory=dict)  # SHA-256 per model's files
    with_references: bool = True
    inputs: dict[str, Path] = field(default_factory=dict)  # mixture, reference1, reference2: server paths, kept
    # for the run's zip (app/lab_export.py), never shown
    seconds: float = 0.0  # the mixture's length
    mixture_name: str = ""  # the upload's file name, for the list of earlier runs
    elapsed: float = 0.0  # seconds since the run started, when this snapshot was taken
    complete: bool = False

    def snapshot(self) -> "LabRun":
        """A copy of the run as it is now (later stages fill the original, not the copy)."""
        return replace(
            self,
            files=dict(self.files),
            spectrograms=dict(self.spectrograms),
            metrics=dict(self.metrics),
            timings=dict(self.timings),
            details=dict(self.details),
        )

    def output_files(self) -> list[str]:
        """The six WAV paths, pipeline by pipeline (talker 1, talker 2)."""
        return [str(p) for name in PIPELINES for p in self.files[name]]

    def players(self) -> dict[tuple[str, int], tuple[Path, Path]]:
        """(WAV, spectrogram) per (pipeline, talker 1 or 2) of the pipelines done so far."""
        return {
            (name, talker + 1): (self.files[name][talker], self.spectrograms[name][talker])
            for name in PIPELINES
            if name in self.files
            for talker in range(TALKERS)
        }

    def summary(self) -> dict[str, Any]:
        """JSON-ready metrics, timings and file names (NaN becomes null); without references it names the
        metrics that need them."""
        summary = {
            "run_id": self.run_id,
            "models": self.models,
            "model_sha256": self.model_checksums,
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
        """One table row per (talker, pipeline) scored so far with the metric columns (blank where a metric is
        undefined)."""
        rows = []
        for talker in range(TALKERS):
            for name in (name for name in PIPELINES if name in self.metrics):
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


def upload_seconds(path: str | None) -> float | None:
    """An upload's length from its header (None when it cannot be read: the validator says why)."""
    try:
        return sf.info(path).duration if path else None
    except (OSError, RuntimeError):  # soundfile's LibsndfileError is a RuntimeError
        return None


def status_lines(run: LabRun) -> str:
    """The line under Separate for a run so far: pipelines ready and scored, or the finished run's times."""
    if run.complete:
        names = (("SepFormer", "sepformer"), ("DiffWave", "vocoder"), ("fusion", "fusion"), ("files", "files"))
        stages = [(title, run.timings[key]) for title, key in names if key in run.timings]
        return messages.lab_done(run.timings["total"], stages, run.timings.get("metrics", 0.0))
    ready = [PIPELINE_TITLES[name] for name in PIPELINES if name in run.files]
    scored = [PIPELINE_TITLES[name] for name in PIPELINES if name in run.metrics]
    return messages.lab_ready(ready, scored, run.elapsed)


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
    """Run the three pipelines on an uploaded mixture (`run_live` to its end): the complete run."""
    *_, run = run_live(services, mixture, reference1, reference2, progress, with_dnsmos, stop)
    return run


def run_live(
    services: Services,
    mixture: str | None,
    reference1: str | None = None,
    reference2: str | None = None,
    progress: Progress | None = None,
    with_dnsmos: bool = True,
    stop: Callable[[], None] = lambda: None,
) -> Iterator[LabRun]:
    """Run the three pipelines on an uploaded mixture, yielding the run so far each time a pipeline's files
    and spectrograms, or its metrics, are ready; the last one yielded is `complete`.

    DNSMOS always, the other metrics when both references are given. Outputs are scored in worker threads
    (`Scoring`) while the next stage runs. `stop()` is called between stages, vocoder steps
    and scored outputs: it raises (Cancelled) to end the run there; a run that does not complete leaves
    no folder behind."""
    started = time.perf_counter()
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
    given = {"mixture": mixture, "reference1": reference1, "reference2": reference2}
    run = LabRun(
        run_id=f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}",
        sample_rate=settings.output_sr,
        files={},
        spectrograms={},
        metrics={},
        timings={},
        models=separator.models.names(),
        details={},
        model_checksums=separator.checksums,
        with_references=bool(refs),
        inputs={role: Path(path) for role, path in given.items() if path},
        seconds=len(audio) / sr,
        mixture_name=Path(mixture).name,
    )
    folder = services.runtime_dir / "lab" / run.run_id
    scoring = Scoring(audio, sr, refs, with_dnsmos, stop)
    pending: dict[str, list[Future]] = {}

    def snapshot() -> LabRun:
        run.elapsed = time.perf_counter() - started
        return run.snapshot()

    try:
        order = None
        for name, result in separator.staged(audio, sr, PIPELINES, **_progress_callbacks(report, stop)):
            stop()
            order = order or (result.talker_order(refs) if refs else list(range(TALKERS)))
            estimates = result.outputs[name][order]
            written = time.perf_counter()
            run.files[name], run.spectrograms[name] = _write_outputs(folder, name, estimates, result.sample_rate)
            run.timings["files"] = run.timings.get("files", 0.0) + time.perf_counter() - written
            run.timings.update(result.timings)
            run.details = dict(result.details)
            pending[name] = scoring.submit(estimates, result.sample_rate)
            yield from _scored(run, pending, snapshot, wait=False)
            yield snapshot()
        scoring.models_done()
        report(0.9, desc=messages.SCORING if refs else messages.SCORING_DNSMOS)
        yield from _scored(run, pending, snapshot, wait=True)
        stop()
        run.timings["metrics"] = scoring.seconds
        run.timings["total"] = time.perf_counter() - started
        run.timings = {k: round(v, 3) for k, v in run.timings.items()}
        run.complete = True
        report(1.0, desc=messages.DONE)
        yield snapshot()
    finally:
        scoring.close(cancelled=not run.complete)  # an unfinished run's workers stop at their next output
        if not run.complete:
            shutil.rmtree(folder, ignore_errors=True)


class Scoring:
    """The metrics of one run's outputs, one output per task in worker threads (each DNSMOS session runs on
    one thread): one task at a time while the models run beside them, then one per core."""

    def __init__(
        self,
        mixture: np.ndarray,
        sr: int,
        refs: list[np.ndarray],
        with_dnsmos: bool,
        stop: Callable[[], None],
    ) -> None:
        self.mixture, self.sr, self.refs, self.with_dnsmos, self.stop = mixture, sr, refs, with_dnsmos, stop
        self.cancelled = False
        self.seconds = 0.0  # time spent scoring, summed over the tasks
        self.workers = max(1, min(os.cpu_count() or 1, TALKERS * len(PIPELINES)))
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="lab-metrics")
        self._turns = threading.Semaphore(1)  # tasks running at once; more once the models are done
        self._lock = threading.Lock()

    def submit(self, estimates: np.ndarray, out_sr: int) -> list[Future]:
        """Score one pipeline's two (talker-ordered) estimates: one future per talker."""
        return [self.pool.submit(self._output, estimates[i], i, out_sr) for i in range(TALKERS)]

    def models_done(self) -> None:
        """The models no longer need a core: score on all of them."""
        for _ in range(self.workers - 1):
            self._turns.release()

    def close(self, cancelled: bool) -> None:
        """Stop taking tasks (`cancelled`: the tasks not started yet end at once)."""
        self.cancelled = cancelled
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _output(self, estimate: np.ndarray, talker: int, out_sr: int) -> dict[str, Any]:
        with self._turns:
            if self.cancelled:
                raise Cancelled
            self.stop()
            started = time.perf_counter()
            model = single_thread_dnsmos() if self.with_dnsmos else None
            dnsmos = {"with_dnsmos": self.with_dnsmos, "dnsmos_model": model}
            if self.refs:
                mix_out = resample(self.mixture, self.sr, out_sr)
                n = min(len(mix_out), *(len(r) for r in self.refs), len(estimate))
                values = score(estimate[:n], self.refs[talker][:n], out_sr, mixture=mix_out[:n], **dnsmos)
            else:
                values = score(estimate, None, out_sr, **dnsmos)
            with self._lock:
                self.seconds += time.perf_counter() - started
            return values


def _scored(
    run: LabRun, pending: dict[str, list[Future]], snapshot: Callable[[], LabRun], wait: bool
) -> Iterator[LabRun]:
    """Move finished metrics from `pending` into the run, yielding it after each pipeline (`wait`: all of them,
    in pipeline order; otherwise only those already done)."""
    for name in list(pending):
        if wait or all(future.done() for future in pending[name]):
            run.metrics[name] = [future.result() for future in pending.pop(name)]
            yield snapshot()


def _progress_callbacks(report: Progress, stop: Callable[[], None]) -> dict[str, Callable[..., None]]:
    """`on_stage` and `on_step` for `Separator.staged`: check `stop`, then name the stage or vocoder step."""

    def stage(name: str) -> None:
        stop()
        report(STAGE_PROGRESS[name], desc=messages.STAGES[name])

    def step(source: int, k: int, steps: int) -> None:
        stop()
        done = ((source - 1) * steps + k - 1) / (TALKERS * steps)
        report(STAGE_PROGRESS["vocoder"] + done * 0.45, desc=messages.vocoder_step(source, k, steps))

    return {"on_stage": stage, "on_step": step}


def _write_outputs(folder: Path, name: str, estimates: np.ndarray, sr: int) -> tuple[list[Path], list[Path]]:
    """One pipeline's two WAVs and their spectrograms in the run's folder."""
    wavs, pictures = [], []
    for i in range(TALKERS):
        stem = f"{name}_talker{i + 1}"
        write_audio(folder / f"{stem}.wav", estimates[i], sr)
        wavs.append(folder / f"{stem}.wav")
        title = f"{PIPELINE_TITLES[name]}, talker {i + 1}"
        pictures.append(spectrogram_png(estimates[i], sr, folder / f"{stem}.png", title))
    return wavs, pictures


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
