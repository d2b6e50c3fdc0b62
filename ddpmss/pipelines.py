"""The three pipelines behind one small interface: a mixture in, two source estimates per pipeline out.

Running several pipelines on one mixture runs SepFormer once and the vocoder once (both sources in
one batched call); the fusion reuses both. Stages are timed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from speechbrain.inference.separation import SepformerSeparation
from speechbrain.inference.vocoders import DiffWaveVocoder

from ddpmss.audio import fit_length, resample
from ddpmss.fusion import FusionModel
from ddpmss.metrics import match_permutation
from ddpmss.models import ModelSources, load_pretrained, model_checksums, resolve_sources
from ddpmss.settings import PIPELINES, Settings
from ddpmss.vocoder import MelConfig, model_sampler

SEGMENT_S = 30.0  # SepFormer separates longer mixtures in segments of this length (at most) ...
SEGMENT_OVERLAP_S = 1.0  # ... overlapping by this much (talker order matched, cross-faded)


@dataclass
class SeparationResult:
    """Two estimates per pipeline, shape (2, T) at `sample_rate`, with timings per stage (seconds).

    Source k of every pipeline comes from SepFormer's source k (the vocoder re-synthesises it, the fusion
    combines the two), so `sepformer_estimates` decides the talker order of all three pipelines.
    """

    sample_rate: int
    outputs: dict[str, np.ndarray]
    timings: dict[str, float]
    models: ModelSources
    sepformer_estimates: np.ndarray
    details: dict[str, list[float]] = field(default_factory=dict)  # e.g. fusion d_share per source

    def talker_order(self, references: Sequence[np.ndarray], sr: int | None = None) -> list[int]:
        """`order` such that source order[i] of every pipeline belongs to references[i] (at `sr`, default
        the result's rate), matched by SI-SDR on the SepFormer estimates. Not on each pipeline's own output:
        the vocoder keeps no waveform phase, so its SI-SDR (about -20 dB) cannot tell the talkers apart."""
        basis = self.sepformer_estimates
        if sr is not None and sr != self.sample_rate:
            basis = resample(basis, self.sample_rate, sr)
        n = min(basis.shape[-1], *(len(r) for r in references))
        return list(match_permutation(basis[:, :n], [r[:n] for r in references]))

    def aligned(self, references: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Every pipeline's estimates reordered so that source i belongs to references[i] (at `sample_rate`)."""
        order = self.talker_order(references)
        return {name: estimates[order] for name, estimates in self.outputs.items()}


class Separator:
    """Loaded models and the three pipelines; `separate()` is the one entry point."""

    def __init__(
        self,
        sepformer: SepformerSeparation,
        vocoder: DiffWaveVocoder,
        fusion: FusionModel | None,
        sources: ModelSources,
        settings: Settings,
    ) -> None:
        self.sepformer = sepformer
        self.vocoder = vocoder
        self.fusion = fusion
        self.models = sources
        self.checksums = model_checksums(sources, settings)  # which weights made each output (run.json)
        self.settings = settings
        self.device = torch.device(settings.resolved_device())
        self.sep_sr = int(getattr(sepformer.hparams, "sample_rate", 8000))
        self.mel = MelConfig.from_hparams(vocoder.hparams)
        self.sampler = model_sampler(
            vocoder.hparams,
            vocoder.mods.diffwave,
            vocoder.hparams.diffusion,
            settings.resolved_precision(),
            schedule=list(settings.fast_steps) if settings.fast_steps else None,
            shallow_steps=settings.shallow_steps,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> "Separator":
        """Resolve the model sources from settings and load all three models."""
        torch.set_num_threads(settings.threads or os.cpu_count() or 1)
        device = settings.resolved_device()
        sources = resolve_sources(settings)
        sepformer = load_pretrained(SepformerSeparation, sources.sepformer, settings, device)
        vocoder = load_pretrained(DiffWaveVocoder, sources.vocoder, settings, device)
        fusion = load_pretrained(FusionModel, sources.fusion, settings, device) if sources.fusion else None
        return cls(sepformer, vocoder, fusion, sources, settings)

    def separate(
        self,
        mixture: np.ndarray,
        sr: int,
        pipelines: Sequence[str] = PIPELINES,
        on_stage: Callable[[str], None] | None = None,
        on_step: Callable[[int, int, int], None] | None = None,
    ) -> SeparationResult:
        """Run the requested pipelines on a mono mixture of any sample rate.

        `on_stage(name)` is called as each stage (sepformer, vocoder, fusion) starts and `on_step(source,
        step, steps)` before each vocoder step, for progress bars; either may raise to stop the work there.
        """
        result = self._empty_result()
        for _ in self._stages(result, mixture, sr, pipelines, on_stage, on_step):
            pass
        return result

    def staged(
        self,
        mixture: np.ndarray,
        sr: int,
        pipelines: Sequence[str] = PIPELINES,
        on_stage: Callable[[str], None] | None = None,
        on_step: Callable[[int, int, int], None] | None = None,
    ) -> Iterator[tuple[str, SeparationResult]]:
        """`separate`, one pipeline at a time: yields (pipeline, result so far) as soon as each requested
        pipeline's estimates are in `result.outputs`, so a caller can show or score them while the next
        stage runs. The last result yielded is the one `separate` returns."""
        yield from self._stages(self._empty_result(), mixture, sr, pipelines, on_stage, on_step)

    def _stages(
        self,
        result: SeparationResult,
        mixture: np.ndarray,
        sr: int,
        pipelines: Sequence[str],
        on_stage: Callable[[str], None] | None,
        on_step: Callable[[int, int, int], None] | None,
    ) -> Iterator[tuple[str, SeparationResult]]:
        """Fill `result` stage by stage (the SepFormer estimates always), yielding after each requested pipeline."""
        unknown = [p for p in pipelines if p not in PIPELINES]
        if unknown:
            raise ValueError(f"Unknown pipeline(s) {', '.join(unknown)}; choose from {', '.join(PIPELINES)}.")
        out_sr = self.settings.output_sr
        length = int(round(len(mixture) * out_sr / sr))
        report = on_stage or (lambda name: None)

        report("sepformer")
        with _timed(result.timings, "sepformer"):
            s = self.run_sepformer(mixture, sr)
        result.sepformer_estimates = s_out = fit_length(resample(s, self.sep_sr, out_sr), length)
        if "sepformer" in pipelines:
            result.outputs["sepformer"] = s_out
            yield "sepformer", result
        if len(set(pipelines) - {"sepformer"}) == 0:
            return

        report("vocoder")
        with _timed(result.timings, "vocoder"):
            d = self.run_vocoder(s, self.sep_sr, on_step)
        d_out = fit_length(resample(d, self.mel.sample_rate, out_sr), length)
        if "sepformer_diffwave" in pipelines:
            result.outputs["sepformer_diffwave"] = d_out
            yield "sepformer_diffwave", result
        if "sepformer_diffwave_fusion" in pipelines:
            report("fusion")
            with _timed(result.timings, "fusion"):
                mix_out = fit_length(resample(np.asarray(mixture, np.float32), sr, out_sr), length)
                fused, share = self.run_fusion(s_out, d_out, mix_out, out_sr)
            result.outputs["sepformer_diffwave_fusion"] = fused
            result.details["fusion_d_share"] = share
            yield "sepformer_diffwave_fusion", result

    def _empty_result(self) -> SeparationResult:
        return SeparationResult(self.settings.output_sr, {}, {}, self.models, np.zeros((2, 0), np.float32))

    @torch.inference_mode()
    def run_sepformer(self, mixture: np.ndarray, sr: int) -> np.ndarray:
        """SepFormer at its own rate: (T,) mixture -> (2, T_sep) estimates.

        A mixture longer than one segment (SEGMENT_S, or less when the model's positional encoding
        is shorter) is separated in overlapping segments: each segment's talker order is matched to
        the previous one on the overlap, which is cross-faded. Without this, SepFormer fails on long
        inputs (its inter-chunk positional encoding covers about 5 minutes at 8 kHz).
        """
        mix = np.asarray(resample(np.asarray(mixture, np.float32), sr, self.sep_sr), np.float32)
        segment = self._segment_samples()
        if len(mix) <= segment:
            return self._sepformer_once(mix)
        overlap = max(1, int(SEGMENT_OVERLAP_S * self.sep_sr))
        out = np.zeros((2, len(mix)), np.float32)
        start, filled = 0, 0
        while True:
            piece = self._sepformer_once(mix[start : start + segment])[:, : len(mix) - start]
            shared = filled - start  # samples already written that this piece also covers
            if shared > 0:
                before, now = out[:, start:filled], piece[:, :shared]
                kept = abs(before[0] @ now[0]) + abs(before[1] @ now[1])
                swapped = abs(before[0] @ now[1]) + abs(before[1] @ now[0])
                piece = piece[::-1].copy() if swapped > kept else piece
                ramp = np.linspace(0.0, 1.0, shared, dtype=np.float32)
                piece[:, :shared] = before * (1 - ramp) + piece[:, :shared] * ramp
            out[:, start : start + piece.shape[1]] = piece
            filled = start + piece.shape[1]
            if filled >= len(mix):
                return out
            start = min(filled - overlap, len(mix) - segment)

    def _sepformer_once(self, mix: np.ndarray) -> np.ndarray:
        est = self.sepformer.separate_batch(torch.from_numpy(mix).unsqueeze(0).to(self.device))  # (1, T, 2)
        return est[0].T.float().cpu().numpy()[:, : len(mix)]

    def _segment_samples(self) -> int:
        """The longest input (samples at the SepFormer rate) separated in one pass."""
        segment = int(SEGMENT_S * self.sep_sr)
        try:
            stride = int(self.sepformer.mods.encoder.conv1d.stride[0])
            hop = max(1, int(self.sepformer.mods.masknet.K) // 2)
            lengths = [m.pe.shape[1] for m in self.sepformer.mods.masknet.modules() if hasattr(m, "pe")]
        except (AttributeError, TypeError, IndexError):
            return segment
        if lengths:
            segment = min(segment, int(0.9 * min(lengths) * hop * stride))
        return max(segment, int(2 * SEGMENT_OVERLAP_S * self.sep_sr))

    def run_vocoder(
        self, sources: np.ndarray, sr: int, on_step: Callable[[int, int, int], None] | None = None
    ) -> np.ndarray:
        """Re-synthesise (2, T) sources from their mel spectrograms, both in one batch; returns (2, T_voc).
        `on_step(source, step, steps)` is called before each step (FastDiffWave). The noise comes from
        `settings.vocoder_seed`, so the same sources give the same output."""
        wav = torch.from_numpy(np.asarray(resample(np.asarray(sources, np.float32), sr, self.mel.sample_rate)))
        wav = wav.to(self.device)
        generator = torch.Generator(device=self.device).manual_seed(self.settings.vocoder_seed)
        with torch.inference_mode():
            mel = self.mel.mel(wav)
            audio = self.sampler(mel, self.mel.hop_length, generator, on_step=on_step)
        return audio[:, : wav.shape[-1]].float().cpu().numpy()

    def run_fusion(self, s: np.ndarray, d: np.ndarray, mixture: np.ndarray, sr: int) -> tuple[np.ndarray, list[float]]:
        """Fuse (2, T) estimates; without a fusion model the output is S (the network's initial state)."""
        if self.fusion is None:
            return s.copy(), [0.0] * len(s)
        fsr = int(self.fusion.hparams.sample_rate)
        s_t, d_t, x_t = (
            torch.from_numpy(np.asarray(resample(np.asarray(v, np.float32), sr, fsr)))
            for v in (s, d, np.stack([mixture] * len(s)))
        )
        fused, info = self.fusion.fuse(s_t, d_t, x_t)
        out = fit_length(resample(fused.float().cpu().numpy(), fsr, sr), s.shape[-1])
        return out, [float(v) for v in info["d_share"]]


class _timed:
    """Context manager adding the elapsed wall time of a block to `timings[name]`."""

    def __init__(self, timings: dict[str, float], name: str) -> None:
        self.timings, self.name = timings, name

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.name] = self.timings.get(self.name, 0.0) + time.perf_counter() - self.start
