"""Shaping each stimulus: the excerpt where the target talks, fades, and loudness normalisation.

Loudness is ITU-R BS.1770 integrated loudness (pyloudnorm); a stimulus is never made louder than
the peak limit of ddpmss.audio, so audio written here never clips.
"""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm

from ddpmss.audio import PEAK_LIMIT

FRAME_S = 0.01


def excerpt_window(target: np.ndarray, sr: int, length_s: float) -> tuple[int, int]:
    """Start and end sample of the `length_s` window where the target talker has the most energy."""
    n = round(length_s * sr)
    if len(target) <= n:
        return 0, len(target)
    hop = max(1, int(FRAME_S * sr))
    frames = len(target) // hop
    energy = np.square(target[: frames * hop].astype(np.float64)).reshape(frames, hop).sum(axis=1)
    width = n // hop
    sums = np.convolve(energy, np.ones(width), mode="valid")
    start = int(np.argmax(sums)) * hop
    start = min(start, len(target) - n)
    return start, start + n


def apply_fades(x: np.ndarray, sr: int, fade_ms: float) -> np.ndarray:
    """Raised-cosine fade-in and fade-out of `fade_ms` milliseconds."""
    y = np.array(x, dtype=np.float32)
    n = min(round(fade_ms * sr / 1000), len(y) // 2)
    if n > 0:
        ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)
        y[:n] *= ramp
        y[-n:] *= ramp[::-1]
    return y


def loudness(x: np.ndarray, sr: int) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770); NaN when the clip is too short or silent."""
    try:
        value = float(pyloudnorm.Meter(sr).integrated_loudness(np.asarray(x, dtype=np.float64)))
    except ValueError:  # shorter than one 400 ms gating block
        return math.nan
    return value if math.isfinite(value) else math.nan


def normalise_loudness(x: np.ndarray, sr: int, target_lufs: float) -> tuple[np.ndarray, float, float]:
    """Scale to `target_lufs` but never past the peak limit; returns (audio, loudness LUFS, gain dB).

    The gain returned is the one applied: lower than asked when the asked gain would clip.
    """
    measured = loudness(x, sr)
    if math.isnan(measured):
        return np.asarray(x, dtype=np.float32), math.nan, 0.0
    gain_db = target_lufs - measured
    peak = float(np.max(np.abs(x)))
    if peak > 0:
        gain_db = min(gain_db, 20 * math.log10(PEAK_LIMIT / peak))
    y = (np.asarray(x, dtype=np.float64) * 10 ** (gain_db / 20)).astype(np.float32)
    return y, measured + gain_db, gain_db
