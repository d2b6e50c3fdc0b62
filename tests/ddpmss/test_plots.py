"""Spectrogram figures: silent frames give the colour floor, never a log10 warning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from ddpmss.plots import spectrogram_png

SR = 16000


@pytest.mark.filterwarnings("error")  # as under `python -W error`: any warning fails the test
def test_silent_frames_draw_at_the_floor_without_warnings(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    half_silent = np.zeros(SR, np.float32)
    half_silent[SR // 2 :] = 0.1 * rng.standard_normal(SR // 2)
    picture = imread(spectrogram_png(half_silent, SR, tmp_path / "half.png", "half silent"))
    assert picture.ndim == 3 and picture.std() > 0.05  # a drawn figure, not a blank canvas
    silent = imread(spectrogram_png(np.zeros(SR, np.float32), SR, tmp_path / "silent.png"))
    assert silent.shape == picture.shape
