"""Keep and share a lab run: one zip with the six WAVs, the inputs, the spectrograms, metrics.csv and run.json
(models by name, software versions; no server path anywhere)."""

from __future__ import annotations

import csv
import io
import json
import math
import platform
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

from app.lab_run import METRIC_COLUMNS, TALKERS, LabRun
from ddpmss.files import atomic_path
from ddpmss.settings import PIPELINES

# the packages whose versions decide the numbers of a run (models, resampling, metrics)
VERSIONED = ("torch", "torchaudio", "speechbrain", "numpy", "soundfile", "pesq", "pystoi", "speechmos", "onnxruntime")
METRICS_CSV_COLUMNS = ("pipeline", "talker", *(key for key, _ in METRIC_COLUMNS), "notes")


def software_versions() -> dict[str, str]:
    """Python's and the versioned packages' versions ('not installed' for a missing one)."""
    versions = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def metrics_csv(run: LabRun) -> str:
    """One row per (pipeline, talker): every metric (empty where undefined) and why a metric is missing."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=METRICS_CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for name in PIPELINES:
        for talker in range(TALKERS):
            values = run.metrics[name][talker]
            row: dict[str, Any] = {"pipeline": name, "talker": talker + 1}
            for key, _ in METRIC_COLUMNS:
                value = values.get(key)
                row[key] = f"{value:.4f}" if isinstance(value, float) and math.isfinite(value) else ""
            row["notes"] = "; ".join(values.get("reasons", {}).values())
            writer.writerow(row)
    return out.getvalue()


def run_json(run: LabRun) -> dict[str, Any]:
    """The run's summary with the inputs by file name and the software versions."""
    return {
        **run.summary(),
        "inputs": {
            role: {"file": _input_name(role, path), "uploaded_as": path.name} for role, path in run.inputs.items()
        },
        "versions": software_versions(),
    }


def write_zip(run: LabRun) -> Path:
    """Write `lab-<run id>.zip` beside the run's outputs (once); inside, one folder of the same name holds the run.

    WAVs and PNGs are stored as they are (already dense); the CSV and JSON are compressed.
    """
    stem = f"lab-{run.run_id}"
    path = run.files[PIPELINES[0]][0].parent / f"{stem}.zip"
    if path.is_file():  # a complete run does not change: its zip is written once
        return path
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        for name in PIPELINES:
            for wav, png in zip(run.files[name], run.spectrograms[name], strict=True):
                archive.write(wav, f"{stem}/{wav.name}")
                archive.write(png, f"{stem}/{png.name}")
        for role, source in run.inputs.items():
            archive.write(source, f"{stem}/{_input_name(role, source)}")
        text = zipfile.ZIP_DEFLATED
        archive.writestr(f"{stem}/metrics.csv", metrics_csv(run), compress_type=text)
        archive.writestr(f"{stem}/run.json", json.dumps(run_json(run), indent=2, allow_nan=False), compress_type=text)
    return path


def _input_name(role: str, path: Path) -> str:
    """Where an input lies in the zip (by role: two uploads may share a file name)."""
    return f"input/{role}{path.suffix.lower()}"
