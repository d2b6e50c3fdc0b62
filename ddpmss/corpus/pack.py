"""A portable, voice-balanced FLAC subset of the corpus, to train on a machine it cannot be copied to whole."""

from __future__ import annotations

import csv
from pathlib import Path

import soundfile as sf

from ddpmss.corpus.librimix import LIBRIMIX_COLUMNS, rate_dir, read_mixture_list
from ddpmss.files import write_csv


def pack_subset(
    corpus: Path, out: Path, train_per_voice: int = 45, val_per_voice: int = 3, val_mixtures: int = 40, rate: int = 8000
) -> dict[str, int]:
    """Copy a voice-balanced subset into `out` as FLAC with paths relative to the lists:
    `clean_train.csv` / `clean_val.csv` (the first utterances of each voice, in list order) and
    `val{rate//1000}k.csv` (the first validation mixtures at `rate`). The GPU trainings of the model
    card read this (45 per voice: 45 MB, under the device tool's 64 MiB limit). Returns counts."""
    counts = {}
    for split, per_voice in (("train", train_per_voice), ("val", val_per_voice)):
        with open(corpus / "utterances" / f"clean_{split}.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        by_voice: dict[str, list[dict]] = {}
        for row in rows:
            by_voice.setdefault(row["voice"], []).append(row)
        picked = [row for voice in sorted(by_voice) for row in by_voice[voice][:per_voice]]
        (out / split).mkdir(parents=True, exist_ok=True)
        packed = []
        for i, row in enumerate(picked):
            source = Path(row["path"]) if Path(row["path"]).is_absolute() else corpus / "utterances" / row["path"]
            audio, sr = sf.read(source, dtype="int16")  # the cache is 16-bit PCM: lossless
            name = f"{split}/{i:05d}.flac"
            sf.write(out / name, audio, sr, format="FLAC")
            packed.append({**row, "path": name})
        write_csv(out / f"clean_{split}.csv", list(packed[0]), packed)
        counts[split] = len(packed)
    name = f"val{rate // 1000}k"
    (out / name).mkdir(parents=True, exist_ok=True)
    packed = []
    for entry in read_mixture_list(rate_dir(corpus, rate) / "metadata" / "mixture_val_mix_clean.csv")[:val_mixtures]:
        row = {"mixture_ID": entry.mixture_id, "length": entry.length}
        for key, path in zip(LIBRIMIX_COLUMNS[1:4], (entry.mixture_path, *entry.source_paths)):
            audio, sr = sf.read(path, dtype="float32")
            row[key] = f"{name}/{Path(path).parent.name}_{Path(path).stem}.flac"
            sf.write(out / row[key], audio, sr, format="FLAC", subtype="PCM_24")
        packed.append(row)
    write_csv(out / f"{name}.csv", LIBRIMIX_COLUMNS, packed)
    counts[name] = len(packed)
    return counts
