"""The synthetic TTS corpus: plan the utterances, synthesize the missing ones, mix all four splits."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ddpmss.audio import load_audio
from ddpmss.corpus.augment import Augmentation, bank_responses, bank_room, reverberate
from ddpmss.corpus.librimix import rate_dir
from ddpmss.corpus.mixing import MixturePlan, Reverberate, draw_pairs, write_mixtures
from ddpmss.corpus.utterances import SPLITS, Utterance, plan_utterances, synthesize_missing, write_clean_list
from ddpmss.corpus.voices import CACHE_SR, Voice, list_voices
from ddpmss.files import write_csv

AUGMENT_LOG = "mixture_train_augment.csv"
AUGMENT_COLUMNS = ["mixture_ID", "level_db", "room", "rt60", "source_1_perturbation", "source_2_perturbation"]


def generate_corpus(
    out: Path,
    n_train: int = 3000,
    n_val: int = 200,
    n_test: int = 200,
    seed: int = 0,
    rates: tuple[int, ...] = (8000, 16000),
    max_seconds: float = 4.0,
    voices: list[Voice] | None = None,
    workers: int = 2,
    augmentation: Augmentation | None = None,
) -> dict:
    """Synthesize (or reuse) the utterance bank under out/utterances and write all four splits.

    `augmentation` applies to the train split only: the other splits and their mixtures are the
    same with or without it. Returns a summary: voices per split, utterance and mixture counts,
    hours per rate and split.
    """
    if any(rate > CACHE_SR for rate in rates):
        raise ValueError(f"Rates above {CACHE_SR} Hz are not supported (utterances are 16 kHz).")
    voices = list_voices() if voices is None else voices
    out = Path(out)
    counts = {"train": n_train, "val": n_val, "test_unseen_voices": n_test, "test_unseen_sentences": n_test}
    plan = plan_utterances(voices, counts, seed, out / "utterances", augmentation)
    synthesized = synthesize_missing([u for utts in plan.values() for u in utts], workers)
    summary: dict = {"synthesized": synthesized, "splits": {}}
    for index, split in enumerate(SPLITS):
        write_clean_list(out / "utterances" / f"clean_{split}.csv", split, plan[split])
        pairs = draw_pairs(plan[split], counts[split], np.random.default_rng([seed, index]))
        room = None
        if split == "train" and augmentation is not None:
            pairs = _augment_mixtures(pairs, augmentation, np.random.default_rng([seed, index, 0x4C56]))
            room = _room_reverberation(seed, augmentation)
            _write_augment_log(out, rates, pairs, plan[split], seed, augmentation)
        elif split == "train":
            for rate in rates:  # an earlier augmented run's log no longer describes the split
                (rate_dir(out, rate) / "metadata" / AUGMENT_LOG).unlink(missing_ok=True)
        seconds = write_mixtures(pairs, _load_cached, out, split, list(rates), max_seconds, room)
        summary["splits"][split] = {
            "voices": sorted({u.voice.name for u in plan[split]}),
            "utterances": len(plan[split]),
            "mixtures": len(pairs),
            "hours": {rate: s / 3600 for rate, s in seconds.items()},
        }
    return summary


def _augment_mixtures(
    pairs: list[MixturePlan], augmentation: Augmentation, rng: np.random.Generator
) -> list[MixturePlan]:
    """Each mixture gets a level and, for `reverb_share` of them, a room (its own generator, so the
    pairs and gains stay those of the unaugmented corpus)."""
    out = []
    for plan in pairs:
        level, in_room, room = (
            rng.uniform(*augmentation.level_range_db),
            rng.random(),
            rng.integers(augmentation.n_rooms),
        )
        out.append(
            replace(plan, level_db=float(level), room=int(room) if in_room < augmentation.reverb_share else None)
        )
    return out


def _room_reverberation(seed: int, augmentation: Augmentation) -> Reverberate:
    """The `reverberate` callback of `write_mixtures`: (sources heard in the room, direct-path targets)."""

    def in_room(plan: MixturePlan, sources: list[np.ndarray], sr: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        full, direct = bank_responses(seed, plan.room, augmentation.rt60_range_s, sr)
        heard = [reverberate(x, rir) for x, rir in zip(sources, full)]
        return heard, [reverberate(x, rir) for x, rir in zip(sources, direct)]

    return in_room


def _write_augment_log(
    out: Path,
    rates: tuple[int, ...],
    pairs: list[MixturePlan],
    utterances: list[Utterance],
    seed: int,
    aug: Augmentation,
) -> None:
    """metadata/mixture_train_augment.csv: level, room and the sources' perturbations of every mixture."""
    tags = {str(u.path): "" if u.perturbation is None else u.perturbation.tag for u in utterances}
    rows = []
    for plan in pairs:
        rt60 = "" if plan.room is None else f"{bank_room(seed, plan.room, aug.rt60_range_s).rt60:.3f}"
        values = [plan.mixture_id, f"{plan.level_db:.2f}", "" if plan.room is None else plan.room, rt60]
        rows.append(dict(zip(AUGMENT_COLUMNS, values + [tags[key] for key in plan.sources])))
    for rate in rates:
        write_csv(rate_dir(out, rate) / "metadata" / AUGMENT_LOG, AUGMENT_COLUMNS, rows)


def _load_cached(path: str) -> tuple[np.ndarray, int]:
    return load_audio(path, max_seconds=None)
