"""The side-by-side lab without Gradio: checking uploads, one run of a mixture through the three pipelines
(players' files, spectrograms, metrics) and the quick ratings of its outputs.

Errors a user can fix are `AudioError`, `ModelError`, `StoreError` or `ValueError` with one sentence; the
tab (app/lab.py) shows that sentence, never a traceback.
"""

from __future__ import annotations

import math
import secrets
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

Progress = Callable[..., object]


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
) -> LabRun:
    """Run the three pipelines on an uploaded mixture; DNSMOS always, the other metrics when both references
    are given."""
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
    report(0.2, desc=messages.SEPARATING)
    result = separator.separate(audio, sr, PIPELINES)
    out_sr = result.sample_rate
    run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    folder = services.runtime_dir / "lab" / run_id
    estimates = result.aligned(refs) if refs else dict(result.outputs)
    metrics: dict[str, list[dict[str, Any]]] = {}
    report(0.7, desc=messages.SCORING if refs else messages.SCORING_DNSMOS)
    if refs:
        mix_out = resample(audio, sr, out_sr)
        n = min(len(mix_out), *(len(r) for r in refs), *(e.shape[-1] for e in estimates.values()))
        for name, est in estimates.items():
            metrics[name] = [
                score(est[i, :n], refs[i][:n], out_sr, mixture=mix_out[:n], with_dnsmos=with_dnsmos)
                for i in range(TALKERS)
            ]
    else:
        for name, est in estimates.items():
            metrics[name] = [score(est[i], None, out_sr, with_dnsmos=with_dnsmos) for i in range(TALKERS)]
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
