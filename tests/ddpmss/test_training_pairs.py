"""Dynamic mixing's talker pairs: always two speakers, shares of them close in pitch or of two recorded voices,
reproducible by seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ddpmss.training.pairs import (
    CLOSE,
    FAR,
    MIXED_PAIR,
    RECORDED_PAIR,
    RULE_BASED_PAIR,
    TalkerPairs,
    pitch_semitones,
    recorded_voices,
)
from tests.support.reliability import run_module

SPEAKERS = ["a", "a", "b", "b", "c", "d"]
SEMITONES = np.array([0.0, 10.0, 0.5, 20.0, 30.0, np.nan])  # only a's first and b's first are close


def test_pitch_semitones_reads_the_median_f0_and_marks_silence():
    sr = 8000
    t = np.arange(sr) / sr
    tones = [(0.5 * np.sin(2 * np.pi * f * t)).astype(np.float32)[None] for f in (100.0, 200.0, 150.0)]
    values = pitch_semitones([*tones, np.zeros((1, sr), np.float32)], sr)
    np.testing.assert_allclose(values[:3], [0.0, 12.0, 12 * np.log2(1.5)], atol=0.1)
    assert np.isnan(values[3])


def test_close_pairs_are_within_the_limit_and_of_two_speakers():
    pairs = TalkerPairs(SPEAKERS, SEMITONES, close_share=1.0, close_semitones=2.0)
    rng = np.random.default_rng(0)
    drawn = {pairs.draw(rng) for _ in range(200)}
    assert drawn == {(0, 2), (2, 0)}  # the one close pair of different speakers, either way round


def test_the_close_share_is_kept_and_other_pairs_are_any_two_speakers():
    pairs = TalkerPairs(SPEAKERS, SEMITONES, close_share=0.3)
    rng = np.random.default_rng(1)
    drawn = [pairs.draw(rng) for _ in range(4000)]
    assert all(SPEAKERS[a] != SPEAKERS[b] for a, b in drawn)
    close = np.mean([{a, b} == {0, 2} for a, b in drawn])
    random_close = 2 / 26  # ordered pairs of different speakers: 36 - 10 of the same speaker
    assert close == pytest.approx(0.3 + 0.7 * random_close, abs=0.03)
    again = np.random.default_rng(1)
    assert drawn == [pairs.draw(again) for _ in range(4000)]  # the same seed, the same pairs


def test_without_pitches_the_draws_are_plain_random_pairs():
    rng_a, rng_b = np.random.default_rng(2), np.random.default_rng(2)
    plain = TalkerPairs(SPEAKERS)
    switched_off = TalkerPairs(SPEAKERS, SEMITONES, close_share=0.0)
    assert [plain.draw(rng_a) for _ in range(50)] == [switched_off.draw(rng_b) for _ in range(50)]


RECORDED = np.array([True, True, False, True, False, True])  # recorded voices of speakers a, b and d


def test_recorded_pairs_are_two_recorded_voices_of_two_speakers_and_keep_their_share():
    rng = np.random.default_rng(3)
    only = TalkerPairs(SPEAKERS, recorded=RECORDED, recorded_share=1.0)
    drawn = [only.draw(rng) for _ in range(500)]
    assert all(RECORDED[a] and RECORDED[b] and SPEAKERS[a] != SPEAKERS[b] for a, b in drawn)
    assert {SPEAKERS[i] for pair in drawn for i in pair} == {"a", "b", "d"}

    shared = TalkerPairs(SPEAKERS, SEMITONES, close_share=0.2, recorded=RECORDED, recorded_share=0.5)
    drawn = [shared.draw(rng) for _ in range(4000)]
    assert all(SPEAKERS[a] != SPEAKERS[b] for a, b in drawn)
    both = np.mean([RECORDED[a] and RECORDED[b] for a, b in drawn])
    # the close pair (0, 2) holds a rule-based voice; random pairs: 10 of the 26 ordered ones are recorded
    assert both == pytest.approx(0.5 + 0.3 * 10 / 26, abs=0.03)


def test_a_recorded_share_of_zero_draws_the_pairs_drawn_before():
    rng_a, rng_b = np.random.default_rng(4), np.random.default_rng(4)
    close = TalkerPairs(SPEAKERS, SEMITONES, close_share=0.3)
    with_zero = TalkerPairs(SPEAKERS, SEMITONES, close_share=0.3, recorded=RECORDED, recorded_share=0.0)
    assert [close.draw(rng_a) for _ in range(200)] == [with_zero.draw(rng_b) for _ in range(200)]


def test_recorded_voices_are_read_from_the_engine_column(tmp_path: Path):
    listed = tmp_path / "clean.csv"
    listed.write_text("path,speaker,engine\na.wav,a,espeak-ng\nb.wav,b,festival\nc.wav,c,flite\n")
    assert recorded_voices(listed).tolist() == [False, True, True]
    unnamed = tmp_path / "plain.csv"
    unnamed.write_text("path,speaker\na.wav,a\n")
    with pytest.raises(ValueError, match="plain.csv has no engine column"):
        recorded_voices(unnamed)


def test_bad_speaker_lists_are_refused_in_one_sentence():
    with pytest.raises(ValueError, match="two speakers"):
        TalkerPairs(["a", "a"])
    with pytest.raises(ValueError, match="within 1 semitones"):
        TalkerPairs(["a", "b"], np.array([0.0, 5.0]), close_share=0.5, close_semitones=1.0)
    with pytest.raises(ValueError, match="Fewer than two speakers"):
        TalkerPairs(["a", "a", "b"], recorded=np.array([True, True, False]), recorded_share=0.5)


def _tone_list(root: Path, pitches: dict[str, float], engines: str = "AB") -> Path:
    """One 2 s voiced utterance (a pulse-like harmonic tone) per speaker, listed as the corpus's clean_*.csv;
    the speakers named in `engines` are espeak-ng voices, the others festival's."""
    sr, t = 8000, np.arange(16000) / 8000
    rows = ["path,voice,speaker,engine"]
    for speaker, f0 in pitches.items():
        x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8))
        sf.write(root / f"{speaker}.wav", (0.2 * x).astype(np.float32), sr)
        engine = "espeak-ng" if speaker in engines else "festival"
        rows.append(f"{speaker}.wav,{speaker},{speaker},{engine}")
    (root / "clean.csv").write_text("\n".join(rows) + "\n")
    return root / "clean.csv"


@pytest.mark.slow
def test_the_pairs_command_scores_close_and_far_pairs(tmp_path: Path, tiny_models: Path):
    utterances = _tone_list(tmp_path, {"A": 100.0, "B": 110.0, "C": 200.0, "D": 320.0})
    done = run_module(
        "ddpmss.training.pairs", "--models", str(tiny_models), "--utterances", str(utterances), "--n", "2"
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if "SI-SDRi" in line]
    assert [line.split(":")[0] for line in lines] == [CLOSE, FAR, RULE_BASED_PAIR, MIXED_PAIR, RECORDED_PAIR]
    assert all(line.endswith("over 2 mixtures") for line in lines)

    only_far = _tone_list(tmp_path, {"A": 100.0, "C": 200.0})
    done = run_module("ddpmss.training.pairs", "--models", str(tiny_models), "--utterances", str(only_far))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].endswith(f"The utterances hold no {CLOSE} of different speakers.")
