"""Reading a built stimulus set: manifest.csv and trials.csv (columns in docs/file-formats.md)."""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ddpmss.metrics import METRIC_NAMES

MANIFEST_COLUMNS = (
    "item_id",
    "condition",
    "path",
    "sha256",
    "duration_s",
    "sample_rate",
    "loudness_lufs",
    "gain_db",
    *METRIC_NAMES,
)
TRIALS_COLUMNS = ("item_id", "condition", "kind", "scale", "expected_score", "tolerance")
PARTIAL_MANIFEST = "manifest.partial.csv"


class BuildError(RuntimeError):
    """A stimulus set that cannot be built or read; the message is one sentence."""


@dataclass(frozen=True)
class Stimulus:
    """One playable stimulus of a built set."""

    item_id: str
    condition: str
    path: Path
    duration_s: float
    sample_rate: int


@dataclass(frozen=True)
class Trial:
    """The expected answer of a trapping or gold clip."""

    item_id: str
    condition: str
    kind: str  # trap | gold
    scale: str
    expected_score: float
    tolerance: float


@dataclass(frozen=True)
class StimulusSet:
    """A built stimulus set: every stimulus of the manifest plus the control trials."""

    manifest: Path
    stimuli: dict[tuple[str, str], Stimulus]
    trials: dict[tuple[str, str], Trial] = field(default_factory=dict)

    @property
    def conditions(self) -> tuple[str, ...]:
        """Conditions in manifest order (control conditions included)."""
        return tuple(dict.fromkeys(c for _, c in self.stimuli))

    @property
    def items(self) -> tuple[str, ...]:
        """Item ids in manifest order."""
        return tuple(dict.fromkeys(i for i, _ in self.stimuli))


def read_manifest(path: str | Path, required: Sequence[str] = MANIFEST_COLUMNS) -> list[dict[str, str]]:
    """Rows of a manifest (or partial manifest) file; BuildError when it is missing one of `required`."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            columns = tuple(reader.fieldnames or ())
            rows = list(reader)
    except OSError:
        raise BuildError(f"The manifest {path} does not exist or cannot be read.") from None
    missing = [c for c in required if c not in columns]
    if missing:
        raise BuildError(f"{path} lacks the column(s) {', '.join(missing)} of manifest.csv.")
    return rows


def append_manifest_rows(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append rows to a partial manifest and flush them to disk (what a resumed build starts from)."""
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(MANIFEST_COLUMNS), lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerows({c: row.get(c, "") for c in MANIFEST_COLUMNS} for row in rows)
        f.flush()
        os.fsync(f.fileno())


def load_stimulus_set(manifest: str | Path) -> StimulusSet:
    """Read a built stimulus set (manifest.csv and, when present, trials.csv next to it)."""
    manifest = Path(manifest)
    if not manifest.is_file():
        raise BuildError(f"The stimulus manifest {manifest} does not exist; build the stimuli first.")
    stimuli: dict[tuple[str, str], Stimulus] = {}
    for row in read_manifest(manifest):
        key = (row["item_id"], row["condition"])
        stimuli[key] = Stimulus(
            item_id=key[0],
            condition=key[1],
            path=(manifest.parent / row["path"]).resolve(),
            duration_s=float(row["duration_s"]),
            sample_rate=int(row["sample_rate"]),
        )
    if not stimuli:
        raise BuildError(f"The stimulus manifest {manifest} lists no stimuli.")
    return StimulusSet(manifest=manifest.resolve(), stimuli=stimuli, trials=_read_trials(manifest.parent))


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_trials(folder: Path) -> dict[tuple[str, str], Trial]:
    path = folder / "trials.csv"
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    trials = (
        Trial(r["item_id"], r["condition"], r["kind"], r["scale"], float(r["expected_score"]), float(r["tolerance"]))
        for r in rows
    )
    return {(t.item_id, t.condition): t for t in trials}
