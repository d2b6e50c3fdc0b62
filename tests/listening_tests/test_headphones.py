"""The antiphase headphone screening: the stimulus does what the test relies on, plans are seeded and balanced."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listening_tests.headphones import (
    ARRANGEMENTS,
    GAP_S,
    QUIET_DB,
    TONE_S,
    CheckConfig,
    check_audio,
    count_correct,
    passed,
    plan_check,
    write_check_clips,
)

SR = 16000


def tone_energies(signal: np.ndarray) -> np.ndarray:
    """Energy of each of the three tones of a (samples,) signal."""
    step, n = int((TONE_S + GAP_S) * SR), int(TONE_S * SR)
    return np.array([np.sum(signal[k * step : k * step + n] ** 2) for k in range(3)])


def test_headphones_hear_the_quiet_tone_and_loudspeakers_the_antiphase_one() -> None:
    """Over headphones each ear gets its channel: the quieter tone is 6 dB down. Over loudspeakers the
    channels add in the air (modelled as their sum): the antiphase tone cancels and seems quietest."""
    for trial in ARRANGEMENTS:
        audio = check_audio(trial, SR)
        assert audio.shape == (2, int((3 * TONE_S + 2 * GAP_S) * SR)) and np.abs(audio).max() <= 0.1 + 1e-6
        left = tone_energies(audio[0])
        assert np.argmin(left) == trial.quiet
        loud = [k for k in range(3) if k != trial.quiet]
        assert 10 * np.log10(left[trial.quiet] / left[loud[0]]) == pytest.approx(QUIET_DB, abs=0.01)
        assert np.argmin(tone_energies(audio[0] + audio[1])) == trial.antiphase


def test_a_loudspeaker_listener_fails_and_a_headphone_listener_passes() -> None:
    config = CheckConfig()
    trials = plan_check(7, config)
    by_headphones = [int(np.argmin(tone_energies(check_audio(t, SR)[0]))) for t in trials]
    by_loudspeakers = [int(np.argmin(tone_energies(check_audio(t, SR).sum(axis=0)))) for t in trials]
    assert passed(trials, by_headphones, config) and count_correct(trials, by_headphones) == 6
    assert count_correct(trials, by_loudspeakers) == 0 and not passed(trials, by_loudspeakers, config)
    assert count_correct(trials, [None] * 6) == 0
    with pytest.raises(ValueError, match="6 trials but 2 answers"):
        count_correct(trials, [0, 1])


def test_plans_are_seeded_and_balanced() -> None:
    plan = plan_check(3, CheckConfig(trials=6))
    assert plan == plan_check(3, CheckConfig(trials=6)) and plan != plan_check(4, CheckConfig(trials=6))
    assert sorted(plan, key=lambda t: (t.quiet, t.antiphase)) == sorted(
        ARRANGEMENTS, key=lambda t: (t.quiet, t.antiphase)
    )
    assert Counter(t.quiet for t in plan) == {0: 2, 1: 2, 2: 2}
    assert len(plan_check(3, CheckConfig(trials=8))) == 8


def test_clips_are_written_once_under_names_that_do_not_tell_the_answer(tmp_path: Path) -> None:
    clips = write_check_clips(tmp_path, SR)
    assert len(set(clips.values())) == 6 and all(p.name.startswith("hc_") for p in clips.values())
    for trial, path in clips.items():
        audio, sr = sf.read(path, always_2d=True)
        assert sr == SR and audio.shape[1] == 2
        np.testing.assert_allclose(audio.T, check_audio(trial, SR), atol=1 / 32768 + 1e-6)
    stamps = {p: p.stat().st_mtime_ns for p in clips.values()}
    assert write_check_clips(tmp_path, SR) == clips and all(p.stat().st_mtime_ns == t for p, t in stamps.items())
