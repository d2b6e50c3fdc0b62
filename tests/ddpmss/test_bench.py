"""The benchmark measures stock and ours on the same models and reports every required figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ddpmss.bench import _pair, bench_metrics, bench_models, synthetic_mixture
from ddpmss.metrics import score_many


def test_pair_reports_speedup_and_real_time_factors() -> None:
    assert _pair(3.0, 1.5, seconds=2) == {
        "stock_s": 3.0,
        "ours_s": 1.5,
        "speedup": 2.0,
        "stock_rtf": 1.5,
        "ours_rtf": 0.75,
    }


@pytest.mark.slow
def test_bench_models_reports_stock_and_ours(tiny_settings) -> None:
    result = bench_models("tiny", tiny_settings, runs=1, durations=(1,))
    entry = result["1s"]
    for key in ("all_three", "sepformer", "vocoder"):
        assert entry[key]["stock_s"] > 0 and entry[key]["ours_s"] > 0
    # The stock path runs SepFormer three times and the vocoder twice: its end-to-end time covers at least
    # twice the median SepFormer call and both vocoder calls.
    stock = {key: entry[key]["stock_s"] for key in ("all_three", "sepformer", "vocoder")}
    assert stock["all_three"] >= 2 * stock["sepformer"] + 2 * stock["vocoder"] - 1e-3
    assert entry["peak_rss_mib"]["ours"] > 0
    assert result["bf16_vs_fp32_si_sdr_db"] > 20


@pytest.mark.slow
def test_metrics_in_two_processes_match_one() -> None:
    rng = np.random.default_rng(0)
    ref = synthetic_mixture(1.0)
    noise = (0.1 * np.std(ref) * rng.standard_normal(len(ref))).astype(np.float32)
    jobs = [(ref + noise, ref, 16000, None, False), (ref + 3 * noise, ref, 16000, None, False)]
    one, two = score_many(jobs, workers=1), score_many(jobs, workers=2)
    assert [s["si_sdr"] for s in two] == pytest.approx([s["si_sdr"] for s in one], abs=1e-9)
    assert [s["stoi"] for s in two] == pytest.approx([s["stoi"] for s in one], abs=1e-9)
    # noise 20 dB and 20 - 20 log10(3) = 10.5 dB below the reference
    assert [s["si_sdr"] for s in one] == pytest.approx([20.0, 10.46], abs=0.3)
    result = bench_metrics(n=2, seconds=1.0)
    assert result["stimuli"] == 2
    assert result["inline_s"] > 0 and result["workers_1_s"] > 0 and result["workers_2_s"] > 0


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
