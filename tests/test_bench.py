"""The benchmark measures stock and ours on the same models and reports every required figure."""

from __future__ import annotations

import pytest

from ddpmss.bench import bench_metrics, bench_models


@pytest.mark.slow
def test_bench_models_reports_stock_and_ours(tiny_settings) -> None:
    result = bench_models("tiny", tiny_settings, runs=1, durations=(1,))
    entry = result["1s"]
    for key in ("all_three", "sepformer", "vocoder"):
        pair = entry[key]
        assert pair["stock_s"] > 0 and pair["ours_s"] > 0
        assert pair["speedup"] == pytest.approx(pair["stock_s"] / pair["ours_s"], rel=0.05)
    assert entry["peak_rss_mib"]["ours"] > 0
    assert result["bf16_vs_fp32_si_sdr_db"] > 20


@pytest.mark.slow
def test_metrics_in_two_processes_match_one() -> None:
    result = bench_metrics(n=2, seconds=1.0)
    assert result["inline_s"] > 0 and result["workers_1_s"] > 0 and result["workers_2_s"] > 0
    assert result["stimuli"] == 2
