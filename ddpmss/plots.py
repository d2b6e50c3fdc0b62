"""Small figures of separated audio (spectrograms for the web app's side-by-side lab)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

SPEC_NFFT_S = 0.032  # 32 ms analysis window
SPEC_OVERLAP = 0.75
SPEC_FLOOR_DB = -90.0


def spectrogram_png(x: np.ndarray, sr: int, path: str | Path, title: str = "") -> Path:
    """Write a log-power spectrogram (matplotlib specgram, 0 Hz to sr/2) of mono `x` as a PNG; returns its path."""
    nfft = 1 << int(np.ceil(np.log2(SPEC_NFFT_S * sr)))
    fig = Figure(figsize=(4.8, 2.4), layout="constrained")
    ax = fig.subplots()
    samples = np.asarray(x, dtype=np.float64).reshape(-1) + 1e-9  # keeps log10 finite on digital silence
    ax.specgram(samples, NFFT=nfft, Fs=sr, noverlap=int(nfft * SPEC_OVERLAP), cmap="magma", vmin=SPEC_FLOOR_DB)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    if title:
        ax.set_title(title.replace("$", r"\$"), fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    return path
