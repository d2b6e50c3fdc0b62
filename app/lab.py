"""The side-by-side lab: one mixture through the three pipelines, with players, spectrograms and metrics.

`separate()` is also the public API endpoint `separate` (six WAV files and a JSON summary out).
Errors a user can fix are `AudioError`, `ModelError` or `ValueError` with one sentence; the UI shows
that sentence, never a traceback.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddpmss.audio import load_audio, write_audio
from ddpmss.corpus.librimix import MixtureEntry, read_mixture_list
from ddpmss.metrics import match_permutation, score
from ddpmss.plots import spectrogram_png
from ddpmss.settings import EXAMPLES_DIR, PIPELINES
from listening_tests.storage import Rating

if TYPE_CHECKING:
    from app.context import Lab

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
EXAMPLES_CSV = EXAMPLES_DIR / "examples.csv"

Progress = Callable[..., object]


@dataclass
class LabRun:
    """One separation: two files per pipeline (talker order matched to the references when given)."""

    run_id: str
    sample_rate: int
    files: dict[str, list[Path]]
    spectrograms: dict[str, list[Path]]
    metrics: dict[str, list[dict[str, Any]]] | None
    timings: dict[str, float]
    models: str
    details: dict[str, list[float]]

    def output_files(self) -> list[str]:
        """The six WAV paths, pipeline by pipeline (talker 1, talker 2)."""
        return [str(p) for name in PIPELINES for p in self.files[name]]

    def summary(self) -> dict[str, Any]:
        """JSON-ready metrics, timings and file names (NaN becomes null)."""
        return _json_ready(
            {
                "run_id": self.run_id,
                "models": self.models,
                "sample_rate": self.sample_rate,
                "timings_s": self.timings,
                "files": {name: [p.name for p in paths] for name, paths in self.files.items()},
                "metrics": self.metrics,
                "details": self.details,
            }
        )

    def metrics_rows(self) -> list[list[Any]]:
        """One table row per (talker, pipeline) with the metric columns (empty without references)."""
        if not self.metrics:
            return []
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
    raise ValueError(f"There is no example called '{name}'.")


def separate(
    lab: Lab,
    mixture: str | None,
    reference1: str | None = None,
    reference2: str | None = None,
    progress: Progress | None = None,
    with_dnsmos: bool = True,
) -> LabRun:
    """Run the three pipelines on an uploaded mixture; metrics when both references are given."""
    report = progress or (lambda *args, **kwargs: None)
    settings = lab.settings
    if not mixture:
        raise ValueError("Upload or record a mixture first, or pick an example.")
    if bool(reference1) != bool(reference2):
        raise ValueError("Give both reference sources, or neither.")
    limits = {"max_seconds": settings.max_seconds, "max_bytes": int(settings.max_upload_mb * 1e6)}
    report(0.0, desc="Reading the audio")
    audio, sr = load_audio(mixture, min_seconds=settings.min_seconds, **limits)
    refs = [load_audio(p, target_sr=settings.output_sr, **limits)[0] for p in (reference1, reference2) if p]
    report(0.1, desc="Loading the models")
    separator = lab.models.get()
    report(0.2, desc="Separating: SepFormer, DiffWave re-synthesis, fusion")
    result = separator.separate(audio, sr, PIPELINES)
    out_sr = result.sample_rate
    run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    folder = lab.runtime_dir / "lab" / run_id
    metrics: dict[str, list[dict[str, Any]]] | None = None
    estimates = {name: result.outputs[name] for name in PIPELINES}
    if refs:
        report(0.7, desc="Scoring against the references")
        mix_out = load_audio(mixture, target_sr=out_sr, **limits)[0]
        n = min(len(mix_out), *(len(r) for r in refs), *(e.shape[-1] for e in estimates.values()))
        metrics = {}
        for name, est in estimates.items():
            est = est[list(match_permutation(est[:, :n], [r[:n] for r in refs]))]
            estimates[name] = est
            metrics[name] = [
                score(est[i, :n], refs[i][:n], out_sr, mixture=mix_out[:n], with_dnsmos=with_dnsmos)
                for i in range(TALKERS)
            ]
    report(0.85, desc="Writing the outputs and spectrograms")
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
    report(1.0, desc="Done")
    timings = {k: round(v, 3) for k, v in result.timings.items()}
    return LabRun(run_id, out_sr, files, spectrograms, metrics, timings, result.models.describe(), result.details)


def rate_output(lab: Lab, run_id: str, pipeline: str, talker: int, value: int | None) -> Rating | None:
    """Store the quick 1-5 rating of one lab output under the protocol `demo` (a repeated click is a no-op)."""
    if value is None or not run_id:
        return None
    if pipeline not in PIPELINES or not 1 <= talker <= TALKERS:
        raise ValueError("This output does not exist.")
    return lab.store.save_demo_rating(
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
