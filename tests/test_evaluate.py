"""`python -m ddpmss.evaluate` (the model card's figures), run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ddpmss.evaluate import evaluate_vocoder, full_schedule_sampler
from ddpmss.pipelines import Separator
from ddpmss.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_evaluate_reports_every_pipeline_and_a_voice_balanced_vocoder_score(tmp_path: Path, tiny_models: Path) -> None:
    clean = tmp_path / "clean.csv"  # grouped by voice, as the corpus's lists are
    clean.write_text("path,voice\n" + "".join(f"{EXAMPLES / name}/{src}.wav,{voice}\n" for name, src, voice in [
        ("tts_unseen_voices_1", "s1", "a"), ("tts_unseen_voices_2", "s1", "a"), ("tts_unseen_voices_1", "s2", "b")]))
    out = tmp_path / "eval.json"
    proc = subprocess.run([sys.executable, "-m", "ddpmss.evaluate", "--models", str(tiny_models),
                           "--mixtures", str(EXAMPLES / "examples.csv"), "--clean", str(clean), "--limit", "2",
                           "--out", str(out)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "DDPMSS_CACHE_DIR": str(tmp_path / "cache"), "DDPMSS_DEVICE": "cpu"})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    scores = report["examples"]
    assert scores["mixtures"] == 2
    for pipeline in ("sepformer", "sepformer_diffwave", "sepformer_diffwave_fusion"):
        assert isinstance(scores[pipeline]["si_sdr_i"], float)
    assert 0.0 <= scores["sepformer_diffwave_fusion"]["d_energy_share"] <= 1.0
    # --limit 2 over a list grouped by voice takes one utterance of each voice, not two of the first
    assert report["vocoder_resynthesis"]["utterances"] == 2 and report["vocoder_resynthesis"]["voices"] == 2
    assert 0.0 <= report["vocoder_resynthesis"]["stoi"] <= 1.0
    assert report["vocoder_resynthesis"]["sampling_steps"] == 6  # the pipeline's fast schedule by default


def test_vocoder_can_be_scored_through_its_whole_training_schedule(tmp_path: Path, tiny_models: Path,
                                                                    monkeypatch) -> None:
    monkeypatch.setenv("DDPMSS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DDPMSS_DEVICE", "cpu")
    separator = Separator.from_settings(Settings.from_env(models=str(tiny_models)))
    sampler = full_schedule_sampler(separator)
    betas = separator.vocoder.hparams.diffusion.betas
    assert len(sampler.schedule) == len(betas) > 6
    assert sampler.steps == pytest.approx(list(range(len(betas))), abs=1e-3)  # every training step, in order
    clean = tmp_path / "clean.csv"
    clean.write_text(f"path,voice\n{EXAMPLES / 'tts_unseen_voices_1'}/s1.wav,a\n")
    scores = evaluate_vocoder(separator, str(clean), 1, sampler)
    assert scores["sampling_steps"] == len(betas) and 0.0 <= scores["stoi"] <= 1.0
