"""DiffWave re-synthesis of separated speech: the mel front end and a fast fixed-schedule sampler.

The sampler is our own (not `DiffWaveDiffusion.inference`) because the stock loop recomputes, at each
of the 6 steps, work that does not depend on the step: the mel upsampler, every residual layer's
conditioner projection and the step embeddings. Here they are computed once per call. With the same
noise the fp32 result equals the stock one (tests/ddpmss/test_vocoder.py checks it).

A model may also be sampled by shallow diffusion (DiffSinger's mechanism, Liu et al. 2022): the reverse
process starts from an estimate of the waveform made from the mel alone, noised to the level of one of the
last fast steps, instead of from pure noise (`shallow_steps` in its hyperparams.yaml; `model_sampler` reads
it). The estimate's phase is reconstructed from the mel's magnitudes (PGHI or Griffin-Lim), not the input's,
so the output keeps no waveform phase either.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
import torchaudio
from speechbrain.lobes.models.HifiGAN import mel_spectrogram

from ddpmss.pghi import pghi_phase

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


# The 6-step fast noise schedule of the DiffWave paper (Kong et al. 2021, set by hand) for its T=50
# models, with which the public checkpoint is sampled. A model may name its own, chosen for it by
# `python -m ddpmss.training.schedule_search`, as `fast_schedule` in its hyperparams.yaml.
PAPER_FAST_SCHEDULE = (0.0001, 0.001, 0.01, 0.05, 0.2, 0.5)

# The least-squares inverse of the mel is zero where it came out negative; its log is taken from this floor
# (far below the mel's own floor of 1e-5) when the start interpolates magnitudes to a finer hop.
LOG_FLOOR = 1e-8
# How a shallow sampler's start gets its phase (`start_phase` in a model's hyperparams.yaml)
START_PHASES = ("pghi", "griffin_lim")


def _hparam(hparams: object, key: str) -> object:
    return hparams.get(key) if isinstance(hparams, dict) else getattr(hparams, key, None)


def model_fast_schedule(hparams: object) -> list[float]:
    """The vocoder's own fast schedule (`fast_schedule` in its hyperparams), else the DiffWave paper's."""
    return [float(b) for b in (_hparam(hparams, "fast_schedule") or PAPER_FAST_SCHEDULE)]


def model_sampler(
    hparams: object,
    diffwave: torch.nn.Module,
    diffusion: torch.nn.Module,
    precision: str = "fp32",
    schedule: list[float] | None = None,
    shallow_steps: int | None = None,
) -> "FastDiffWave":
    """The sampler a vocoder's hyperparams ask for: its fast schedule (or `schedule`) and, when they name
    `shallow_steps`, shallow diffusion from the start `model_start` reads from them.
    `shallow_steps` overrides the model's count; 0 samples every step from pure noise."""
    steps = _hparam(hparams, "shallow_steps") if shallow_steps is None else shallow_steps
    return FastDiffWave(
        diffwave,
        diffusion,
        schedule or model_fast_schedule(hparams),
        precision,
        start=model_start(hparams) if steps else None,
        shallow_steps=int(steps) if steps else None,
    )


def model_start(hparams: object) -> MelInversionStart:
    """The start of shallow sampling a vocoder's hyperparams name: the phase of `start_phase` (default
    `griffin_lim`), Griffin-Lim's with `griffin_lim_iterations` (default 32), on an STFT of hop
    `start_hop_length` (default the mel's hop)."""
    return MelInversionStart(
        MelConfig.from_hparams(hparams),
        str(_hparam(hparams, "start_phase") or "griffin_lim"),
        int(_hparam(hparams, "griffin_lim_iterations") or 32),
        _hparam(hparams, "start_hop_length"),
    )


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


class MelInversionStart:
    """A waveform estimate from a log-mel spectrogram, the shallow sampler's starting point: torchaudio's
    least-squares inverse of the mel filter bank, then a phase for that magnitude, either by Phase Gradient
    Heap Integration (`pghi`, `ddpmss.pghi`) or by Griffin-Lim from a zero phase (`griffin_lim`, `iterations`
    of them). Both are deterministic, and neither knows the input's phase.

    `hop_length` (a divisor of the mel's hop; default the mel's hop): the hop of the STFT the phase is made
    for. A finer hop than the mel's interpolates the log magnitude between the mel's frames; PGHI's phase is
    more consistent on a more redundant STFT (Průša et al. 2017; tests/ddpmss/test_pghi.py measures it), which
    is heard as a less phasey start (MODEL_CARD.md, stage 11)."""

    def __init__(
        self, mel: MelConfig, phase: str = "griffin_lim", iterations: int = 32, hop_length: int | None = None
    ) -> None:
        if mel.power != 1.0 or not mel.compression:
            raise ValueError("A mel inversion start needs a log-magnitude mel (spec_power 1, spec_compression).")
        if phase not in START_PHASES:
            raise ValueError(f"start_phase must be one of {', '.join(START_PHASES)}, not {phase!r}.")
        hop_length = int(hop_length or mel.hop_length)
        if hop_length <= 0 or mel.hop_length % hop_length:
            raise ValueError(f"start_hop_length must divide the mel's hop ({mel.hop_length}), not {hop_length}.")
        self.phase, self.win_length, self.hop_length = phase, mel.win_length, hop_length
        self.mel_hop_length = mel.hop_length
        self.inverse_mel = torchaudio.transforms.InverseMelScale(
            mel.n_fft // 2 + 1,
            mel.n_mels,
            mel.sample_rate,
            mel.f_min,
            mel.f_max,
            norm=mel.norm,
            mel_scale=mel.mel_scale,
        )
        self.griffin_lim = torchaudio.transforms.GriffinLim(
            n_fft=mel.n_fft,
            win_length=mel.win_length,
            hop_length=hop_length,
            power=1.0,
            n_iter=iterations,
            rand_init=False,
        )

    @torch.inference_mode()
    def __call__(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, frames) log-mel -> (B, frames * the mel's hop) waveform, on the mel's device."""
        self.inverse_mel.to(mel.device)  # their filter bank and window follow the mel (a no-op once there)
        self.griffin_lim.to(mel.device)
        magnitude = self._finer(self.inverse_mel(mel.float().exp()))
        wav = self._pghi(magnitude) if self.phase == "pghi" else self.griffin_lim(magnitude)
        length = mel.shape[-1] * self.mel_hop_length
        return F.pad(wav, (0, max(0, length - wav.shape[-1])))[..., :length]

    def key(self) -> str:
        """What makes this start's output, for caches of outputs made from it."""
        return f"{self.phase}/{self.hop_length}"

    def _finer(self, magnitude: torch.Tensor) -> torch.Tensor:
        """(B, bins, frames) at the mel's hop -> (B, bins, frames * factor) at `hop_length`: the log magnitude
        interpolated linearly between frame centres (the last frame's held to the end)."""
        factor = self.mel_hop_length // self.hop_length
        if factor == 1:
            return magnitude
        log_magnitude = torch.log(magnitude.clamp_min(LOG_FLOOR))
        fine = F.interpolate(
            log_magnitude, size=(magnitude.shape[-1] - 1) * factor + 1, mode="linear", align_corners=True
        )
        return F.pad(fine, (0, factor - 1), mode="replicate").exp()

    def _pghi(self, magnitude: torch.Tensor) -> torch.Tensor:
        phase = torch.stack(
            [torch.from_numpy(pghi_phase(m.cpu().numpy(), self.win_length, self.hop_length)) for m in magnitude]
        ).to(magnitude.device, torch.float32)
        return torch.istft(
            torch.polar(magnitude, phase),
            self.griffin_lim.n_fft,
            self.hop_length,
            self.win_length,
            self.griffin_lim.window,
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
                twiddle = (train_cum[t] ** 0.5 - alpha_cum[s] ** 0.5) / (train_cum[t] ** 0.5 - train_cum[t + 1] ** 0.5)
                steps.append(float(t + twiddle))
                break
    if len(steps) != len(schedule):
        raise ValueError("The fast noise schedule falls outside the model's training schedule.")
    return steps


# Largest time slice (samples, halo included) evaluated at once: keeps the widest activation,
# (1, 2 x 64 channels, slice) in fp32, under glibc's 32 MiB mmap threshold, so the thousands of
# temporaries of a call are recycled from the heap instead of page-faulted in anew each time.
MAX_SLICE = 65536
# Hoist the conditioner projections (layers x 2C x T values per source) only up to this size;
# above it (very long inputs) they are recomputed per step, as the stock sampler does.
HOIST_BUDGET_BYTES = 2 * 2**30


class FastDiffWave:
    """Fixed-schedule DiffWave sampling with step-invariant work hoisted out of the loop.

    Sources are sampled one at a time and each step runs over overlapping time slices whose halo
    covers the network's receptive field, so every output sample is the same as from one pass over
    the whole signal; the noise is drawn in the stock order, so a seeded call reproduces the stock one.
    """

    def __init__(
        self,
        diffwave: torch.nn.Module,
        diffusion: torch.nn.Module,
        schedule: list[float],
        precision: str = "fp32",
        max_slice: int = MAX_SLICE,
        start: MelInversionStart | None = None,
        shallow_steps: int | None = None,
    ) -> None:
        """`start` and `shallow_steps`: shallow diffusion, the last `shallow_steps` steps of `schedule` from
        `start`'s estimate noised to that step's level; without them, every step from pure noise."""
        # bf16: a bf16 copy of the weights, cast once (autocast would re-cast every weight at every call)
        self.dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        self.fp32_net = diffwave
        self.net = diffwave if self.dtype == torch.float32 else copy.deepcopy(diffwave).to(self.dtype)
        self.schedule = [float(b) for b in schedule]
        self.steps = fast_schedule_steps(diffusion, self.schedule)
        self.precision = precision
        if (start is None) != (shallow_steps is None) or not 0 < (shallow_steps or 1) <= len(self.schedule):
            raise ValueError(f"Shallow diffusion needs a start and 1 to {len(self.schedule)} steps.")
        self.start = start
        self.taken = shallow_steps or len(self.schedule)  # reverse steps taken per call
        # each dilated conv reaches dilation * (kernel - 1) / 2 samples to either side
        self.halo = sum(
            int(layer.dilated_conv.conv.dilation[0]) * (int(layer.dilated_conv.conv.kernel_size[0]) - 1) // 2
            for layer in diffwave.residual_layers
        )
        self.core = max(max_slice - 2 * self.halo, self.halo, 1)

    @torch.inference_mode()
    def __call__(
        self,
        mel: torch.Tensor,
        hop_length: int,
        generator: torch.Generator | None = None,
        on_step: Callable[[int, int, int], None] | None = None,
    ) -> torch.Tensor:
        """(B, n_mels, frames) -> (B, frames * hop_length) waveform.

        `on_step(source, step, steps)` (1-based) is called before each step of each source: a progress
        report, and a point where a caller may stop the work by raising."""
        device = mel.device
        shape = (mel.shape[0], hop_length * mel.shape[-1])
        # the stock order of draws: the starting noise, then one draw per step but the last
        noises = [torch.randn(shape, device=device, generator=generator)]
        noises += [torch.randn(shape, device=device, generator=generator) for _ in range(self.taken - 1)]
        starts = self.start(mel).to(device) if self.start is not None else None
        return torch.cat(
            [
                self._sample_one(
                    mel[b : b + 1],
                    [z[b : b + 1] for z in noises],
                    starts[b : b + 1] if starts is not None else None,
                    partial(on_step, b + 1) if on_step else None,
                )
                for b in range(mel.shape[0])
            ]
        )

    def _sample_one(
        self,
        mel: torch.Tensor,
        noises: list[torch.Tensor],
        start: torch.Tensor | None,
        on_step: Callable[[int, int], None] | None = None,
    ) -> torch.Tensor:
        net, device = self.net, mel.device
        betas = torch.tensor(self.schedule, dtype=torch.float32)
        alphas = 1 - betas
        alpha_cum = torch.cumprod(alphas, 0)
        layers = list(net.residual_layers)
        upsampled = net.spectrogram_upsampler(mel.to(self.dtype))
        values = len(layers) * layers[0].conditioner_projection.conv.out_channels * upsampled.shape[-1]
        hoist = values * upsampled.element_size() <= HOIST_BUDGET_BYTES
        conditioners = [_pointwise(layer.conditioner_projection, upsampled) for layer in layers] if hoist else None
        step_proj = []  # step embeddings: tiny, computed in fp32 by the original modules
        for t in self.steps[: self.taken]:
            emb = self.fp32_net.diffusion_embedding(torch.tensor([t], device=device))
            step_proj.append(
                [
                    layer.diffusion_projection(emb).unsqueeze(-1).to(self.dtype)
                    for layer in self.fp32_net.residual_layers
                ]
            )
        first = self.taken - 1
        if start is None:
            audio = noises[0]
        else:  # q(x_first | start): the estimate noised to the first step's level
            audio = alpha_cum[first] ** 0.5 * start + (1 - alpha_cum[first]) ** 0.5 * noises[0]
        for i, n in enumerate(range(first, -1, -1)):
            if on_step is not None:
                on_step(i + 1, self.taken)
            noise = torch.empty_like(audio)
            for lo, hi, start, stop in self._slices(audio.shape[-1]):
                conds = [c[..., lo:hi] for c in conditioners] if conditioners is not None else [None] * len(layers)
                pred = self._predict_noise(
                    audio[:, lo:hi].to(self.dtype), layers, conds, upsampled[..., lo:hi], step_proj[n]
                )
                noise[:, start:stop] = pred[:, start - lo : stop - lo].float()
            c1 = 1 / alphas[n] ** 0.5
            c2 = betas[n] / (1 - alpha_cum[n]) ** 0.5
            audio = c1 * (audio - c2 * noise)
            if n > 0:
                sigma = ((1.0 - alpha_cum[n - 1]) / (1.0 - alpha_cum[n]) * betas[n]) ** 0.5
                audio = audio + sigma * noises[i + 1]
            audio = torch.clamp(audio, -1.0, 1.0)
        return audio

    def _slices(self, length: int) -> list[tuple[int, int, int, int]]:
        """(lo, hi, start, stop): evaluate [lo, hi), keep [start, stop) (beyond the halo of each edge)."""
        return [
            (
                max(0, start - self.halo),
                min(length, start + self.core + self.halo),
                start,
                min(length, start + self.core),
            )
            for start in range(0, length, self.core)
        ]

    def _predict_noise(
        self, audio: torch.Tensor, layers: list, conditioners: list, upsampled: torch.Tensor, step_proj: list
    ) -> torch.Tensor:
        """The network's forward pass, with SpeechBrain's arithmetic in the same order, done in place
        where the stock code allocates (fewer large temporaries)."""
        net = self.net
        x = F.relu(_pointwise(net.input_projection, audio.unsqueeze(1)))
        skip = None
        for layer, cond, dproj in zip(layers, conditioners, step_proj):
            y = layer.dilated_conv(x + dproj)
            y += _pointwise(layer.conditioner_projection, upsampled) if cond is None else cond
            gate, filt = torch.chunk(y, 2, dim=1)
            y = _pointwise(layer.output_projection, gate.sigmoid_().mul_(filt.tanh_()))
            residual, skip_part = torch.chunk(y, 2, dim=1)
            x = x.add_(residual).div_(math.sqrt(2.0))
            skip = skip_part if skip is None else skip.add_(skip_part)
        x = F.relu(_pointwise(net.skip_projection, skip.div_(math.sqrt(len(layers)))))
        return _pointwise(net.output_projection, x).squeeze(1)


def _pointwise(conv: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A kernel-1 SpeechBrain Conv1d without its wrapper, whose 'same' padding of zero samples still
    copies the input."""
    return conv.conv(x)
