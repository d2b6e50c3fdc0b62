"""The headphone screening of Woods, Siegel, Traer & McDermott (2017): which of three tones is the quietest?

Each trial plays three 200 Hz tones. One is 6 dB quieter than the others: that is the right answer. One
is in antiphase between the left and right channels. Over headphones the quieter tone is easy to pick;
over loudspeakers the two channels of the antiphase tone partly cancel in the air, so it sounds quietest
and a listener on loudspeakers picks it. A listener passes with at least `pass_correct` of `trials`
right (5 of 6 by default, the paper's criterion). Parameters and reasoning: docs/standards.md.

The tones are made here, not shipped as files: a few lines of numpy give exactly the stimulus the paper
describes, at the study's sample rate, and no third-party recordings travel with the project.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ddpmss.audio import write_audio

TONE_HZ = 200.0
TONE_S = 1.0
RAMP_S = 0.1  # raised-cosine onset and offset, against clicks
GAP_S = 0.5  # silence between the tones
QUIET_DB = -6.0  # the quieter tone, relative to the other two
PEAK = 0.1  # the louder tones' peak (-20 dBFS): the rater sets a comfortable level on the first trial
TONES = 3
CHOICES = tuple(range(TONES))  # the answer: which tone (0, 1 or 2) was the quietest


@dataclass(frozen=True)
class CheckConfig:
    """A study's `headphone_check:` section: how many trials, and how many right answers pass."""

    trials: int = 6
    pass_correct: int = 5


@dataclass(frozen=True)
class CheckTrial:
    """One trial: where the quieter tone (the right answer) and the antiphase tone are, 0-based."""

    quiet: int
    antiphase: int


ARRANGEMENTS = tuple(CheckTrial(q, a) for q, a in itertools.permutations(CHOICES, 2))  # 6 distinct trials


def plan_check(seed: int, config: CheckConfig) -> list[CheckTrial]:
    """The session's trials: the six arrangements in a seeded random order, each used once per round (so
    every position is the answer equally often), as many rounds as `config.trials` needs."""
    rng = random.Random(seed)
    trials: list[CheckTrial] = []
    while len(trials) < config.trials:
        round_ = list(ARRANGEMENTS)
        rng.shuffle(round_)
        trials += round_
    return trials[: config.trials]


def check_audio(trial: CheckTrial, sr: int) -> np.ndarray:
    """The trial's stereo signal, shape (2, samples): three tones `GAP_S` apart, float32."""
    n = int(round(TONE_S * sr))
    t = np.arange(n) / sr
    ramp = int(round(RAMP_S * sr))
    envelope = np.ones(n)
    rise = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
    envelope[:ramp], envelope[n - ramp :] = rise, rise[::-1]
    tone = PEAK * envelope * np.sin(2 * np.pi * TONE_HZ * t)
    gap = np.zeros((2, int(round(GAP_S * sr))))
    parts = []
    for position in CHOICES:
        gain = 10 ** (QUIET_DB / 20) if position == trial.quiet else 1.0
        right = -1.0 if position == trial.antiphase else 1.0
        parts += [np.stack([gain * tone, right * gain * tone]), gap]
    return np.concatenate(parts[:-1], axis=1).astype(np.float32)


def write_check_clips(folder: Path, sr: int) -> dict[CheckTrial, Path]:
    """One WAV per arrangement in `folder`, named by content hash so that a file name tells nothing."""
    folder.mkdir(parents=True, exist_ok=True)
    clips = {}
    for trial in ARRANGEMENTS:
        audio = check_audio(trial, sr)
        path = folder / f"hc_{hashlib.sha256(audio.tobytes()).hexdigest()[:16]}.wav"
        if not path.is_file():
            write_audio(path, audio, sr)
        clips[trial] = path
    return clips


def count_correct(trials: Sequence[CheckTrial], answers: Sequence[int | None]) -> int:
    """Right answers: the quieter tone picked (an unanswered trial counts as wrong)."""
    if len(answers) != len(trials):
        raise ValueError(f"The headphone check has {len(trials)} trials but {len(answers)} answers were given.")
    return sum(answer == trial.quiet for trial, answer in zip(trials, answers, strict=True))


def passed(trials: Sequence[CheckTrial], answers: Sequence[int | None], config: CheckConfig) -> bool:
    """Whether the listener passes: at least `config.pass_correct` right."""
    return count_correct(trials, answers) >= config.pass_correct
