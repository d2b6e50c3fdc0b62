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

from ddpmss.metrics import si_sdr, stoi_score
from tests.support.paths import ROOT


def run(*args: str, **extra_env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **extra_env}
    return subprocess.run(
        [sys.executable, "-m", "ddpmss", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300
    )


PIPELINES = ("sepformer", "sepformer_diffwave", "sepformer_diffwave_fusion")
PCM_DB = 0.05  # SI-SDR change from writing 16-bit WAV files (metrics.json is scored before writing)


def _separate(mixture: Path, refs: list[Path], out: Path, models: str) -> dict:
    """Run `separate` with references; returns metrics.json."""
    proc = run("separate", str(mixture), "--out", str(out), "--refs", *map(str, refs), "--models", models)
    assert proc.returncode == 0, proc.stderr
    return json.loads((out / "metrics.json").read_text())


def _written(out: Path, n_samples: int) -> dict[str, np.ndarray]:
    """The written sources per pipeline as (2, T) arrays, checked for rate, length and clipping."""
    outputs = {}
    for pipeline in PIPELINES:
        sources = []
        for i in (1, 2):
            x, file_sr = sf.read(out / pipeline / f"source{i}.wav", dtype="float32")
            assert file_sr == 16000 and len(x) == n_samples and np.max(np.abs(x)) < 1.0
            sources.append(x)
        outputs[pipeline] = np.stack(sources)
    return outputs


def _check_claims(metrics: dict, outputs: dict[str, np.ndarray], refs: list[np.ndarray], mix: np.ndarray) -> None:
    """SI-SDR and SI-SDRi recomputed from the written files equal what metrics.json claims."""
    for pipeline, sources in outputs.items():
        claimed = metrics["pipelines"][pipeline]["metrics"]
        for source, ref, claim in zip(sources, refs, claimed):
            assert si_sdr(source, ref) == pytest.approx(claim["si_sdr"], abs=PCM_DB), pipeline
            improvement = si_sdr(source, ref) - si_sdr(mix, ref)
            assert improvement == pytest.approx(claim["si_sdr_i"], abs=PCM_DB), pipeline


def _differ(a: np.ndarray, b: np.ndarray) -> bool:
    return float(np.max(np.abs(a - b))) > 1e-3


@pytest.mark.slow
def test_separate_with_refs_writes_sources_and_metrics(tmp_path: Path, tiny_models: Path, speechlike) -> None:
    a, b, sr = speechlike
    for name, x in (("mix", a + b), ("s1", a), ("s2", b)):
        sf.write(tmp_path / f"{name}.wav", x, sr)
    out = tmp_path / "out"
    metrics = _separate(tmp_path / "mix.wav", [tmp_path / "s1.wav", tmp_path / "s2.wav"], out, str(tiny_models))
    outputs = _written(out, len(a))
    _check_claims(metrics, outputs, [a, b], a + b)
    first = metrics["pipelines"]["sepformer"]["metrics"][0]
    assert set(first) >= {"si_sdr", "si_sdr_i", "pesq_nb", "pesq_wb", "stoi", "estoi", "dnsmos_ovrl"}
    assert "sepformer" in metrics["timings_s"] and metrics["sample_rate"] == 16000
    assert _differ(outputs["sepformer"], outputs["sepformer_diffwave"])  # the vocoder re-synthesised
    assert _differ(outputs["sepformer"][0], outputs["sepformer"][1])  # two sources, not one copied


@pytest.mark.slow
def test_offline_models_separate_a_committed_example_as_the_model_card_says(tmp_path: Path) -> None:
    """The shipped models on an unseen-voices example: SepFormer separates, the fusion is no worse than
    SepFormer, the vocoder's output follows its own talker (STOI), and the three pipelines differ."""
    folder = ROOT / "examples" / "tts_unseen_voices_1"
    mix = sf.read(folder / "mix.wav", dtype="float32")[0]
    refs = [sf.read(folder / f"{name}.wav", dtype="float32")[0] for name in ("s1", "s2")]
    metrics = _separate(folder / "mix.wav", [folder / "s1.wav", folder / "s2.wav"], tmp_path / "out", "offline")
    outputs = _written(tmp_path / "out", len(mix))
    _check_claims(metrics, outputs, refs, mix)
    sepformer = np.mean([si_sdr(x, r) - si_sdr(mix, r) for x, r in zip(outputs["sepformer"], refs)])
    fusion = np.mean([si_sdr(x, r) - si_sdr(mix, r) for x, r in zip(outputs["sepformer_diffwave_fusion"], refs)])
    assert sepformer > 5.0  # model card: 10.3 dB mean SI-SDRi on unseen voices
    assert fusion > sepformer - 1.0  # model card: the fusion is not below SepFormer on unseen voices
    vocoded = outputs["sepformer_diffwave"]
    for i, j in ((0, 1), (1, 0)):  # each vocoded source is more intelligible against its own talker
        own = stoi_score(vocoded[i], refs[i], 16000, extended=False)[0]
        other = stoi_score(vocoded[i], refs[j], 16000, extended=False)[0]
        assert own > other + 0.1 and own > 0.4
    for p, q in ((0, 1), (0, 2), (1, 2)):
        assert _differ(outputs[PIPELINES[p]], outputs[PIPELINES[q]])


@pytest.mark.slow
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
    assert "bad.wav" in proc.stderr  # the sentence names the file


def test_invalid_environment_variable_is_one_sentence_naming_it(tmp_path: Path) -> None:
    mixture = ROOT / "examples" / "real_16k" / "mix.wav"
    proc = run("separate", str(mixture), "--out", str(tmp_path / "o"), DDPMSS_THREADS="several")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: The environment variable DDPMSS_THREADS has the value 'several'")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()  # stopped before separating anything
