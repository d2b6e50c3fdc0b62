"""Mixing two clean sources LibriMix-style ('min' mode) and writing mixtures in the LibriMix layout.

Reading that layout back is `ddpmss.corpus.librimix`; this module makes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from ddpmss.audio import resample, write_audio
from ddpmss.corpus.librimix import LIBRIMIX_COLUMNS, rate_dir
from ddpmss.files import write_csv

if TYPE_CHECKING:
    from ddpmss.corpus.utterances import Utterance

GAIN_RANGE_DB = 5.0  # s1 is louder than s2 by a gain drawn from [-5, 5] dB
MIX_LEVEL_DB = -25.0  # mixture RMS in dBFS before the peak limit
MIX_PEAK = 0.9  # no mixture or source sample exceeds this


@dataclass(frozen=True)
class MixturePlan:
    """Two clean sources (keys for a loader: file paths or clip names), s1's relative gain, the mixture's
    RMS level and, for a reverberant mixture, the index of its room (see ddpmss.corpus.augment)."""

    mixture_id: str
    sources: tuple[str, str]
    gain_db: float
    level_db: float = MIX_LEVEL_DB
    room: int | None = None


# (plan, sources, sample rate) -> (sources heard in the mixture, target sources), for plans with a room
Reverberate = Callable[[MixturePlan, list[np.ndarray], int], tuple[list[np.ndarray], list[np.ndarray]]]


def draw_pairs(utterances: list[Utterance], n: int, rng: np.random.Generator) -> list[MixturePlan]:
    """`n` distinct pairs of utterances by different speakers saying different sentences."""
    plans: list[MixturePlan] = []
    used: set[frozenset[Path]] = set()
    for _ in range(100 * n + 1000):
        if len(plans) == n:
            return plans
        a, b = (utterances[i] for i in rng.choice(len(utterances), size=2, replace=False))
        key = frozenset((a.path, b.path))
        if a.voice.speaker == b.voice.speaker or a.text == b.text or key in used:
            continue
        used.add(key)
        gain = float(rng.uniform(-GAIN_RANGE_DB, GAIN_RANGE_DB))
        plans.append(MixturePlan(f"{a.uid}_{b.uid}", (str(a.path), str(b.path)), gain))
    raise ValueError(f"Only {len(plans)} of {n} distinct speaker pairs could be drawn; add voices.")


def mix_pair(
    s1: np.ndarray,
    s2: np.ndarray,
    gain_db: float,
    max_len: int,
    level_db: float = MIX_LEVEL_DB,
    heard: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LibriMix 'min' mixing: truncate both to the shorter (and max_len), set s1/s2 energy ratio
    to gain_db, then scale everything by one factor so the mix sits at `level_db` dBFS without any
    sample above 0.9. Returns (mix, s1, s2) with mix == s1 + s2.

    `heard`: what the microphone picks up of each source (e.g. reverberant, time-aligned with s1, s2):
    then mix is their sum, with the gains set on s1 and s2, which stay the targets (as in WHAMR!).
    """
    n = min(len(s1), len(s2), max_len)
    g1, g2 = 10 ** (gain_db / 20) / _rms(s1[:n]), 1 / _rms(s2[:n])
    h1, h2 = heard if heard is not None else (s1, s2)
    s1, s2, h1, h2 = s1[:n] * g1, s2[:n] * g2, h1[:n] * g1, h2[:n] * g2
    mix = h1 + h2
    peak = max(np.max(np.abs(x)) for x in (mix, s1, s2))
    scale = min(10 ** (level_db / 20) / _rms(mix), MIX_PEAK / peak)
    s1, s2 = (s1 * scale).astype(np.float32), (s2 * scale).astype(np.float32)
    if heard is None:
        return s1 + s2, s1, s2
    return (h1 * scale + h2 * scale).astype(np.float32), s1, s2


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) + 1e-12


def write_mixtures(
    plans: list[MixturePlan],
    load: Callable[[str], tuple[np.ndarray, int]],
    out: Path,
    split: str,
    rates: list[int],
    max_seconds: float,
    reverberate: Reverberate | None = None,
) -> dict[int, float]:
    """Write mix_clean/s1/s2 WAVs and the metadata CSV of one split for every rate.

    `load` turns a source key into (audio, sample_rate); `reverberate` handles plans with a room.
    Files of an earlier run that are no longer in this split are removed. Returns the seconds of
    audio written per rate.
    """
    rows: dict[int, list[dict]] = {rate: [] for rate in rates}
    for plan in tqdm(plans, desc=split, unit="mix"):
        sources = [load(key) for key in plan.sources]
        heard = None
        if plan.room is not None:
            sources, heard = _in_room(plan, sources, reverberate)
        for rate in rates:
            s1, s2 = (resample(x, sr, rate) for x, sr in sources)
            at_rate = None if heard is None else tuple(resample(x, sr, rate) for x, sr in heard)
            mix, s1, s2 = mix_pair(s1, s2, plan.gain_db, int(max_seconds * rate), plan.level_db, at_rate)
            paths = _mixture_paths(rate_dir(out, rate) / split, plan.mixture_id)
            for path, audio in zip(paths, (mix, s1, s2)):
                write_audio(path, audio, rate)
            row = [plan.mixture_id, *map(str, paths), len(mix)]
            rows[rate].append(dict(zip(LIBRIMIX_COLUMNS, row)))
    for rate in rates:
        split_dir = rate_dir(out, rate) / split
        _remove_stale(split_dir, {p.mixture_id for p in plans})
        write_csv(rate_dir(out, rate) / "metadata" / f"mixture_{split}_mix_clean.csv", LIBRIMIX_COLUMNS, rows[rate])
    return {rate: sum(r["length"] for r in rows[rate]) / rate for rate in rates}


def _in_room(
    plan: MixturePlan, sources: list[tuple[np.ndarray, int]], reverberate: Reverberate | None
) -> tuple[list[tuple[np.ndarray, int]], list[tuple[np.ndarray, int]]]:
    """(targets, heard) of a reverberant mixture, each as (audio, sample_rate)."""
    (x1, sr), (x2, sr2) = sources
    if reverberate is None or sr != sr2:
        raise ValueError(f"Mixture {plan.mixture_id} has a room but no reverberation for its sources.")
    heard, targets = reverberate(plan, [x1, x2], sr)
    return [(x, sr) for x in targets], [(x, sr) for x in heard]


def _mixture_paths(split_dir: Path, mixture_id: str) -> tuple[Path, Path, Path]:
    name = f"{mixture_id}.wav"
    return tuple((split_dir / sub / name).resolve() for sub in ("mix_clean", "s1", "s2"))


def _remove_stale(split_dir: Path, keep: set[str]) -> None:
    for sub in ("mix_clean", "s1", "s2"):
        for wav in (split_dir / sub).glob("*.wav"):
            if wav.stem not in keep:
                wav.unlink()
