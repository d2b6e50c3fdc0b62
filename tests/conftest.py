"""Shared fixtures: tiny random-weight models written in the real SpeechBrain layout."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder (sepformer/ diffwave/ fusion/) with tiny random-weight models."""
    from tests.support.tiny_models import write_tiny_models

    return write_tiny_models(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def tiny_settings(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory):
    from ddpmss.settings import Settings

    return Settings(models=str(tiny_models), device="cpu", cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def tiny_separator(tiny_settings):
    """A Separator over the tiny models, loaded through the real SpeechBrain code."""
    from ddpmss.pipelines import Separator

    return Separator.from_settings(tiny_settings)


@pytest.fixture()
def speechlike() -> tuple[np.ndarray, np.ndarray, int]:
    """Two different 1.5 s harmonic 'talkers' at 16 kHz with syllable-like envelopes."""
    sr = 16000
    t = np.arange(int(1.5 * sr)) / sr
    rng = np.random.default_rng(0)

    def talker(f0: float, rate: float) -> np.ndarray:
        env = 0.5 * (1 + np.sin(2 * np.pi * rate * t)) ** 2
        tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8))
        return (0.1 * env * tone + 0.001 * rng.standard_normal(len(t))).astype(np.float32)

    return talker(120, 3.0), talker(210, 4.3), sr
