"""Training-data augmentation: speaker perturbation of utterances and level and room of mixtures.

Speaker perturbation (per train utterance, cached): Kaldi-style speed perturbation by resampling, then
pitch and formant shift by Praat's "Change gender" (praat-parselmouth). Praat is used rather than
pyworld because "Change gender" shifts pitch and formants in one well-tested PSOLA step and keeps the
waveform's phase, where a WORLD re-synthesis would add vocoder artefacts to every training source.
Per mixture: an overall level and, for a share of them, a simulated room (pyroomacoustics, as the
WHAMR! scripts use) whose reverberant sources are mixed while the direct-path sources stay the targets.
See docs/corpus.md.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import parselmouth
import pyroomacoustics as pra
from parselmouth.praat import call
from scipy.signal import fftconvolve

from ddpmss.audio import resample

PITCH_FLOOR_HZ, PITCH_CEILING_HZ = 75.0, 600.0  # Praat's pitch analysis range for speech
# Praat's overlap-add draws random numbers from one global generator: seeding it right before each
# "Change gender", under a lock (the corpus synthesizes in threads), makes the output reproducible.
_PRAAT_SEED = "random_initializeWithSeedUnsafelyButPredictably (0)"
_PRAAT_LOCK = threading.Lock()


@dataclass(frozen=True)
class Augmentation:
    """What the train split is augmented with (the defaults are the `generate` command's)."""

    perturb_share: float = 0.5  # share of train utterances with a pitch and formant shift
    pitch_semitones: float = 4.0  # pitch shift drawn uniformly from +-this many semitones
    formant_range: tuple[float, float] = (0.9, 1.12)  # formant shift ratio (Praat's useful range is 0.7-1.3)
    speeds: tuple[float, ...] = (0.9, 1.0, 1.1)  # Kaldi's and SpeechBrain's speed perturbation factors
    level_range_db: tuple[float, float] = (-35.0, -15.0)  # mixture RMS in dBFS (peak limit still applies)
    reverb_share: float = 0.5  # share of train mixtures made in a simulated room
    rt60_range_s: tuple[float, float] = (0.2, 0.6)  # Sabine reverberation time of the rooms
    n_rooms: int = 100  # rooms per corpus: mixtures draw one of them (simulating each costs 0.05-1 s)


@dataclass(frozen=True)
class Perturbation:
    """Speed factor, then pitch and formant ratios, applied to one utterance."""

    speed: float = 1.0
    pitch_ratio: float = 1.0
    formant_ratio: float = 1.0

    @property
    def tag(self) -> str:
        """Short stable name, e.g. `s1.1-p0.891-f1.05`, used in cache file names and lists."""
        return f"s{self.speed:g}-p{self.pitch_ratio:.3f}-f{self.formant_ratio:.3f}"


def draw_perturbation(rng: np.random.Generator, config: Augmentation) -> Perturbation:
    """A speed factor from `config.speeds` and, for `config.perturb_share` of the draws, a pitch and formant shift."""
    speed = float(rng.choice(config.speeds))
    shift, semitones, formant = rng.random(), rng.uniform(-1.0, 1.0), rng.uniform(*config.formant_range)
    if shift >= config.perturb_share:
        return Perturbation(speed)
    return Perturbation(speed, round(2 ** (semitones * config.pitch_semitones / 12), 3), round(float(formant), 3))


def change_speed(x: np.ndarray, sr: int, factor: float) -> np.ndarray:
    """Play `x` `factor` times faster (tempo and pitch together) by resampling, as Kaldi and SpeechBrain do."""
    if factor == 1.0:
        return x
    return resample(x, round(sr * factor), sr)


def median_pitch(x: np.ndarray, sr: int) -> float:
    """Median F0 in Hz of the voiced frames (Praat's autocorrelation pitch); 0 when nothing is voiced."""
    pitch = parselmouth.Sound(x.astype(np.float64), sampling_frequency=sr).to_pitch(
        pitch_floor=PITCH_FLOOR_HZ, pitch_ceiling=PITCH_CEILING_HZ
    )
    median = call(pitch, "Get quantile", 0.0, 0.0, 0.5, "Hertz")
    return 0.0 if np.isnan(median) else float(median)


def change_voice(x: np.ndarray, sr: int, pitch_ratio: float, formant_ratio: float) -> np.ndarray:
    """Praat's "Change gender": median pitch times `pitch_ratio`, formants times `formant_ratio`, same length."""
    if pitch_ratio == 1.0 and formant_ratio == 1.0:
        return x
    sound = parselmouth.Sound(x.astype(np.float64), sampling_frequency=sr)
    new_median = median_pitch(x, sr) * pitch_ratio
    with _PRAAT_LOCK:
        parselmouth.praat.run(_PRAAT_SEED)
        out = call(sound, "Change gender", PITCH_FLOOR_HZ, PITCH_CEILING_HZ, formant_ratio, new_median, 1.0, 1.0)
    y = out.values[0].astype(np.float32)
    return np.pad(y, (0, max(0, len(x) - len(y))))[: len(x)]


def perturb(x: np.ndarray, sr: int, perturbation: Perturbation, peak: float) -> np.ndarray:
    """Speed, then pitch and formant perturbation, scaled back to `peak` (never clipping)."""
    y = change_speed(x, sr, perturbation.speed)
    y = change_voice(y, sr, perturbation.pitch_ratio, perturbation.formant_ratio)
    return (y * (peak / np.max(np.abs(y)))).astype(np.float32)


@dataclass(frozen=True)
class Room:
    """A shoebox room (metres) with the reverberation time it is built for, one microphone and two talkers."""

    size: tuple[float, float, float]
    rt60: float
    microphone: tuple[float, float, float]
    talkers: tuple[tuple[float, float, float], tuple[float, float, float]]


def draw_room(rng: np.random.Generator, rt60_range: tuple[float, float]) -> Room:
    """A room 4-10 m by 4-10 m by 2.5-4 m; microphone and talkers at least 0.5 m from the walls."""
    size = (float(rng.uniform(4, 10)), float(rng.uniform(4, 10)), float(rng.uniform(2.5, 4)))

    def position(low: float, high: float) -> tuple[float, float, float]:
        return (
            float(rng.uniform(0.5, size[0] - 0.5)),
            float(rng.uniform(0.5, size[1] - 0.5)),
            float(rng.uniform(low, high)),
        )

    microphone = position(0.7, 1.5)
    talkers = (position(1.2, 1.9), position(1.2, 1.9))
    return Room(size, float(rng.uniform(*rt60_range)), microphone, talkers)


def room_impulse_responses(room: Room, sr: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each talker's impulse response to the microphone: (with reflections, direct path only).

    Image-source method with absorption and order from Sabine's formula (pyroomacoustics'
    inverse_sabine). The direct-path response has the same delay, so the two stay time-aligned.
    """
    absorption, max_order = pra.inverse_sabine(room.rt60, list(room.size))
    responses = []
    for order in (max_order, 0):
        shoebox = pra.ShoeBox(list(room.size), fs=sr, materials=pra.Material(absorption), max_order=order)
        for talker in room.talkers:
            shoebox.add_source(list(talker))
        shoebox.add_microphone(list(room.microphone))
        shoebox.compute_rir()
        responses.append([np.asarray(rir, dtype=np.float64) for rir in shoebox.rir[0]])
    return responses[0], responses[1]


def reverberate(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """`x` convolved with `rir`, cut to the length of `x` (the tail past the utterance is dropped)."""
    return fftconvolve(x.astype(np.float64), rir)[: len(x)].astype(np.float32)


def bank_room(seed: int, index: int, rt60_range: tuple[float, float]) -> Room:
    """Room `index` of the seed's bank of rooms (drawn from the seed and the index only)."""
    return draw_room(np.random.default_rng([seed, index, 0x5243]), rt60_range)


@lru_cache(maxsize=256)
def bank_responses(
    seed: int, index: int, rt60_range: tuple[float, float], sr: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """`room_impulse_responses` of `bank_room(seed, index, rt60_range)`, simulated once per process."""
    return room_impulse_responses(bank_room(seed, index, rt60_range), sr)
