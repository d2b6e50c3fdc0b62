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

# Smaller still, at 8 kHz throughout: separates 10 minutes of audio in about a minute (long-input tests).
MICRO_SEPFORMER = {**TINY_SEPFORMER, "chunk_size": 100}
MICRO_DIFFWAVE = dict(
    sample_rate=8000,
    residual_layers=1,
    residual_channels=4,
    dilation_cycle_length=1,
    spec_n_mels=20,
    spec_n_fft=256,
    spec_win_length=256,
    spec_f_max=4000.0,
)
MICRO_FUSION = dict(sample_rate=8000, n_fft=256, hop_length=64, channels=2, layers=1)


def write_tiny_models(root: Path, *, micro: bool = False) -> Path:
    """A models folder (sepformer/ diffwave/ fusion/) with tiny (or micro) random-weight models; returns `root`."""
    sepformer, diffwave, fusion = (
        (MICRO_SEPFORMER, MICRO_DIFFWAVE, MICRO_FUSION) if micro else (TINY_SEPFORMER, TINY_DIFFWAVE, TINY_FUSION)
    )
    write_random_model(root / "sepformer", "sepformer", **sepformer)
    write_random_model(root / "diffwave", "diffwave", **diffwave)
    write_random_model(root / "fusion", "fusion", **fusion)
    return root
