"""What DiffWave's estimate D could add to SepFormer's estimate S: the evidence behind the fusion's D share.

A fusion trained on SI-SDR (pipeline 3) can take energy from D with profit only where D agrees with the
reference in phase, or where D's magnitude is closer to the reference's than S's is (S's phase with D's
magnitude then helps). Three figures per talker answer both, on a 32 ms / 8 ms STFT (the fusion's 512 / 128
at 16 kHz), D first aligned to S as the fusion aligns it:

- phase coherence of S and of D with the reference R: |Re(sum E conj(R))| / sum |E||R|; 1 = the reference's
  phase in every bin (weighted by energy), about 0 = unrelated phase, what a vocoder that keeps no phase gives
  (the sign is ignored, as SI-SDR ignores it);
- the share of the reference's energy in the bins where |D| is closer to |R| than |S| is (in dB, each
  estimate first scaled to match |R| at best, since both are scale-free);
- the SI-SDR gain over S of an oracle that takes, in each bin, whichever of |S| and |D| is closer to |R|,
  under S's phase: what D's magnitudes could add to S at most by a per-bin choice (not a bound on what the
  fusion's use of the mixture adds).

Written here because no library computes these: they are the project's own diagnostic (issue 22, item 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ddpmss.fusion import ENVELOPE_MS, align_to
from ddpmss.metrics import si_sdr

WINDOW_MS = 32.0
MAX_LAG_MS = 20.0  # the fusion's lag search (ddpmss/hparams/fusion.yaml)
FLOOR_DB = -60.0  # magnitudes are compared down to this far below the reference's loudest bin


@dataclass(frozen=True)
class BranchEvidence:
    """The figures of this module's docstring for one talker."""

    s_phase_coherence: float
    d_phase_coherence: float
    d_closer_share: float
    oracle_gain_db: float


def branch_evidence(s: np.ndarray, d: np.ndarray, ref: np.ndarray, sr: int) -> BranchEvidence:
    """Evidence of what D (1-D, `sr`) could add to S against the reference talker `ref`."""
    n = min(len(s), len(d), len(ref))
    s_t, d_t, r_t = (torch.as_tensor(np.asarray(v[:n], np.float64)).unsqueeze(0) for v in (s, d, ref))
    envelope = max(3, int(ENVELOPE_MS * 1e-3 * sr))
    d_t, _ = align_to(s_t, d_t, int(round(MAX_LAG_MS * 1e-3 * sr)), envelope)
    n_fft = int(round(WINDOW_MS * 1e-3 * sr))
    window = torch.hann_window(n_fft, dtype=torch.float64)

    def stft(x: torch.Tensor) -> torch.Tensor:
        return torch.stft(x[0], n_fft, n_fft // 4, window=window, return_complex=True)

    S, D, R = stft(s_t), stft(d_t), stft(r_t)
    S, D = _matched_level(S, R), _matched_level(D, R)
    floor = R.abs().max().clamp_min(1e-12) * 10 ** (FLOOR_DB / 20)

    def level(X: torch.Tensor) -> torch.Tensor:
        return 20 * torch.log10(X.abs().clamp_min(floor))

    ref_level = level(R)
    d_closer = (level(D) - ref_level).abs() < (level(S) - ref_level).abs()
    weight = R.abs().pow(2)
    oracle = torch.where(d_closer, D.abs(), S.abs()) * torch.exp(1j * torch.angle(S))
    y = torch.istft(oracle, n_fft, n_fft // 4, window=window, length=n)
    return BranchEvidence(
        s_phase_coherence=_coherence(S, R),
        d_phase_coherence=_coherence(D, R),
        d_closer_share=float((weight * d_closer).sum() / weight.sum().clamp_min(1e-24)),
        oracle_gain_db=si_sdr(y.numpy(), ref[:n]) - si_sdr(s[:n], ref[:n]),
    )


def _matched_level(E: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """E scaled by the gain that brings its magnitudes closest to R's (least squares)."""
    return E * (E.abs() * R.abs()).sum() / E.abs().pow(2).sum().clamp_min(1e-24)


def _coherence(E: torch.Tensor, R: torch.Tensor) -> float:
    """Energy-weighted phase agreement of E with R, sign ignored: |Re(sum E conj R)| / sum |E||R|, in [0, 1]."""
    return float((E * R.conj()).real.sum().abs() / (E.abs() * R.abs()).sum().clamp_min(1e-24))


def mean_evidence(items: list[BranchEvidence]) -> dict[str, float | None]:
    """Mean of each figure over talkers (None when there are none)."""
    if not items:
        return dict.fromkeys(BranchEvidence.__dataclass_fields__)
    return {k: round(float(np.mean([getattr(e, k) for e in items])), 4) for k in BranchEvidence.__dataclass_fields__}
