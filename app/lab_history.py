"""A lab tab's earlier runs, kept across page reloads, and the bound on how many runs stay on disk.

A complete run's state is saved beside its files (`state.json`, with its zip); the tab keeps the ids of its
last runs in the browser, in Gradio's BrowserState encrypted with the app's secret, so a visitor reopens
only runs their own tab made. Files are named relative to the run's folder: no server path is stored.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from app.lab_export import write_zip
from app.lab_run import LabRun
from ddpmss.files import atomic_path
from ddpmss.settings import PIPELINES

STATE = "state.json"
RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")  # what lab_run gives a run (no '/' or '..' can pass)


def run_folder(runtime_dir: Path, run_id: str) -> Path:
    """Where a run's files lie."""
    return runtime_dir / "lab" / run_id


def save_run(run: LabRun) -> None:
    """Keep a complete run (its zip first: a reopened run has no uploads left to pack)."""
    write_zip(run)
    folder = run.files[PIPELINES[0]][0].parent
    state = {
        "run_id": run.run_id,
        "sample_rate": run.sample_rate,
        "files": {name: [p.name for p in paths] for name, paths in run.files.items()},
        "spectrograms": {name: [p.name for p in paths] for name, paths in run.spectrograms.items()},
        "metrics": run.metrics,
        "timings": run.timings,
        "models": run.models,
        "details": run.details,
        "model_checksums": run.model_checksums,
        "with_references": run.with_references,
        "mixture_name": run.mixture_name,
        "seconds": run.seconds,
    }
    with atomic_path(folder / STATE) as tmp:
        tmp.write_text(json.dumps(state))  # NaN stays NaN (Python's JSON reads it back)


def load_run(runtime_dir: Path, run_id: str) -> LabRun | None:
    """A saved run as it was shown, or None when the id is malformed or its files are gone."""
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        return None
    folder = run_folder(runtime_dir, run_id)
    try:
        state = json.loads((folder / STATE).read_text())
    except (OSError, ValueError):
        return None
    files = {name: [folder / n for n in names] for name, names in state["files"].items()}
    spectrograms = {name: [folder / n for n in names] for name, names in state["spectrograms"].items()}
    if not all(p.is_file() for paths in (*files.values(), *spectrograms.values()) for p in paths):
        return None
    return LabRun(
        run_id=state["run_id"],
        sample_rate=state["sample_rate"],
        files=files,
        spectrograms=spectrograms,
        metrics=state["metrics"],
        timings=state["timings"],
        models=state["models"],
        details=state["details"],
        model_checksums=state["model_checksums"],
        with_references=state["with_references"],
        seconds=state["seconds"],
        mixture_name=state["mixture_name"],
        complete=True,
    )


def prune_runs(runtime_dir: Path, keep: int) -> int:
    """Delete all but the newest `keep` run folders (run ids start with their date and time); returns how
    many went. A reopened list simply leaves out the runs that are gone."""
    root = runtime_dir / "lab"
    if not root.is_dir():
        return 0
    runs = sorted(d for d in root.iterdir() if d.is_dir() and RUN_ID.match(d.name))
    old = runs[: max(len(runs) - keep, 0)]
    for folder in old:
        shutil.rmtree(folder, ignore_errors=True)
    return len(old)
