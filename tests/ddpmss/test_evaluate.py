"""`python -m ddpmss.evaluate` (the model card's figures), run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ddpmss.evaluate import ABLATIONS, StartOnly, evaluate_mixtures, evaluate_vocoder, full_schedule_sampler
from ddpmss.pipelines import Separator
from ddpmss.settings import Settings
from ddpmss.training.schedule_search import candidate_schedules, search
from ddpmss.vocoder import PAPER_FAST_SCHEDULE
from tests.support.paths import ROOT

EXAMPLES = ROOT / "examples"


def _run(tmp_path: Path, module: str, *args: str) -> subprocess.CompletedProcess:
    """`python -m module args` on the CPU with its model cache under `tmp_path`, as a user runs it."""
    env = {**os.environ, "DDPMSS_CACHE_DIR": str(tmp_path / "cache"), "DDPMSS_DEVICE": "cpu"}
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.slow  # DNSMOS of eight outputs
def test_the_ablations_zero_or_swap_what_the_fusion_gets_from_diffwave(tiny_separator, monkeypatch) -> None:
    """With a fusion that adds DiffWave's estimate to SepFormer's, zeroing that input leaves SepFormer's, and
    swapping it adds the other talker's."""

    def add(s, d, mixture, sr):
        return s + d, [0.5, 0.5]

    monkeypatch.setattr(tiny_separator, "run_fusion", add)
    scores = evaluate_mixtures(tiny_separator, str(EXAMPLES / "examples.csv"), 1, workers=0, ablation=True)
    zeroed, swapped = (scores[name] for name in ABLATIONS)
    assert zeroed == scores["sepformer"] and zeroed["si_sdr"] != scores["sepformer_diffwave_fusion"]["si_sdr"]
    assert swapped["si_sdr"] not in (zeroed["si_sdr"], scores["sepformer_diffwave_fusion"]["si_sdr"])


@pytest.mark.slow
def test_evaluate_reports_every_pipeline_and_a_voice_balanced_vocoder_score(tmp_path: Path, tiny_models: Path) -> None:
    clean = tmp_path / "clean.csv"  # grouped by voice, as the corpus's lists are
    clean.write_text(
        "path,voice\n"
        + "".join(
            f"{EXAMPLES / name}/{src}.wav,{voice}\n"
            for name, src, voice in [
                ("tts_unseen_voices_1", "s1", "a"),
                ("tts_unseen_voices_2", "s1", "a"),
                ("tts_unseen_voices_1", "s2", "b"),
            ]
        )
    )
    out = tmp_path / "eval.json"
    proc = _run(
        tmp_path,
        "ddpmss.evaluate",
        "--models",
        str(tiny_models),
        "--mixtures",
        str(EXAMPLES / "examples.csv"),
        "--clean",
        str(clean),
        "--limit",
        "2",
        "--ablation",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    scores = report["examples"]
    assert scores["mixtures"] == 2
    assert all(isinstance(scores[name]["si_sdr"], float) for name in ABLATIONS)
    for pipeline in ("sepformer", "sepformer_diffwave", "sepformer_diffwave_fusion"):
        assert isinstance(scores[pipeline]["si_sdr_i"], float)
        low, high = scores[pipeline]["si_sdr_i_ci95"]  # over the 2 mixtures
        assert low <= scores[pipeline]["si_sdr_i"] <= high
    assert 0.0 <= scores["sepformer_diffwave_fusion"]["d_energy_share"] <= 1.0
    # --limit 2 over a list grouped by voice takes one utterance of each voice, not two of the first
    assert report["vocoder_resynthesis"]["utterances"] == 2 and report["vocoder_resynthesis"]["voices"] == 2
    assert 0.0 <= report["vocoder_resynthesis"]["stoi"] <= 1.0
    assert report["vocoder_resynthesis"]["sampling_steps"] == 6  # the pipeline's fast schedule by default
    assert report["vocoder_resynthesis"]["schedule"] == list(PAPER_FAST_SCHEDULE)  # the tiny model names none
    assert 1.0 <= report["vocoder_resynthesis"]["dnsmos_ovrl"] <= 5.0
    assert 1.0 <= report["vocoder_resynthesis"]["clean_dnsmos_ovrl"] <= 5.0  # the clean input, to compare with
    assert "si_sdr" not in report["vocoder_resynthesis"]  # meaningless for a phase-free re-synthesis
    low, high = report["vocoder_resynthesis"]["stoi_ci95"]  # over the 2 utterances
    assert low <= report["vocoder_resynthesis"]["stoi"] <= high and report["vocoder_resynthesis"]["seed"] == 0


@pytest.mark.slow
def test_schedule_search_ranks_the_candidates_on_the_same_noise(tmp_path: Path, tiny_models: Path) -> None:
    clean = tmp_path / "clean.csv"
    clean.write_text(f"path,voice\n{EXAMPLES / 'tts_unseen_voices_1'}/s1.wav,a\n")
    out = tmp_path / "search.json"
    proc = _run(
        tmp_path,
        "ddpmss.training.schedule_search",
        "--models",
        str(tiny_models),
        "--clean",
        str(clean),
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    ranked = json.loads(out.read_text())["ranked"]
    assert [r["schedule"] for r in ranked if r["schedule"] == list(PAPER_FAST_SCHEDULE)]  # the baseline is scored
    assert len(ranked) == len(candidate_schedules())
    stoi = [r["stoi"] for r in ranked]
    assert stoi == sorted(stoi, reverse=True) and all(0.0 <= v <= 1.0 for v in stoi)
    assert f"best: fast_schedule: {ranked[0]['schedule']}" in proc.stdout


def test_schedule_search_reports_a_schedule_outside_the_training_one(
    tmp_path: Path, tiny_models: Path, monkeypatch
) -> None:
    monkeypatch.setenv("DDPMSS_CACHE_DIR", str(tmp_path / "cache"))
    separator = Separator.from_settings(Settings.from_env(models=str(tiny_models), device="cpu"))
    too_noisy = [0.9] * 6  # destroys more signal than the model's last training step
    ranked = search(separator, "unused.csv", 1, [too_noisy])
    assert ranked == [{"schedule": too_noisy, "stoi": None, "skipped": ranked[0]["skipped"]}]
    assert "outside the model's training schedule" in ranked[0]["skipped"]


def test_vocoder_can_be_scored_through_its_whole_training_schedule(
    tmp_path: Path, tiny_models: Path, monkeypatch
) -> None:
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


def test_vocoder_score_is_reproducible_by_its_seed(tmp_path: Path, tiny_models: Path, monkeypatch) -> None:
    monkeypatch.setenv("DDPMSS_CACHE_DIR", str(tmp_path / "cache"))
    separator = Separator.from_settings(Settings.from_env(models=str(tiny_models), device="cpu", precision="fp32"))
    clean = tmp_path / "clean.csv"
    clean.write_text(f"path,voice\n{EXAMPLES / 'tts_unseen_voices_1'}/s1.wav,a\n")
    first, again, other = (evaluate_vocoder(separator, str(clean), 1, seed=s)["stoi"] for s in (0, 0, 1))
    assert first == again  # the same draws
    assert other != first  # another seed draws other noise


def test_the_samplers_start_alone_is_scored_as_a_baseline(tmp_path: Path, tiny_models: Path, monkeypatch) -> None:
    """`--vocoder-schedule start`: the shallow sampler's start with no DiffWave step, reported as 0 steps;
    it does not depend on the noise seed (the start is deterministic) and, from real speech, is intelligible."""
    monkeypatch.setenv("DDPMSS_CACHE_DIR", str(tmp_path / "cache"))
    separator = Separator.from_settings(Settings.from_env(models=str(tiny_models), device="cpu"))
    clean = tmp_path / "clean.csv"
    clean.write_text(f"path,voice\n{EXAMPLES / 'tts_unseen_voices_1'}/s1.wav,a\n")
    first, other = (evaluate_vocoder(separator, str(clean), 1, StartOnly(separator), seed=s) for s in (0, 1))
    assert first["sampling_steps"] == 0 and first["shallow"] and first["stoi"] == other["stoi"] > 0.7
