"""Audio I/O: every kind of bad input gives one clear AudioError; writing never clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ddpmss.audio import AudioError, load_audio, peak_safe, write_audio

SR = 16000


def _wav(path: Path, x: np.ndarray, sr: int = SR, subtype: str = "PCM_16") -> Path:
    sf.write(path, x, sr, subtype=subtype)
    return path


def _speech(seconds: float = 1.0, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32) / 2


def test_reads_mono_and_resamples(tmp_path: Path) -> None:
    stereo = np.stack([_speech(), _speech()], axis=1)
    x, sr = load_audio(_wav(tmp_path / "a.wav", stereo, 48000), target_sr=16000)
    assert sr == 16000 and x.ndim == 1 and x.dtype == np.float32
    assert abs(len(x) - 16000 * len(stereo) / 48000) <= 1


@pytest.mark.parametrize("fmt,subtype", [("FLAC", "PCM_16"), ("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")])
def test_compressed_formats(tmp_path: Path, fmt: str, subtype: str) -> None:
    path = tmp_path / f"a.{fmt.lower()}"
    sf.write(path, _speech(), SR, format=fmt, subtype=subtype)
    x, sr = load_audio(path)
    assert sr == SR and np.std(x) > 0.01


@pytest.mark.parametrize(
    "make,phrase",
    [
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt "), "not a readable audio file"),
        (lambda p: p.write_bytes(np.random.default_rng(0).bytes(5000)), "not a readable audio file"),
        (lambda p: p.write_text("hello, this is text"), "not a readable audio file"),
        (lambda p: _wav(p, np.full(SR, np.nan, np.float32), subtype="FLOAT"), "NaN or infinity"),
        (lambda p: _wav(p, np.full(SR, np.inf, np.float32), subtype="FLOAT"), "NaN or infinity"),
        (lambda p: _wav(p, np.zeros(SR, np.float32)), "no sound"),
        (lambda p: _wav(p, np.full(SR, 0.5, np.float32)), "no sound"),
        (lambda p: _wav(p, _speech(0.01)), "shorter than"),
        (lambda p: _wav(p, _speech(3.0)), "longer than"),
    ],
)
def test_bad_input_gives_one_sentence(tmp_path: Path, make, phrase: str) -> None:
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioError) as err:
        load_audio(path, max_seconds=2.0)
    message = str(err.value)
    assert phrase in message and "\n" not in message and message.endswith(".")


def test_missing_file_and_upload_limit(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="does not exist"):
        load_audio(tmp_path / "nope.wav")
    path = _wav(tmp_path / "big.wav", _speech(2.0))
    with pytest.raises(AudioError, match="upload limit"):
        load_audio(path, max_bytes=1000)


def test_truncated_wav(tmp_path: Path) -> None:
    path = _wav(tmp_path / "t.wav", _speech(1.0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    x, _ = load_audio(path)  # libsndfile reads what is there: a shorter but valid signal
    assert 0 < len(x) < SR


def test_write_never_clips_and_reports_gain(tmp_path: Path) -> None:
    loud = 5.0 * _speech()
    gain = write_audio(tmp_path / "o.wav", loud, SR)
    back, _ = sf.read(tmp_path / "o.wav")
    assert np.max(np.abs(back)) < 1.0
    assert gain == pytest.approx(20 * np.log10(0.99 / np.max(np.abs(loud))), abs=1e-6)
    quiet, gain0 = peak_safe(0.1 * _speech())
    assert gain0 == 0.0 and np.max(np.abs(quiet)) <= 0.1
    assert not list(tmp_path.glob("*.part"))
