"""Reading mixture lists: a LibriMix-format CSV or a folder with mix/ and s1/, s2/ subfolders.

This is what the runtime (pipelines, app, listening tests) imports; it stays free of the corpus
generator so reading data never loads the TTS machinery.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

LIBRIMIX_COLUMNS = ["mixture_ID", "mixture_path", "source_1_path", "source_2_path", "length"]
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


@dataclass(frozen=True)
class MixtureEntry:
    """One mixture file, its reference sources (s1, s2, ...) and its length in samples if known."""

    mixture_id: str
    mixture_path: Path
    source_paths: tuple[Path, ...]
    length: int | None


def read_mixture_list(path: str | Path) -> list[MixtureEntry]:
    """Read a LibriMix-format CSV or a folder with mix/ (or mix_clean/) and s1/, s2/ subfolders.

    Relative paths in a CSV are resolved against the CSV's folder. Raises ValueError with one
    sentence when the list is missing, malformed, empty or points to files that do not exist.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"The mixture list '{path}' does not exist.")
    entries = _read_folder(path) if path.is_dir() else _read_csv(path)
    if not entries:
        raise ValueError(f"The mixture list '{path}' contains no mixtures.")
    return entries


def _read_csv(path: Path) -> list[MixtureEntry]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        rows = list(reader)
    source_columns = sorted(
        (c for c in columns if re.fullmatch(r"source_\d+_path", c)),
        key=lambda c: int(c.split("_")[1]),
    )
    for column in ("mixture_ID", "mixture_path", "source_1_path"):
        if column not in columns:
            raise ValueError(
                f"The mixture list '{path}' has no '{column}' column (LibriMix columns: {', '.join(LIBRIMIX_COLUMNS)})."
            )
    entries = []
    for line, row in enumerate(rows, start=2):
        files = [_resolve(path, line, row[c]) for c in ["mixture_path", *source_columns]]
        length = row.get("length")
        entries.append(MixtureEntry(row["mixture_ID"], files[0], tuple(files[1:]), int(length) if length else None))
    return entries


def _resolve(csv_path: Path, line: int, value: str | None) -> Path:
    if not value:
        raise ValueError(f"Line {line} of '{csv_path}' has an empty file path.")
    file = Path(value)
    file = file if file.is_absolute() else csv_path.parent / file
    if not file.is_file():
        raise ValueError(f"Line {line} of '{csv_path}' points to '{file}', which does not exist.")
    return file


def _read_folder(folder: Path) -> list[MixtureEntry]:
    mix_dir = next((folder / d for d in ("mix", "mix_clean") if (folder / d).is_dir()), None)
    if mix_dir is None:
        raise ValueError(f"The folder '{folder}' has neither a mix/ nor a mix_clean/ subfolder.")
    source_dirs = sorted(
        (d for d in folder.iterdir() if d.is_dir() and re.fullmatch(r"s\d+", d.name)),
        key=lambda d: int(d.name[1:]),
    )
    if not source_dirs:
        raise ValueError(f"The folder '{folder}' has no s1/ subfolder with reference sources.")
    entries = []
    for mix in sorted(p for p in mix_dir.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES):
        sources = tuple(d / mix.name for d in source_dirs)
        for source in sources:
            if not source.is_file():
                raise ValueError(f"The mixture '{mix.name}' has no matching file '{source}'.")
        entries.append(MixtureEntry(mix.stem, mix, sources, None))
    return entries


def rate_dir(out: Path, rate: int) -> Path:
    """LibriMix folder for a sample rate, e.g. out/wav8k/min."""
    return out / f"wav{rate / 1000:g}k" / "min"
