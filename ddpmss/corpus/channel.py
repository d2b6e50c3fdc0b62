"""Recording-channel augmentation: what a microphone, a codec and a quiet room add to a clean voice.

The synthetic voices are digitally clean, with the spectrum of their engine. Real recordings of speech
are not: their sources carry more energy below 150 Hz (rumble, hum, proximity effect), less above
3 kHz (band-limited or lossy-coded material) and a stationary noise floor some 25-50 dB below the
loud frames (docs/corpus.md gives the figures measured on the real mixtures' sources). A separator
trained only on clean voices has never seen that, so each training source may be passed through a
random channel: a low shelf, a high shelf and a coloured noise floor. The channel belongs to the
recording, so it is applied to the source before mixing and the target keeps it, as the references of
a real mixture keep theirs.

The shelving filters are torchaudio's biquads (`bass_biquad`, `treble_biquad`, the RBJ cookbook
shelves); the noise is white noise shaped in the frequency domain to a 1/f^slope power spectrum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchaudio.functional import bass_biquad, treble_biquad

BASS_HZ = 150.0  # low shelf corner: below it lie rumble, mains hum and a close microphone's boost
TREBLE_HZ = 2500.0  # high shelf corner: above it a lossy codec or a cheap microphone loses energy
_FILTER_PEAK = 0.05


@dataclass(frozen=True)
class ChannelAugmentation:
    """How often and how strongly a training source gets a recording channel."""

    share: float = 0.5  # share of training sources passed through a channel
    bass_db: tuple[float, float] = (0.0, 15.0)  # low-shelf gain range
    treble_db: tuple[float, float] = (-6.0, 3.0)  # high-shelf gain range
    noise_db: tuple[float, float] = (-50.0, -25.0)  # noise floor, relative to the source's RMS
    noise_slopes: tuple[float, ...] = (0.0, 1.0, 2.0)  # white, pink and brown noise


@dataclass(frozen=True)
class Channel:
    """One drawn channel."""

    bass_db: float
    treble_db: float
    noise_db: float
    noise_slope: float


def draw_channel(rng: np.random.Generator, config: ChannelAugmentation) -> Channel | None:
    """A random channel, or None (a clean source) for 1 - `config.share` of the draws."""
    if rng.random() >= config.share:
        return None
    return Channel(
        bass_db=float(rng.uniform(*config.bass_db)),
        treble_db=float(rng.uniform(*config.treble_db)),
        noise_db=float(rng.uniform(*config.noise_db)),
        noise_slope=float(rng.choice(config.noise_slopes)),
    )


def coloured_noise(n: int, slope: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean unit-RMS noise of n samples whose power falls as 1/f^slope (no energy at 0 Hz)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    weights = np.arange(spectrum.size, dtype=np.float64)
    weights[1:] **= -slope / 2
    weights[0] = 0.0  # no DC
    noise = np.fft.irfft(spectrum * weights, n)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def apply_channel(x: np.ndarray, sr: int, channel: Channel, rng: np.random.Generator) -> np.ndarray:
    """`x` (last axis time) through the channel's shelves, plus its noise floor; float32."""
    # torchaudio's biquads clamp their output to [-1, 1]: filter at a peak far below that (a 12 dB shelf
    # cannot reach it), then scale back.
    scale = float(np.max(np.abs(x))) / _FILTER_PEAK or 1.0
    shaped = torch.from_numpy(np.ascontiguousarray(x / scale, dtype=np.float32))
    shaped = bass_biquad(shaped, sr, channel.bass_db, BASS_HZ)
    shaped = treble_biquad(shaped, sr, channel.treble_db, TREBLE_HZ).numpy().astype(np.float64) * scale
    level = np.sqrt(np.mean(shaped**2)) * 10 ** (channel.noise_db / 20)
    noisy = shaped + level * coloured_noise(shaped.shape[-1], channel.noise_slope, rng)
    return noisy.astype(np.float32)


def random_channel(x: np.ndarray, sr: int, rng: np.random.Generator, config: ChannelAugmentation) -> np.ndarray:
    """`x` through a channel drawn from `config`, or `x` itself when the draw leaves it clean."""
    channel = draw_channel(rng, config)
    return x if channel is None else apply_channel(x, sr, channel, rng)


@dataclass(frozen=True)
class ChannelProfile:
    """What a recording's channel does to its speech, in the terms the augmentation draws from."""

    low_share: float  # share of the energy below BASS_HZ
    high_share: float  # share of the energy above TREBLE_HZ
    floor_db: float  # quiet frames (5th percentile) relative to loud ones (95th), 32 ms frames


def channel_profile(x: np.ndarray, sr: int) -> ChannelProfile:
    """The profile of one mono recording (its mean removed)."""
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / sr)
    total = power.sum() + 1e-20
    frame = int(0.032 * sr)
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[:: frame // 2]
    energy_db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    return ChannelProfile(
        low_share=float(power[freqs < BASS_HZ].sum() / total),
        high_share=float(power[freqs > TREBLE_HZ].sum() / total),
        floor_db=float(np.percentile(energy_db, 5) - np.percentile(energy_db, 95)),
    )
