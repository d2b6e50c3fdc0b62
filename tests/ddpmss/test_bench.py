"""The benchmark measures stock and ours on the same models and reports every required figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


@pytest.mark.slow
def test_bench_command_writes_the_required_keys(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ddpmss",
            "bench",
            "--quick",
            "--durations",
            "1",
            "--skip-metrics",
            "--device",
            "cpu",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    for key in ("all_three_1s", "vocoder_1s"):
        assert report[key]["stock_s"] > 0 and report[key]["ours_s"] > 0 and report[key]["speedup"] > 0
    assert report["device"] == "cpu" and report["threads"] >= 1 and report["torch_version"]
    assert report["headline_models"] == "offline" and "metrics_parallel" not in report
