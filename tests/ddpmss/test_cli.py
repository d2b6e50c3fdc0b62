"""The ddpmss command line, run as a user would: a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.support.paths import ROOT


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "ddpmss", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300
    )


@pytest.mark.slow
def test_separate_with_refs_writes_sources_and_metrics(tmp_path: Path, tiny_models: Path, speechlike) -> None:
    a, b, sr = speechlike
    for name, x in (("mix", a + b), ("s1", a), ("s2", b)):
        sf.write(tmp_path / f"{name}.wav", x, sr)
    out = tmp_path / "out"
    proc = run(
        "separate",
        str(tmp_path / "mix.wav"),
        "--out",
        str(out),
        "--refs",
        str(tmp_path / "s1.wav"),
        str(tmp_path / "s2.wav"),
        "--models",
        str(tiny_models),
    )
    assert proc.returncode == 0, proc.stderr
    for pipeline in ("sepformer", "sepformer_diffwave", "sepformer_diffwave_fusion"):
        for i in (1, 2):
            x, file_sr = sf.read(out / pipeline / f"source{i}.wav")
            assert file_sr == 16000 and len(x) == len(a) and np.max(np.abs(x)) < 1.0
    metrics = json.loads((out / "metrics.json").read_text())
    first = metrics["pipelines"]["sepformer"]["metrics"][0]
    assert set(first) >= {"si_sdr", "si_sdr_i", "pesq_nb", "pesq_wb", "stoi", "estoi", "dnsmos_ovrl"}
    assert "models" in metrics and "sepformer" in metrics["timings_s"]


def test_score_prints_one_json_object(tmp_path: Path, speechlike) -> None:
    a, b, sr = speechlike
    sf.write(tmp_path / "ref.wav", a, sr)
    sf.write(tmp_path / "est.wav", a + 0.1 * b, sr)
    proc = run("score", str(tmp_path / "est.wav"), str(tmp_path / "ref.wav"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["si_sdr"] > 10
    assert set(result) >= {"si_sdr", "pesq_nb", "pesq_wb", "stoi", "estoi", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"}


def test_bad_input_is_one_sentence_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "bad.wav").write_text("not audio")
    proc = run("separate", str(tmp_path / "bad.wav"), "--out", str(tmp_path / "o"), "--models", "offline")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
