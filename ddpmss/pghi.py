"""Phase from an STFT magnitude alone: Phase Gradient Heap Integration (PGHI).

Průša, Balazs and Søndergaard, "A Noniterative Method for Reconstruction of Phase From STFT Magnitude",
IEEE/ACM TASLP 25(5), 2017. The phase's time and frequency derivatives of a Gaussian-windowed STFT follow
from the log magnitude's derivatives in the other direction; PGHI integrates them from the loudest bin
outwards, always continuing from the loudest bin already reached, so the phase is consistent across frames
where it matters most. Griffin-Lim from a zero phase never gets there: its phase stays inconsistent from
frame to frame, which listeners (and DNSMOS) hear as a metallic, phasey sound. The vocoder's shallow
sampler starts from this estimate (`ddpmss.vocoder.MelInversionStart`).

Written here rather than taken from a package because it is the core of the vocoder's start, and no
maintained library offers it: LTFAT has it in MATLAB/Octave only, and the one PyPI port (pghipy 0.1.1,
2021) has one release. The phase convention is torch.stft's: each frame's phase refers to the frame's
first sample, the window centred in it.
"""

import heapq

import numba
import numpy as np

# gamma = HANN_GAMMA * win_length**2 is the Gaussian that best fits a Hann window (Průša et al. 2017, Table I)
HANN_GAMMA = 0.25645


def pghi_phase(magnitude: np.ndarray, win_length: int, hop_length: int, tol: float = 1e-5) -> np.ndarray:
    """(bins, frames) magnitude of a Hann-windowed STFT -> (bins, frames) phase in radians.

    Bins quieter than `tol` times the loudest keep phase 0: they carry no audible phase, and integrating
    through them would only spread noise. Deterministic: the same magnitude always gives the same phase."""
    if magnitude.ndim != 2:
        raise ValueError(f"PGHI takes a (bins, frames) magnitude, not shape {magnitude.shape}.")
    return _integrate(np.ascontiguousarray(magnitude, dtype=np.float64), win_length, hop_length, HANN_GAMMA, tol)


@numba.njit(cache=True)
def _integrate(magnitude: np.ndarray, win_length: int, hop_length: int, gamma_factor: float, tol: float):
    bins, frames = magnitude.shape
    phase = np.zeros_like(magnitude)
    if frames == 0 or magnitude.max() <= 0.0:
        return phase
    log_mag = np.log(magnitude + 1e-50)
    gamma = gamma_factor * win_length * win_length
    scale = gamma / (hop_length * win_length)
    # derivatives of the log magnitude by central differences (one-sided at the edges)
    d_freq = np.empty_like(log_mag)
    d_time = np.empty_like(log_mag)
    for m in range(bins):
        lo, hi = max(m - 1, 0), min(m + 1, bins - 1)
        for n in range(frames):
            d_freq[m, n] = (log_mag[hi, n] - log_mag[lo, n]) / 2.0
    for n in range(frames):
        lo, hi = max(n - 1, 0), min(n + 1, frames - 1)
        for m in range(bins):
            d_time[m, n] = (log_mag[m, hi] - log_mag[m, lo]) / 2.0
    # the phase's step from frame to frame (its time derivative) and from bin to bin (its frequency derivative)
    step_time = np.empty_like(log_mag)
    step_freq = np.empty_like(log_mag)
    for m in range(bins):
        for n in range(frames):
            step_time[m, n] = d_freq[m, n] / scale + 2.0 * np.pi * hop_length * m / win_length
            step_freq[m, n] = -scale * d_time[m, n] + np.pi
    floor = magnitude.max() * tol
    todo = magnitude > floor
    loudest_first = np.argsort(-magnitude.ravel())
    for start in loudest_first:
        # each bin not reached yet starts a new island of integration, with phase 0
        m, n = start // frames, start % frames
        if not todo[m, n]:
            continue
        todo[m, n] = False
        heap = [(-magnitude[m, n], start)]
        while len(heap) > 0:
            _, i = heapq.heappop(heap)
            m, n = i // frames, i % frames
            for dm, dn in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                mm, nn = m + dm, n + dn
                if mm < 0 or mm >= bins or nn < 0 or nn >= frames or not todo[mm, nn]:
                    continue
                if dn != 0:
                    phase[mm, nn] = phase[m, n] + dn * (step_time[m, n] + step_time[mm, nn]) / 2.0
                else:
                    phase[mm, nn] = phase[m, n] + dm * (step_freq[m, n] + step_freq[mm, nn]) / 2.0
                todo[mm, nn] = False
                heapq.heappush(heap, (-magnitude[mm, nn], mm * frames + nn))
    return phase
