"""The signals of the test conditions: reference, mixture, BS.1534-3 low-pass anchors, pipeline outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import signal

from listening_tests.conditions import MIXTURE, REFERENCE, anchor_condition
from listening_tests.stimuli.loudness import apply_fades


def lowpass(x: np.ndarray, sr: int, cutoff_hz: float, order: int = 8) -> np.ndarray:
    """Zero-phase Butterworth low-pass (the MUSHRA anchors)."""
    sos = signal.butter(order, cutoff_hz, btype="lowpass", fs=sr, output="sos")
    return signal.sosfiltfilt(sos, x).astype(np.float32)


def condition_signals(
    ref: np.ndarray,
    mix: np.ndarray,
    sr: int,
    cutoffs: Sequence[int],
    estimates: Mapping[str, np.ndarray],
    fade_ms: float,
) -> dict[str, np.ndarray]:
    """Every test condition's signal of one excerpt (faded `ref` and `mix` are given as they are)."""
    signals = {REFERENCE: ref, MIXTURE: mix}
    for cutoff in cutoffs:
        signals[anchor_condition(cutoff)] = apply_fades(lowpass(ref, sr, cutoff), sr, fade_ms)
    for name, est in estimates.items():
        signals[name] = apply_fades(est, sr, fade_ms)
    return signals
