"""The fusion network: exact identity before training, alignment of D, and the D-energy share."""

from __future__ import annotations

import torch

from ddpmss.fusion import FusionNet, align_to


def test_identity_before_training() -> None:
    torch.manual_seed(0)
    net = FusionNet()
    s, d, x = (torch.randn(2, 16000) * 0.1 for _ in range(3))
    with torch.no_grad():
        y, info = net(s, d, x)
    torch.testing.assert_close(y, s, atol=1e-5, rtol=0)
    assert torch.all(info["d_share"] == 0)


def test_alignment_finds_the_vocoder_delay() -> None:
    torch.manual_seed(0)
    sr = 16000
    t = torch.arange(sr) / sr
    envelope = torch.zeros(sr)
    for start in (1000, 4200, 7000, 11000, 13500):  # syllable-like bursts with sharp onsets
        envelope[start : start + 1800] = torch.hann_window(1800) ** 0.3
    s = envelope * torch.sin(2 * torch.pi * 200 * t)
    for delay in (-120, 0, 176):  # 11 ms late with a different phase: like DiffWave's output
        d = torch.roll(envelope * torch.sin(2 * torch.pi * 200 * t + 1.3), delay)
        aligned, lags = align_to(s.unsqueeze(0), d.unsqueeze(0), max_lag=int(0.02 * sr), envelope_width=80)
        assert abs(int(lags[0]) - delay) <= 16  # within 1 ms (the STFT hop is 8 ms)
        assert aligned.shape == (1, sr)


def test_d_share_reports_use_of_d() -> None:
    net = FusionNet(channels=4, layers=3)
    with torch.no_grad():
        net.head.bias[2] = 1.0  # beta = 1: D now contributes
    s, d, x = (torch.randn(1, 8000) * 0.1 for _ in range(3))
    with torch.no_grad():
        _, info = net(s, d, x)
    assert 0.2 < float(info["d_share"][0]) < 0.8


def test_gradients_reach_the_weights() -> None:
    net = FusionNet(channels=4, layers=3)
    s, d, x = (torch.randn(1, 8000) * 0.1 for _ in range(3))
    y, _ = net(s, d, x)
    (y - x).pow(2).mean().backward()
    assert net.head.weight.grad.abs().sum() > 0


def test_the_rephased_term_is_ds_magnitude_under_ss_phase() -> None:
    """With `rephase_d` the network starts as the identity too; its fourth weight adds |D| with S's phase."""
    torch.manual_seed(0)
    net = FusionNet(channels=4, layers=3, rephase_d=True)
    s, d, x = (torch.randn(1, 8000) * 0.1 for _ in range(3))
    with torch.no_grad():
        y, info = net(s, d, x)
        torch.testing.assert_close(y, s, atol=1e-5, rtol=0)
        assert float(info["d_share"][0]) == 0
        net.head.bias[6] = 1.0  # c = 1: Y = S + |D| e^{i angle S}
        y, info = net(s, d, x)
    aligned, _ = align_to(s, d, net.max_lag, net.envelope_width)
    S, D = (torch.stft(v, 512, 128, window=torch.hann_window(512), return_complex=True) for v in (s, aligned))
    expected = torch.istft(S + D.abs() * torch.exp(1j * torch.angle(S)), 512, 128, window=torch.hann_window(512))
    torch.testing.assert_close(y[:, : expected.shape[-1]], expected, atol=1e-4, rtol=0)
    assert 0.2 < float(info["d_share"][0]) < 0.8
