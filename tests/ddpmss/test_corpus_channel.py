"""Tests for the recording-channel augmentation (ddpmss.corpus.channel) and its use in dynamic mixing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ddpmss.corpus.channel import (
    BASS_HZ,
    TREBLE_HZ,
    Channel,
    ChannelAugmentation,
    apply_channel,
    channel_profile,
    coloured_noise,
    draw_channel,
    random_channel,
)
from ddpmss.corpus.describe import describe_lists
from ddpmss.corpus.mixing import MIX_PEAK
from ddpmss.training.loop import dynamic_mixtures
from ddpmss.training.pairs import TalkerPairs
from tests.support.paths import ROOT

SR = 8000


def _band_energy(x: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / SR)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


def _tones(seconds: float = 2.0) -> np.ndarray:
    """Equal-level tones at 60 Hz (under the bass shelf), 1 kHz (between the shelves), 3.5 kHz (above
    the treble shelf), peak 0.9."""
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * f * t) for f in (60.0, 1000.0, 3500.0))
    return (0.9 * x / np.abs(x).max()).astype(np.float32)


def test_shelves_move_the_bands_by_their_gains_and_leave_the_middle():
    x = _tones()
    y = apply_channel(
        x, SR, Channel(bass_db=12.0, treble_db=-15.0, noise_db=-200.0, noise_slope=0.0), np.random.default_rng(0)
    )
    gain = {
        band: 10 * np.log10(_band_energy(y, *band) / _band_energy(x, *band))
        for band in ((50, 70), (990, 1010), (3490, 3510))
    }
    assert gain[(50, 70)] == pytest.approx(12.0, abs=1.0)  # far below BASS_HZ: the full shelf gain
    assert gain[(990, 1010)] == pytest.approx(0.0, abs=1.0)
    assert gain[(3490, 3510)] == pytest.approx(-15.0, abs=2.5)  # above TREBLE_HZ, near the shelf's full cut
    assert BASS_HZ < 1000 < TREBLE_HZ
    assert np.abs(y).max() > 1.0  # a 12 dB boost of a peak-0.9 signal: not clamped by the filters


def test_noise_floor_sits_at_its_level_under_the_source():
    x = _tones()
    channel = Channel(bass_db=0.0, treble_db=0.0, noise_db=-30.0, noise_slope=1.0)
    y = apply_channel(x, SR, channel, np.random.default_rng(0))
    residual = y - apply_channel(x, SR, Channel(0.0, 0.0, -300.0, 1.0), np.random.default_rng(0))
    level_db = 10 * np.log10(np.mean(residual**2) / np.mean(x**2))
    assert level_db == pytest.approx(-30.0, abs=0.5)


@pytest.mark.parametrize("slope", [0.0, 1.0, 2.0])
def test_coloured_noise_has_unit_rms_no_dc_and_its_slope(slope):
    noise = coloured_noise(2**16, slope, np.random.default_rng(1))
    assert np.sqrt(np.mean(noise**2)) == pytest.approx(1.0, rel=1e-6)
    assert abs(noise.mean()) < 1e-9
    octave_low, octave_high = _band_energy(noise, 250, 500), _band_energy(noise, 2000, 4000)
    # each octave holds 2^(1 - slope) times the power of the octave below, so three octaves apart:
    assert 10 * np.log10(octave_high / octave_low) == pytest.approx(3 * 10 * np.log10(2 ** (1 - slope)), abs=1.0)


def test_channels_are_drawn_from_the_seed_in_their_ranges_and_share():
    config = ChannelAugmentation(share=0.5)
    draws = [draw_channel(np.random.default_rng([7, i]), config) for i in range(400)]
    assert draws == [draw_channel(np.random.default_rng([7, i]), config) for i in range(400)]
    channels = [c for c in draws if c is not None]
    assert 0.4 < len(channels) / len(draws) < 0.6
    for c in channels:
        assert config.bass_db[0] <= c.bass_db <= config.bass_db[1]
        assert config.treble_db[0] <= c.treble_db <= config.treble_db[1]
        assert config.noise_db[0] <= c.noise_db <= config.noise_db[1]
        assert c.noise_slope in config.noise_slopes
    x = _tones(0.5)
    assert random_channel(x, SR, np.random.default_rng(0), ChannelAugmentation(share=0.0)) is x
    same = [random_channel(x, SR, np.random.default_rng(3), ChannelAugmentation(share=1.0)) for _ in range(2)]
    np.testing.assert_array_equal(*same)


def test_dynamic_mixtures_apply_the_channel_to_the_targets_and_still_never_clip():
    t = np.arange(SR) / SR
    utterances = [(0.9 * np.sin(2 * np.pi * f * t)).astype(np.float32)[None] for f in (300.0, 900.0)]
    config = ChannelAugmentation(share=1.0, noise_db=(-20.0, -20.0))
    batches = dynamic_mixtures(
        utterances,
        TalkerPairs(["A", "B"]).draw,
        SR,
        8,
        np.random.default_rng(0),
        augment=lambda x, rng: random_channel(x, SR, rng, config),
    )
    for mix, s1, s2 in next(batches).numpy():
        np.testing.assert_allclose(mix, s1 + s2, atol=1e-6)
        assert max(np.abs(mix).max(), np.abs(s1).max(), np.abs(s2).max()) <= MIX_PEAK + 1e-6
        for source in (s1, s2):  # the target carries its channel's noise floor: no longer a pure tone
            tone = max(_band_energy(source, f - 5, f + 5) for f in (300.0, 900.0))
            assert 10 * np.log10(_band_energy(source, 0, SR / 2) / tone - 1) == pytest.approx(-20.0, abs=3.0)


def test_channel_profile_measures_the_bands_and_the_quiet_frames():
    t = np.arange(2 * SR) / SR
    x = np.sin(2 * np.pi * 60 * t) + np.sin(2 * np.pi * 1000 * t) + np.sin(2 * np.pi * 3500 * t)
    profile = channel_profile(x, SR)
    assert profile.low_share == pytest.approx(1 / 3, abs=0.01)
    assert profile.high_share == pytest.approx(1 / 3, abs=0.01)
    assert profile.floor_db == pytest.approx(0.0, abs=0.5)  # a steady signal: quiet frames are as loud
    gated = x * (t < 1.0) + 1e-2 * np.random.default_rng(0).standard_normal(t.size)  # speech, then a floor
    assert channel_profile(gated, SR).floor_db == pytest.approx(10 * np.log10(1e-4 / 1.5), abs=1.0)


@pytest.mark.slow
def test_describe_command_profiles_each_lists_sources(tmp_path: Path):
    t = np.arange(SR) / SR
    for name, x in (
        ("mix", 0.0 * t),
        ("s1", 0.5 * np.sin(2 * np.pi * 60 * t)),
        ("s2", 0.5 * np.sin(2 * np.pi * 3500 * t)),
    ):
        (tmp_path / name).mkdir()
        sf.write(tmp_path / name / "m0.wav", x.astype(np.float32), SR)
    done = subprocess.run(
        [sys.executable, "-m", "ddpmss.corpus", "describe", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    header, rule, row = done.stdout.splitlines()[:3]
    assert "energy below 150 Hz" in header and rule.startswith("|---")
    # one source all below 150 Hz, one all above 2500 Hz: medians 50 %, ranges 0-100 %
    assert row.startswith(f"| {tmp_path.name} | 2 | 50.0% [0.0%, 100.0%] | 50.0% [0.0%, 100.0%] |")


def test_describe_gives_the_talkers_pitch_distance(tmp_path: Path):
    t = np.arange(SR) / SR
    for name, x in (("s1", np.sin(2 * np.pi * 100 * t)), ("s2", np.sin(2 * np.pi * 150 * t))):
        (tmp_path / name).mkdir()
        sf.write(tmp_path / name / "m0.wav", (0.4 * x).astype(np.float32), SR)
    (tmp_path / "mix").mkdir()
    sf.write(tmp_path / "mix" / "m0.wav", (0.4 * np.sin(2 * np.pi * 100 * t)).astype(np.float32), SR)
    row = describe_lists([tmp_path]).splitlines()[2]
    assert row.endswith(f"| {12 * np.log2(1.5):.1f} [7.0, 7.0] | 0% |")  # a fifth apart: not a close pair


@pytest.mark.slow
def test_describe_command_names_a_missing_list_in_one_sentence(tmp_path: Path):
    missing = tmp_path / "nowhere.csv"
    done = subprocess.run(
        [sys.executable, "-m", "ddpmss.corpus", "describe", str(missing)], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].endswith(f"The mixture list '{missing}' does not exist.")
