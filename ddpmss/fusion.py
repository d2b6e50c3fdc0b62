"""Fusion of the SepFormer estimate S and the diffusion estimate D (pipeline 3).

Design (lessons from the original fusion and from Separate-And-Diffuse, docs/pipelines.md):
- D is time-aligned to S first (the vocoder shifts its output by 8-13 ms), by an envelope
  cross-correlation lag search of +-`max_lag_ms`: D keeps no waveform phase, so the waveform
  correlation peak is too weak to trust, while its amplitude envelope follows S.
- A small CNN sees log magnitudes of S, D and the mixture X, and the phases of D and X relative to S.
- It predicts complex per-bin weights: Y = (1 + a) S + b D + g X, with the last layer zero-initialised,
  so before training the output is exactly S (it can never start worse than SepFormer). Giving it the
  mixture lets it repair SepFormer's errors, not only choose between S and D.
- With `rephase_d`, a fourth term c |D| e^{i angle S}: D's magnitude under S's phase. D keeps no phase of the
  talker's, so any b D adds error to an SI-SDR-trained output; D's magnitudes can still be closer to the
  talker's than S's (`ddpmss.fusion_evidence`), and this term lets the network use them.
- It reports the share of output energy that comes from D, to show whether D is used at all.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from speechbrain.inference.interfaces import Pretrained
from torch import nn

ENVELOPE_MS = 5.0  # long enough to smooth away pitch ripple, short enough for sample-level lags


def align_to(
    reference: torch.Tensor, signal: torch.Tensor, max_lag: int, envelope_width: int = 32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift each row of `signal` (B, T) by the integer lag within +-max_lag that best matches
    `reference`'s amplitude envelope. Returns (aligned signal, lags in samples; positive = was late)."""
    length = reference.shape[-1]
    env_r = _envelope(reference, envelope_width)
    env_s = _envelope(signal, envelope_width)
    n = 1 << (2 * length - 1).bit_length()
    xcorr = torch.fft.irfft(torch.fft.rfft(env_s, n) * torch.conj(torch.fft.rfft(env_r, n)), n)
    candidates = torch.cat([xcorr[:, n - max_lag :], xcorr[:, : max_lag + 1]], dim=1)  # lags -L..L
    lags = candidates.argmax(dim=1) - max_lag
    aligned = torch.stack([_shift(row, -int(lag)) for row, lag in zip(signal, lags)])
    return aligned, lags


def _envelope(x: torch.Tensor, width: int) -> torch.Tensor:
    kernel = torch.hann_window(width, device=x.device, dtype=x.dtype)
    env = F.conv1d(x.abs().unsqueeze(1), (kernel / kernel.sum()).view(1, 1, -1), padding=width // 2)
    env = env.squeeze(1)[:, : x.shape[-1]]
    return env - env.mean(dim=1, keepdim=True)


def _shift(x: torch.Tensor, lag: int) -> torch.Tensor:
    """Delay (lag > 0) or advance (lag < 0) a 1-D signal, filling with zeros."""
    if lag == 0:
        return x
    if lag > 0:
        return F.pad(x[:-lag], (lag, 0))
    return F.pad(x[-lag:], (0, -lag))


class FusionNet(nn.Module):
    """Complex per-bin fusion of S, D and the mixture X; the identity on S before training."""

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 512,
        hop_length: int = 128,
        channels: int = 32,
        layers: int = 4,
        max_lag_ms: float = 20.0,
        rephase_d: bool = False,
    ) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.rephase_d = rephase_d
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.max_lag = int(round(max_lag_ms * 1e-3 * sample_rate))
        self.envelope_width = max(3, int(ENVELOPE_MS * 1e-3 * sample_rate))
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        blocks: list[nn.Module] = [nn.Conv2d(7, channels, 3, padding=1), nn.PReLU(channels)]
        for i in range(layers - 2):
            dilation = 2 ** (i + 1)  # widen the receptive field along time
            blocks += [
                nn.Conv2d(channels, channels, 3, padding=(1, dilation), dilation=(1, dilation)),
                nn.PReLU(channels),
            ]
        self.body = nn.Sequential(*blocks)
        self.head = nn.Conv2d(channels, 8 if rephase_d else 6, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def _stft(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stft(x, self.n_fft, self.hop_length, window=self.window, return_complex=True)

    def forward(self, s: torch.Tensor, d: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """(B, T) estimates S, D and mixture X at `sample_rate` -> (fused (B, T), info).

        info: `d_share` (B,) share of output energy from D, `lag` (B,) samples D was shifted by.
        """
        length = s.shape[-1]
        d, lags = align_to(s, d, self.max_lag, self.envelope_width)
        scale = x.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1e-8)  # level-independent features
        S, D, X = (self._stft(v / scale) for v in (s, d, x))
        rel_d = torch.angle(D) - torch.angle(S)
        rel_x = torch.angle(X) - torch.angle(S)
        feats = torch.stack(
            [
                torch.log1p(S.abs()),
                torch.log1p(D.abs()),
                torch.log1p(X.abs()),
                torch.cos(rel_d),
                torch.sin(rel_d),
                torch.cos(rel_x),
                torch.sin(rel_x),
            ],
            dim=1,
        )
        w = self.head(self.body(feats))
        alpha = 1 + torch.complex(w[:, 0], w[:, 1])
        beta = torch.complex(w[:, 2], w[:, 3])
        gamma = torch.complex(w[:, 4], w[:, 5])
        part_s, part_d, part_x = alpha * S, beta * D, gamma * X
        if self.rephase_d:
            part_d = part_d + torch.complex(w[:, 6], w[:, 7]) * D.abs() * torch.exp(1j * torch.angle(S))
        fused = part_s + part_d + part_x
        y = torch.istft(fused, self.n_fft, self.hop_length, window=self.window, length=length) * scale
        energy = [p.abs().pow(2).sum(dim=(1, 2)) for p in (part_s, part_d, part_x)]
        d_share = energy[1] / (energy[0] + energy[1] + energy[2]).clamp_min(1e-12)
        return y, {"d_share": d_share.detach(), "lag": lags}


class FusionModel(Pretrained):
    """SpeechBrain interface for a saved fusion network (`hyperparams.yaml` + `fusion.ckpt`)."""

    HPARAMS_NEEDED = ["sample_rate"]
    MODULES_NEEDED = ["fusion"]

    @torch.inference_mode()
    def fuse(self, s: torch.Tensor, d: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Fuse (B, T) estimates at the network's sample rate."""
        return self.mods.fusion(s.to(self.device), d.to(self.device), x.to(self.device))
