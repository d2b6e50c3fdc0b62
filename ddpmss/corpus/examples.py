"""The four short example mixtures committed under examples/."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ddpmss.audio import resample, write_audio
from ddpmss.corpus.librimix import LIBRIMIX_COLUMNS
from ddpmss.corpus.mixing import GAIN_RANGE_DB, mix_pair
from ddpmss.corpus.real import CLIPS, REAL_PAIRS, load_clip
from ddpmss.corpus.sentences import TEST_SENTENCE_POOL, TRAIN_SENTENCE_POOL, make_sentences
from ddpmss.corpus.voices import list_voices, synthesize
from ddpmss.files import write_csv

EXAMPLE_SR = 16000
EXAMPLE_SECONDS = 3.0


def make_examples(out: Path, seed: int = 0) -> list[str]:
    """Write 4 short 16 kHz example mixtures as out/<id>/{mix,s1,s2}.wav plus out/examples.csv.

    Two mix held-out TTS voices saying held-out sentences; two mix real recordings (one 16 kHz
    native, one 8 kHz material upsampled to 16 kHz). Returns the example ids written.
    """
    out = Path(out)
    sources = _example_tts_sources(seed) + _example_real_sources()
    rng = np.random.default_rng(seed)
    rows = []
    for example_id, s1, s2 in sources:
        gain = float(rng.uniform(-GAIN_RANGE_DB, GAIN_RANGE_DB))
        mix, s1, s2 = mix_pair(s1, s2, gain, int(EXAMPLE_SECONDS * EXAMPLE_SR))
        files = [f"{example_id}/{name}.wav" for name in ("mix", "s1", "s2")]
        for file, audio in zip(files, (mix, s1, s2)):
            write_audio(out / file, audio, EXAMPLE_SR)
        rows.append(dict(zip(LIBRIMIX_COLUMNS, [example_id, *files, len(mix)])))
    if not rows:
        raise ValueError("No example could be made: no held-out TTS voices and no real recordings.")
    write_csv(out / "examples.csv", LIBRIMIX_COLUMNS, rows)
    return [row["mixture_ID"] for row in rows]


def _example_tts_sources(seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Two pairs of held-out voices (4 different speakers) saying long held-out sentences."""
    voices = list({v.speaker: v for v in list_voices() if v.held_out}.values())[:4]
    bank = make_sentences(TRAIN_SENTENCE_POOL + TEST_SENTENCE_POOL, seed)[TRAIN_SENTENCE_POOL:]
    long_sentences = [s for s in bank if len(s.split()) >= 10]
    half = len(voices) // 2  # pair first half with second half: different engines here
    examples = []
    for index, (a, b) in enumerate(zip(voices[:half], voices[half:]), start=1):
        s1 = synthesize(long_sentences[2 * index], a, EXAMPLE_SR)
        s2 = synthesize(long_sentences[2 * index + 1], b, EXAMPLE_SR)
        examples.append((f"tts_unseen_voices_{index}", s1, s2))
    return examples


def _example_real_sources() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """One 16 kHz-native real pair and one 8 kHz pair upsampled to 16 kHz, when installed."""
    wanted = (("real_16k", REAL_PAIRS[0]), ("real_8k_upsampled", REAL_PAIRS[4]))
    examples = []
    for example_id, names in wanted:
        clips = [CLIPS[name] for name in names]
        if all(clip.path.exists() for clip in clips):
            s1, s2 = (resample(load_clip(c), c.sample_rate, EXAMPLE_SR) for c in clips)
            examples.append((example_id, s1, s2))
    return examples
