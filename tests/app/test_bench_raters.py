"""`python -m app.bench_raters` end to end with 3 raters and 2 submissions each (no timing is asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.bench_raters import run_bench


@pytest.mark.slow
def test_rater_benchmark_runs_the_app_and_reports_every_submission(tmp_path: Path) -> None:
    out = tmp_path / "rater_bench.json"
    report = run_bench(out, raters=3, ratings=2, clip_s=0.3, think_s=(0.0, 0.1), db_url=None, settle_s=0.0)
    assert json.loads(out.read_text()) == report
    assert (report["acknowledged"], report["errors"], report["finished_sessions"]) == (6, 0, 3)
    assert 0 < report["p50_ms"] <= report["p95_ms"] <= report["max_ms"]
    assert report["command"].startswith("python -m app.bench_raters --raters 3 --ratings 2")
