"""Small figures of separated audio (spectrograms for the web app's side-by-side lab)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import mlab
from matplotlib.figure import Figure

SPEC_NFFT_S = 0.032  # 32 ms analysis window
SPEC_OVERLAP = 0.75
SPEC_FLOOR_DB = -90.0  # the colour scale's bottom; power below it (digital silence included) is drawn at it


def spectrogram_png(x: np.ndarray, sr: int, path: str | Path, title: str = "") -> Path:
    """Write a log-power spectrogram (0 Hz to sr/2) of mono `x` as a PNG; returns its path.

    The power comes from matplotlib's `mlab.specgram` (what `Axes.specgram` draws) and is floored at
    SPEC_FLOOR_DB before the logarithm, so silent frames give the floor instead of log10(0) warnings.
    """
    nfft = 1 << int(np.ceil(np.log2(SPEC_NFFT_S * sr)))
    samples = np.asarray(x, dtype=np.float64).reshape(-1)
    power, freqs, times = mlab.specgram(samples, NFFT=nfft, Fs=sr, noverlap=int(nfft * SPEC_OVERLAP))
    level_db = 10.0 * np.log10(np.maximum(power, 10.0 ** (SPEC_FLOOR_DB / 10.0)))
    fig = Figure(figsize=(4.8, 2.4))
    fig.subplots_adjust(left=0.15, right=0.97, bottom=0.2, top=0.88)  # fixed margins: one drawing pass, not the
    # two or more of a constrained layout (the labels and ticks are the same on every spectrogram)
    ax = fig.subplots()
    pad = (nfft - int(nfft * SPEC_OVERLAP)) / sr / 2  # the frame extent around each time, as Axes.specgram draws
    extent = (times.min() - pad, times.max() + pad, freqs[0], freqs[-1])
    ax.imshow(level_db, cmap="magma", vmin=SPEC_FLOOR_DB, origin="lower", aspect="auto", extent=extent)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    if title:
        ax.set_title(title.replace("$", r"\$"), fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    return path
