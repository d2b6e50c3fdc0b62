"""Tiny random-weight models for tests: the real architectures (hparams/*.yaml) at toy sizes.

The architecture templates' defaults are the full-size public models; these overrides make models
that load through the same SpeechBrain code in milliseconds.
"""

from __future__ import annotations

from pathlib import Path

from ddpmss.checkpoints import write_random_model

TINY_SEPFORMER = dict(
    enc_channels=16, enc_kernel=16, n_layers=1, d_model=16, n_heads=2, d_ffn=32, chunk_size=50, dual_blocks=1
)
TINY_DIFFWAVE = dict(
    sample_rate=16000,
    residual_layers=2,
    residual_channels=8,
    dilation_cycle_length=2,
    spec_n_mels=20,
    spec_n_fft=512,
    spec_win_length=512,
    spec_f_max=8000.0,
)
TINY_FUSION = dict(channels=4, layers=3)


def write_tiny_models(root: Path) -> Path:
    """A models folder (sepformer/ diffwave/ fusion/) with tiny random-weight models; returns `root`."""
    write_random_model(root / "sepformer", "sepformer", **TINY_SEPFORMER)
    write_random_model(root / "diffwave", "diffwave", **TINY_DIFFWAVE)
    write_random_model(root / "fusion", "fusion", **TINY_FUSION)
    return root
