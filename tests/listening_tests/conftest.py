"""The synthetic study (test_analysis.make_study) and its analysis, shared by the analysis tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from listening_tests import analysis
from tests.listening_tests.test_analysis import N_BOOT, make_study


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, analysis.AnalysisResult]:
    ratings_csv, manifest_csv = make_study(tmp_path_factory.mktemp("study"))
    return ratings_csv, manifest_csv, analysis.run_analysis(ratings_csv, manifest_csv, n_boot=N_BOOT)
