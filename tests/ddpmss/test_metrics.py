"""Metrics agree with independent implementations and with the measured real case."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics.functional.audio import scale_invariant_signal_distortion_ratio

from ddpmss.audio import load_audio
from ddpmss.metrics import (
    match_permutation,
    pesq_score,
    score,
    score_many,
    si_sdr,
    si_sdr_improvement,
    stoi_score,
)
from tests.support.paths import SAMPLES


def test_si_sdr_matches_torchmetrics() -> None:
    rng = np.random.default_rng(1)
    ref = rng.standard_normal(16000)
    for noise in (0.01, 0.3, 3.0):
        est = 0.7 * ref + noise * rng.standard_normal(16000) + 0.2  # scaled, noisy, with DC offset
        expected = scale_invariant_signal_distortion_ratio(torch.tensor(est), torch.tensor(ref), zero_mean=True).item()
        assert si_sdr(est, ref) == pytest.approx(expected, abs=1e-6)


def test_improvement_and_permutation(speechlike) -> None:
    a, b, _ = speechlike
    mix = a + b
    assert si_sdr_improvement(a + 0.1 * b, a, mix) > 10
    assert match_permutation(np.stack([b, a]), np.stack([a, b])) == (1, 0)


def test_undefined_metrics_are_missing_with_reason() -> None:
    silence = np.zeros(8000, np.float32)
    value, why = pesq_score(silence, silence, 16000, "wb")
    assert np.isnan(value) and "PESQ-WB" in why
    value, why = pesq_score(silence, silence, 8000, "wb")
    assert np.isnan(value) and "16 kHz" in why


@pytest.mark.parametrize(
    "est,ref,sisdr,pesq_wb,stoi",
    [
        ("mixed.wav", "target-1.wav", -3.21, 1.104, 0.692),
        ("mixed.wav", "target-2.wav", 3.28, 1.520, 0.912),
        ("separated-1.wav", "target-1.wav", 6.43, 1.204, 0.851),
        ("separated-2.wav", "target-2.wav", 3.54, 1.201, 0.858),
        ("predicted-1.wav", "target-1.wav", -19.17, 1.435, 0.845),
        ("predicted-2.wav", "target-2.wav", -24.21, 1.462, 0.759),
    ],
)
def test_real_case_matches_readme(est: str, ref: str, sisdr: float, pesq_wb: float, stoi: float) -> None:
    e, sr = load_audio(SAMPLES / est)
    r, _ = load_audio(SAMPLES / ref, target_sr=sr)
    assert sr == 16000
    assert si_sdr(e, r) == pytest.approx(sisdr, abs=0.05)
    assert pesq_score(e, r, sr, "wb")[0] == pytest.approx(pesq_wb, abs=0.02)
    assert stoi_score(e, r, sr, extended=False)[0] == pytest.approx(stoi, abs=0.005)


def test_permutation_by_si_sdr_not_pesq() -> None:
    refs = np.stack([load_audio(SAMPLES / f"target-{i}.wav")[0] for i in (1, 2)])
    ests = np.stack([load_audio(SAMPLES / f"separated-{i}.wav")[0] for i in (1, 2)])
    n = min(refs.shape[1], ests.shape[1])
    assert match_permutation(ests[:, :n], refs[:, :n]) == (0, 1)


def test_score_all_metrics_on_real_case() -> None:
    e, sr = load_audio(SAMPLES / "separated-1.wav")
    r, _ = load_audio(SAMPLES / "target-1.wav")
    m, _ = load_audio(SAMPLES / "mixed.wav")
    result = score(e, r, sr, mixture=m)
    assert result["si_sdr_i"] == pytest.approx(6.43 + 3.21, abs=0.1)
    assert 1.0 <= result["pesq_nb"] <= 4.6 and 0 < result["estoi"] < 1
    for key in ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"):
        assert 1.0 <= result[key] <= 5.0


@pytest.mark.slow
def test_worker_processes_score_as_inline(speechlike) -> None:
    """Single-threaded worker processes (DNSMOS sessions rebuilt there) give the inline scores."""
    a, b, sr = speechlike
    jobs = [(a + 0.1 * b, a, sr, a + b, True), (b + 0.2 * a, b, sr, a + b, True)]
    inline = score_many(jobs, 1)
    pooled = score_many(jobs, 2)
    for one, other in zip(inline, pooled):
        for key in ("si_sdr", "pesq_wb", "stoi", "dnsmos_ovrl"):
            assert other[key] == pytest.approx(one[key], abs=1e-4), key


@pytest.mark.slow
def test_the_single_thread_dnsmos_model_scores_as_speechmos(speechlike) -> None:
    """The lab's one-thread DNSMOS model (built once per process, P.808 model skipped) gives speechmos's own
    SIG, BAK and OVRL."""
    from ddpmss.metrics import dnsmos, single_thread_dnsmos

    a, b, sr = speechlike
    mixture = a + b
    for clip in (mixture, np.concatenate([mixture] * int(np.ceil(17 * sr / len(mixture))))[: 17 * sr]):
        # a short clip is repeated to 9.01 s; at 17 s speechmos skips the windows its float index cuts short
        assert dnsmos(clip, sr, single_thread_dnsmos()) == pytest.approx(dnsmos(clip, sr), abs=1e-6)
    assert single_thread_dnsmos() is single_thread_dnsmos()
    assert single_thread_dnsmos().onnx_sess.get_session_options().intra_op_num_threads == 1
