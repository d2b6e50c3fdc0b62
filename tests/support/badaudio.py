"""A generated corpus of bad and odd audio files, each with the outcome every entry point must give.

`make_corpus(folder, upload_limit_bytes)` writes the files and returns `Case`s. `expected` is "ok" (the
file is separated) or a phrase that the one-sentence error must contain. The same expectations hold
for the command line (`python -m ddpmss separate`), the engine (`ddpmss.audio.load_audio` and
`Separator.separate`) and the app's `separate` endpoint; `app_expected` overrides it where the web
server itself answers first (the upload size limit is enforced by Gradio before the app sees a byte).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

OK = "ok"
EMPTY = "is empty (0 bytes)"
NO_SAMPLES = "holds no audio samples"
UNREADABLE = "is not a readable audio file"
DAMAGED = "is damaged or truncated"
TOO_SHORT = "shorter than the 100 ms minimum"
TOO_LONG = "longer than the 600 s limit"
TOO_BIG = "upload limit"
INVALID = "contains invalid samples (NaN or infinity)"
SILENT = "contains no sound"
MAX_SECONDS = 600.0


@dataclass(frozen=True)
class Case:
    """One corpus file and what must come out of it."""

    name: str  # file name (its extension may lie on purpose)
    what: str  # one line for the report
    expected: str  # "ok" or a phrase of the error sentence
    app_expected: str | None = None  # what the web app answers when it differs (limits enforced by Gradio)
    long: bool = False  # minutes of audio: separated with every pipeline in the app, SepFormer only elsewhere

    def path(self, folder: Path) -> Path:
        return folder / self.name


def speech_like(seconds: float, sr: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """Two harmonic 'talkers' with syllable envelopes, summed (a two-talker mixture), at about -20 dBFS."""
    n = max(int(round(seconds * sr)), 0)
    t = np.arange(n) / sr
    rng = np.random.default_rng(seed)
    mix = np.zeros(n)
    for f0, rate in ((120.0, 3.0), (210.0, 4.3)):
        env = 0.5 * (1 + np.sin(2 * np.pi * rate * t)) ** 2
        mix += env * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6) if f0 * k < sr / 2)
    mix = 0.05 * mix + 0.001 * rng.standard_normal(n)
    if channels == 1:
        return mix.astype(np.float32)
    return np.stack([mix * (0.6 + 0.1 * c) for c in range(channels)], axis=1).astype(np.float32)


def _wav_bytes(x: np.ndarray, sr: int, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, subtype=subtype, format=fmt)
    return buf.getvalue()


def _header(sr: int, channels: int, bits: int, data_bytes: int, fmt_tag: int = 1) -> bytes:
    """A 44-byte canonical WAV header (fields as given, even when they are nonsense)."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, sr, sr * block, block, bits)
    riff_size = min(36 + data_bytes, 0xFFFFFFFF)
    return (
        b"RIFF"
        + struct.pack("<I", riff_size)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + (struct.pack("<I", min(data_bytes, 0xFFFFFFFF)))
    )


def _pcm16(x: np.ndarray) -> bytes:
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def make_corpus(folder: Path, upload_limit_bytes: int) -> list[Case]:
    """Write every corpus file into `folder`; returns the cases (at least 25)."""
    folder.mkdir(parents=True, exist_ok=True)
    sr = 16000
    one_s = speech_like(1.0, sr)
    makers: list[tuple[Case, Callable[[Path], None]]] = []

    def add(case: Case, make: Callable[[Path], None]) -> None:
        makers.append((case, make))

    def sound(path: Path, x: np.ndarray, rate: int, subtype: str, fmt: str) -> None:
        sf.write(path, x, rate, subtype=subtype, format=fmt)

    # ---- broken containers
    add(Case("empty.wav", "empty file (0 bytes)", EMPTY), lambda p: _write(p, b""))
    add(Case("header_only.wav", "WAV header announcing 1 s, no sample data", NO_SAMPLES),
        lambda p: _write(p, _header(sr, 1, 16, sr * 2)))  # fmt: skip
    add(Case("zero_frames.wav", "valid WAV of 0 ms (no frames)", NO_SAMPLES),
        lambda p: _write(p, _wav_bytes(np.zeros(0, np.float32), sr)))  # fmt: skip
    add(Case("truncated.wav", "2 s WAV cut after 0.6 s of its data (header still says 2 s): the 0.6 s are used", OK),
        lambda p: _write(p, _wav_bytes(speech_like(2.0, sr), sr)[: 44 + int(0.6 * sr * 2)]))  # fmt: skip
    add(Case("truncated_short.wav", "WAV cut after 20 ms of its data", TOO_SHORT),
        lambda p: _write(p, _wav_bytes(one_s, sr)[: 44 + int(0.02 * sr) * 2]))  # fmt: skip
    add(Case("random_bytes.wav", "64 KB of random bytes named .wav", UNREADABLE),
        lambda p: _write(p, np.random.default_rng(1).bytes(65536)))  # fmt: skip
    add(Case("text_renamed.wav", "a text file renamed to .wav", UNREADABLE),
        lambda p: _write(p, ("These are my meeting notes, not audio.\n" * 200).encode()))  # fmt: skip
    add(Case("riff_garbage.wav", "RIFF/WAVE magic followed by garbage", UNREADABLE),
        lambda p: _write(p, b"RIFF\x00\x10\x00\x00WAVE" + np.random.default_rng(2).bytes(4096)))  # fmt: skip
    add(Case("zero_channels.wav", "WAV header with 0 channels", UNREADABLE),
        lambda p: _write(p, _header(sr, 0, 16, 0) + _pcm16(one_s)))  # fmt: skip
    add(Case("zero_rate.wav", "WAV header with a sample rate of 0 Hz", UNREADABLE),
        lambda p: _write(p, _header(0, 1, 16, sr * 2) + _pcm16(one_s)))  # fmt: skip
    add(Case("huge_data_size.wav", "WAV whose data chunk claims 4 GB but holds 1 s", OK),
        lambda p: _write(p, _header(sr, 1, 16, 0xFFFFFFFF) + _pcm16(one_s)))  # fmt: skip

    # ---- durations and sizes
    add(
        Case("ten_ms.wav", "10 ms of speech", TOO_SHORT), lambda p: sound(p, speech_like(0.01, sr), sr, "PCM_16", "WAV")
    )
    add(Case("hundred_ms.wav", "exactly 100 ms (the minimum)", OK),
        lambda p: sound(p, speech_like(0.1, sr), sr, "PCM_16", "WAV"))  # fmt: skip
    lab_limit = "longer than the 30 s limit"  # the lab's own default length limit (LAB_MAX_SECONDS)
    add(Case("ten_minutes.wav", "10 minutes of speech at 8 kHz (the longest accepted)", OK, long=True,
             app_expected=lab_limit),
        lambda p: sound(p, speech_like(MAX_SECONDS, 8000), 8000, "PCM_16", "WAV"))  # fmt: skip
    add(Case("eleven_minutes.wav", "11 minutes at 8 kHz (over the duration limit)", TOO_LONG, app_expected=lab_limit),
        lambda p: sound(p, speech_like(660.0, 8000), 8000, "PCM_16", "WAV"))  # fmt: skip
    seconds_over = (upload_limit_bytes * 1.1) / (48000 * 2 * 4)
    add(Case("over_limit.wav", f"valid 48 kHz stereo float WAV of {seconds_over:.0f} s, 10 % over the upload limit",
             TOO_BIG, app_expected="maximum allowed"),
        lambda p: sound(p, speech_like(seconds_over, 48000, 2), 48000, "FLOAT", "WAV"))  # fmt: skip
    add(Case("over_limit_garbage.wav", "random bytes over the upload limit (refused by size, never decoded)",
             TOO_BIG, app_expected="maximum allowed"),
        lambda p: _write(p, np.random.default_rng(3).bytes(int(upload_limit_bytes * 1.05))))  # fmt: skip

    # ---- formats, rates, channels
    add(Case("rate96k_6ch.wav", "96 kHz, 6 channels, 24-bit", OK),
        lambda p: sound(p, speech_like(1.0, 96000, 6), 96000, "PCM_24", "WAV"))  # fmt: skip
    add(Case("pcm_u8.wav", "8-bit unsigned PCM", OK), lambda p: sound(p, one_s * 8, sr, "PCM_U8", "WAV"))
    add(Case("pcm_24.wav", "24-bit PCM", OK), lambda p: sound(p, one_s, sr, "PCM_24", "WAV"))
    add(Case("pcm_32.wav", "32-bit PCM", OK), lambda p: sound(p, one_s, sr, "PCM_32", "WAV"))
    add(Case("float64.wav", "64-bit float WAV", OK), lambda p: sound(p, one_s, sr, "DOUBLE", "WAV"))
    add(Case("ulaw.wav", "mu-law WAV", OK), lambda p: sound(p, one_s, sr, "ULAW", "WAV"))
    add(Case("ima_adpcm.wav", "IMA ADPCM WAV", OK), lambda p: sound(p, one_s, sr, "IMA_ADPCM", "WAV"))
    add(Case("rate4k.wav", "4 kHz sample rate", OK), lambda p: sound(p, speech_like(1.0, 4000), 4000, "PCM_16", "WAV"))
    add(Case("stereo44k.wav", "44.1 kHz stereo", OK),
        lambda p: sound(p, speech_like(1.0, 44100, 2), 44100, "PCM_16", "WAV"))  # fmt: skip
    add(Case("valid.mp3", "MP3 (MPEG layer III)", OK),
        lambda p: sound(p, speech_like(1.0, 22050), 22050, "MPEG_LAYER_III", "MP3"))  # fmt: skip
    add(Case("valid.ogg", "Ogg Vorbis", OK), lambda p: sound(p, one_s, sr, "VORBIS", "OGG"))
    add(Case("valid_opus.ogg", "Ogg Opus at 48 kHz", OK),
        lambda p: sound(p, speech_like(1.0, 48000), 48000, "OPUS", "OGG"))  # fmt: skip
    add(Case("valid.flac", "FLAC", OK), lambda p: sound(p, one_s, sr, "PCM_16", "FLAC"))
    add(Case("flac_named.wav", "FLAC with a .wav extension", OK), lambda p: sound(p, one_s, sr, "PCM_16", "FLAC"))
    add(Case("wav_named.flac", "WAV with a .flac extension", OK), lambda p: sound(p, one_s, sr, "PCM_16", "WAV"))
    add(Case("aiff_named.wav", "AIFF with a .wav extension", OK), lambda p: sound(p, one_s, sr, "PCM_16", "AIFF"))

    # ---- sample values
    add(
        Case("float_nan.wav", "float WAV with NaN samples", INVALID),
        lambda p: sound(p, np.where(np.arange(sr) % 97 == 0, np.nan, one_s).astype(np.float32), sr, "FLOAT", "WAV"),
    )
    add(Case("float_inf.wav", "float WAV with +Inf and -Inf samples", INVALID),
        lambda p: sound(p, np.where(np.arange(sr) % 89 == 0, np.inf * np.sign(np.arange(sr) % 2 - 0.5), one_s)
                        .astype(np.float32), sr, "FLOAT", "WAV"))  # fmt: skip
    add(Case("zeros.wav", "1 s of digital silence", SILENT), lambda p: sound(p, np.zeros(sr), sr, "PCM_16", "WAV"))
    add(Case("dc_only.wav", "1 s of a constant (DC) level", SILENT),
        lambda p: sound(p, np.full(sr, 0.3), sr, "PCM_16", "WAV"))  # fmt: skip
    add(Case("near_silence.wav", "noise at -150 dBFS in a float WAV", SILENT),
        lambda p: sound(p, 3e-8 * np.random.default_rng(4).standard_normal(sr), sr, "FLOAT", "WAV"))  # fmt: skip
    add(Case("clipped_square.wav", "a 200 Hz square wave clipped at full scale", OK),
        lambda p: sound(p, np.clip(3 * np.sign(np.sin(2 * np.pi * 200 * np.arange(sr) / sr)), -1, 1), sr, "PCM_16",
                        "WAV"))  # fmt: skip
    add(Case("float_over_full_scale.wav", "float WAV peaking near +21 dBFS (values up to 11.6)", OK),
        lambda p: sound(p, one_s * 40, sr, "FLOAT", "WAV"))  # fmt: skip
    add(Case("single_click.wav", "one full-scale click in 1 s of silence", OK),
        lambda p: sound(p, np.eye(1, sr, sr // 2)[0], sr, "PCM_16", "WAV"))  # fmt: skip

    cases = []
    for case, make in makers:
        make(case.path(folder))
        cases.append(case)
    return cases
