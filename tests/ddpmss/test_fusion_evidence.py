"""What a DiffWave estimate could add to SepFormer's (`ddpmss.fusion_evidence`), on speech with known answers,
and the `fusion-evidence` command on the original system's real outputs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from ddpmss.fusion_evidence import BranchEvidence, branch_evidence, mean_evidence
from tests.support.paths import ROOT, SAMPLES

SR = 16000


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    x, sr = sf.read(ROOT / "examples" / "tts_unseen_voices_1" / "s1.wav", dtype="float32")
    assert sr == SR
    return x[: 3 * SR]


def _random_phase(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """`x`'s STFT magnitude with a random phase: what a vocoder that keeps no phase gives at best."""
    window = torch.hann_window(512)
    spec = torch.stft(torch.from_numpy(x), 512, 128, window=window, return_complex=True)
    phase = torch.rand(spec.shape, generator=torch.Generator().manual_seed(seed)) * 2 * torch.pi
    return torch.istft(spec.abs() * torch.exp(1j * phase), 512, 128, window=window, length=len(x)).numpy()


def test_a_perfect_sepformer_leaves_nothing_for_diffwave(speech: np.ndarray) -> None:
    e = branch_evidence(speech, _random_phase(speech), speech, SR)
    assert e.s_phase_coherence == pytest.approx(1.0, abs=1e-6)
    assert abs(e.d_phase_coherence) < 0.3
    assert e.d_closer_share == 0.0 and e.oracle_gain_db == pytest.approx(0.0, abs=1e-6)


def test_a_noisy_sepformer_gains_from_diffwaves_magnitudes_but_not_its_phase(speech: np.ndarray) -> None:
    noise = np.random.default_rng(0).standard_normal(len(speech)).astype(np.float32)
    s = speech + 0.5 * noise * speech.std()
    e = branch_evidence(s, _random_phase(speech), speech, SR)
    assert e.s_phase_coherence > 0.6 and abs(e.d_phase_coherence) < 0.3
    assert e.d_closer_share > 0.0
    assert e.oracle_gain_db > 3.0


def test_diffwaves_delay_is_undone_before_its_phase_is_judged(speech: np.ndarray) -> None:
    delayed = np.concatenate([np.zeros(176, np.float32), speech[:-176]])  # 11 ms late, same waveform
    e = branch_evidence(speech, delayed, speech, SR)
    assert e.d_phase_coherence > 0.95


def test_the_mean_over_talkers() -> None:
    items = [BranchEvidence(1.0, 0.0, 0.2, 1.0), BranchEvidence(0.5, 0.1, 0.4, 3.0)]
    assert mean_evidence(items) == {
        "s_phase_coherence": 0.75,
        "d_phase_coherence": 0.05,
        "d_closer_share": 0.3,
        "oracle_gain_db": 2.0,
    }
    assert set(mean_evidence([]).values()) == {None}


def test_the_command_on_the_original_systems_real_outputs() -> None:
    """The real Libri2Mix case: the published DiffWave's output keeps no phase of the talker's."""
    proc = subprocess.run(
        [sys.executable, "-m", "ddpmss", "fusion-evidence"]
        + [str(SAMPLES / name) for name in ("separated-1.wav", "predicted-1.wav", "target-1.wav")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    e = json.loads(proc.stdout)
    assert e["s_phase_coherence"] > 0.5 and abs(e["d_phase_coherence"]) < 0.2
    assert set(e) == set(BranchEvidence.__dataclass_fields__)


def test_the_command_names_a_missing_file_in_one_sentence(tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ddpmss", "fusion-evidence"] + [str(tmp_path / n) for n in ("a.wav", "b.wav", "c.wav")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "c.wav" in proc.stderr
    assert str(tmp_path) not in proc.stderr
