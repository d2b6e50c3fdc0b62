"""The synthetic TTS corpus: plan the utterances, synthesize the missing ones, mix all four splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ddpmss.audio import load_audio
from ddpmss.corpus.mixing import draw_pairs, write_mixtures
from ddpmss.corpus.utterances import SPLITS, plan_utterances, synthesize_missing, write_clean_list
from ddpmss.corpus.voices import CACHE_SR, Voice, list_voices


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
) -> dict:
    """Synthesize (or reuse) the utterance bank under out/utterances and write all four splits.

    Returns a summary: voices per split, utterance and mixture counts, hours per rate and split.
    """
    if any(rate > CACHE_SR for rate in rates):
        raise ValueError(f"Rates above {CACHE_SR} Hz are not supported (utterances are 16 kHz).")
    voices = list_voices() if voices is None else voices
    out = Path(out)
    counts = {"train": n_train, "val": n_val, "test_unseen_voices": n_test, "test_unseen_sentences": n_test}
    plan = plan_utterances(voices, counts, seed, out / "utterances")
    synthesized = synthesize_missing([u for utts in plan.values() for u in utts], workers)
    summary: dict = {"synthesized": synthesized, "splits": {}}
    for index, split in enumerate(SPLITS):
        write_clean_list(out / "utterances" / f"clean_{split}.csv", split, plan[split])
        pairs = draw_pairs(plan[split], counts[split], np.random.default_rng([seed, index]))
        seconds = write_mixtures(pairs, _load_cached, out, split, list(rates), max_seconds)
        summary["splits"][split] = {
            "voices": sorted({u.voice.name for u in plan[split]}),
            "utterances": len(plan[split]),
            "mixtures": len(pairs),
            "hours": {rate: s / 3600 for rate, s in seconds.items()},
        }
    return summary


def _load_cached(path: str) -> tuple[np.ndarray, int]:
    return load_audio(path, max_seconds=None)
