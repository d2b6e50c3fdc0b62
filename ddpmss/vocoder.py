"""DiffWave re-synthesis of separated speech: the mel front end and a fast fixed-schedule sampler.

The sampler is our own (not `DiffWaveDiffusion.inference`) because the stock loop recomputes, at each
of the 6 steps, work that does not depend on the step: the mel upsampler, every residual layer's
conditioner projection and the step embeddings. Here they are computed once per call. With the same
noise the fp32 result equals the stock one (tests/test_vocoder.py checks it).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from speechbrain.lobes.models.HifiGAN import mel_spectrogram

# Mel settings of the public `speechbrain/tts-diffwave-ljspeech` recipe; its hyperparams.yaml names
# only n_mels and hop, so these are the fallback. Our own models store every value in their yaml.
LJSPEECH_MEL = {
    "sample_rate": 22050,
    "spec_n_fft": 1024,
    "spec_win_length": 1024,
    "spec_hop_length": 256,
    "spec_n_mels": 80,
    "spec_f_min": 0.0,
    "spec_f_max": 8000.0,
    "spec_power": 1.0,
    "spec_norm": "slaney",
    "spec_mel_scale": "slaney",
    "spec_compression": True,
}


@dataclass(frozen=True)
class MelConfig:
    """The mel spectrogram a vocoder was trained on."""

    sample_rate: int
    n_fft: int
    win_length: int
    hop_length: int
    n_mels: int
    f_min: float
    f_max: float
    power: float
    norm: str
    mel_scale: str
    compression: bool

    @classmethod
    def from_hparams(cls, hparams: object) -> "MelConfig":
        """Read the settings from hparams (a dict or a loaded model's namespace), else the LJSpeech recipe."""
        lookup = hparams.get if isinstance(hparams, dict) else (lambda key: getattr(hparams, key, None))
        return cls(*(LJSPEECH_MEL[k] if lookup(k) is None else lookup(k) for k in LJSPEECH_MEL))

    def mel(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, T) waveform at `sample_rate` -> (B, n_mels, frames) log-mel, as in vocoder training."""
        return mel_spectrogram(
            sample_rate=self.sample_rate,
            hop_length=self.hop_length,
            win_length=self.win_length,
            n_fft=self.n_fft,
            n_mels=self.n_mels,
            f_min=self.f_min,
            f_max=self.f_max,
            power=self.power,
            normalized=False,
            norm=self.norm,
            mel_scale=self.mel_scale,
            compression=self.compression,
            audio=wav,
        )


def fast_schedule_steps(diffusion: torch.nn.Module, schedule: list[float]) -> list[float]:
    """Fractional training steps matching each fast-schedule noise level (as DiffWave's paper)."""
    # float32 like the stock sampler, so the matched steps are bit-identical to it
    alpha_cum = torch.cumprod(1 - torch.tensor(schedule, dtype=torch.float32), 0)
    train_cum = diffusion.alphas_cumprod.float().cpu()
    steps = []
    for s in range(len(schedule)):
        for t in range(len(train_cum) - 1):
            if train_cum[t + 1] <= alpha_cum[s] <= train_cum[t]:
                twiddle = (train_cum[t] ** 0.5 - alpha_cum[s] ** 0.5) / (
                    train_cum[t] ** 0.5 - train_cum[t + 1] ** 0.5
                )
                steps.append(float(t + twiddle))
                break
    if len(steps) != len(schedule):
        raise ValueError("The fast noise schedule falls outside the model's training schedule.")
    return steps


class FastDiffWave:
    """Fixed-schedule DiffWave sampling with step-invariant work hoisted out of the loop."""

    def __init__(self, diffwave: torch.nn.Module, diffusion: torch.nn.Module, schedule: list[float],
                 precision: str = "fp32") -> None:
        self.net = diffwave
        self.schedule = [float(b) for b in schedule]
        self.steps = fast_schedule_steps(diffusion, self.schedule)
        self.precision = precision

    def _autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.precision == "bf16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @torch.inference_mode()
    def __call__(self, mel: torch.Tensor, hop_length: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, n_mels, frames) -> (B, frames * hop_length) waveform."""
        net, device = self.net, mel.device
        betas = torch.tensor(self.schedule, dtype=torch.float32)
        alphas = 1 - betas
        alpha_cum = torch.cumprod(alphas, 0)
        layers = list(net.residual_layers)
        with self._autocast(device):
            upsampled = net.spectrogram_upsampler(mel)
            conditioners = [layer.conditioner_projection(upsampled) for layer in layers]
            step_proj = []
            for t in self.steps:
                emb = net.diffusion_embedding(torch.tensor([t], device=device))
                step_proj.append([layer.diffusion_projection(emb).unsqueeze(-1) for layer in layers])
        del upsampled
        audio = torch.randn(mel.shape[0], hop_length * mel.shape[-1], device=device, generator=generator)
        for n in range(len(self.schedule) - 1, -1, -1):
            with self._autocast(device):
                noise = self._predict_noise(audio, layers, conditioners, step_proj[n])
            c1 = 1 / alphas[n] ** 0.5
            c2 = betas[n] / (1 - alpha_cum[n]) ** 0.5
            audio = c1 * (audio - c2 * noise.float())
            if n > 0:
                sigma = ((1.0 - alpha_cum[n - 1]) / (1.0 - alpha_cum[n]) * betas[n]) ** 0.5
                audio = audio + sigma * torch.randn(audio.shape, device=device, generator=generator)
            audio = torch.clamp(audio, -1.0, 1.0)
        return audio

    def _predict_noise(self, audio: torch.Tensor, layers: list, conditioners: list, step_proj: list) -> torch.Tensor:
        net = self.net
        x = F.relu(net.input_projection(audio.unsqueeze(1)))
        skip = None
        for layer, cond, dproj in zip(layers, conditioners, step_proj):
            y = layer.dilated_conv(x + dproj) + cond
            gate, filt = torch.chunk(y, 2, dim=1)
            y = layer.output_projection(torch.sigmoid(gate) * torch.tanh(filt))
            residual, skip_part = torch.chunk(y, 2, dim=1)
            x = (x + residual) / math.sqrt(2.0)
            skip = skip_part if skip is None else skip + skip_part
        x = skip / math.sqrt(len(layers))
        x = F.relu(net.skip_projection(x))
        return net.output_projection(x).squeeze(1)
