"""Fixtures of the reliability tests: where each test writes the figures it measured."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def figures_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RELIABILITY_FIGURES when set (to render docs/reliability.md from afterwards), else a temporary folder.

    Each test writes only its own section's file, so no test depends on another or on their order, and
    no tracked file changes during a run.
    """
    chosen = os.environ.get("RELIABILITY_FIGURES")
    if chosen:
        folder = Path(chosen).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("reliability-figures")
