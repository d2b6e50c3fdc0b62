"""Audio in and out with soundfile (torchaudio's load/save need FFmpeg, absent here).

Every problem with an input file becomes one `AudioError` carrying a sentence a person can act on.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from ddpmss.files import atomic_path

PEAK_LIMIT = 0.99  # written audio never exceeds this (|x| <= 0.99 leaves room for PCM rounding)
SILENCE_RMS = 1e-5  # below this (after removing DC) a file holds no usable sound


class AudioError(ValueError):
    """An input that cannot be used, with a human sentence as its message."""


def load_audio(
    source: str | Path | BinaryIO,
    *,
    target_sr: int | None = None,
    max_seconds: float | None = 600.0,
    min_seconds: float = 0.1,
    max_bytes: int | None = None,
) -> tuple[np.ndarray, int]:
    """Read a wav/flac/ogg/mp3 file as mono float32, validated, optionally resampled.

    Returns (samples, sample_rate). Raises AudioError with one clear sentence for any bad input.
    """
    name = _name(source)
    size = _size(source)
    if size == 0:
        raise AudioError(f"{name} is empty (0 bytes).")
    if max_bytes is not None and size is not None and size > max_bytes:
        raise AudioError(f"{name} is {size / 1e6:.1f} MB, above the {max_bytes / 1e6:.0f} MB upload limit.")
    try:
        info = sf.info(source)
        if hasattr(source, "seek"):
            source.seek(0)
    except Exception:
        raise AudioError(f"{name} is not a readable audio file (use WAV, FLAC, OGG or MP3).") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError(f"{name} holds no audio samples.")
    duration = info.frames / info.samplerate
    if max_seconds is not None and duration > max_seconds:
        raise AudioError(f"{name} lasts {duration:.1f} s, longer than the {max_seconds:.0f} s limit.")
    try:
        data, sr = sf.read(source, dtype="float32", always_2d=True)
    except Exception:
        raise AudioError(f"{name} is damaged or truncated and cannot be decoded.") from None
    if data.shape[0] == 0:
        raise AudioError(f"{name} holds no audio samples.")
    if data.shape[0] / sr < min_seconds:
        raise AudioError(
            f"{name} lasts {data.shape[0] / sr * 1000:.0f} ms, shorter than the {min_seconds * 1000:.0f} ms minimum."
        )
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{name} contains invalid samples (NaN or infinity).")
    mono = data.mean(axis=1).astype(np.float32)
    if float(np.std(mono)) < SILENCE_RMS:
        raise AudioError(f"{name} contains no sound (it is silent or a constant level).")
    if target_sr is not None and target_sr != sr:
        mono = resample(mono, sr, target_sr)
        sr = target_sr
    return mono, int(sr)


def resample(x: np.ndarray | torch.Tensor, orig_sr: int, new_sr: int) -> np.ndarray | torch.Tensor:
    """Band-limited resampling along the last axis; keeps numpy in, numpy out."""
    if orig_sr == new_sr:
        return x
    if isinstance(x, np.ndarray):
        y = AF.resample(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), orig_sr, new_sr)
        return y.numpy()
    return AF.resample(x, orig_sr, new_sr)


def fit_length(x: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad the last axis to `length` samples."""
    if x.shape[-1] >= length:
        return x[..., :length]
    pad = [(0, 0)] * (x.ndim - 1) + [(0, length - x.shape[-1])]
    return np.pad(x, pad)


def peak_safe(x: np.ndarray, limit: float = PEAK_LIMIT) -> tuple[np.ndarray, float]:
    """Scale down (never up) so the peak is at most `limit`; returns (audio, gain in dB)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak <= limit:
        return x, 0.0
    gain = limit / peak
    return (x * gain).astype(np.float32), float(20 * np.log10(gain))


def write_audio(path: str | Path, x: np.ndarray, sr: int) -> float:
    """Write 16-bit PCM WAV that never clips; returns the gain applied in dB (0 when none)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim > 1:
        x = x.reshape(-1) if 1 in x.shape else x.T
    safe, gain_db = peak_safe(x)
    with atomic_path(path) as tmp:
        sf.write(tmp, safe, sr, subtype="PCM_16", format="WAV")
    return gain_db


def _name(source: str | Path | BinaryIO) -> str:
    if isinstance(source, (str, Path)):
        return f"The file '{Path(source).name}'"
    return "The uploaded file"


def _size(source: str | Path | BinaryIO) -> int | None:
    if isinstance(source, (str, Path)):
        try:
            return Path(source).stat().st_size
        except OSError:
            raise AudioError(f"{_name(source)} does not exist or cannot be opened.") from None
    return None
