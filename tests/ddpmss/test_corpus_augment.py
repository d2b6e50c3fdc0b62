"""Tests for the train-split augmentation of the offline corpus (ddpmss.corpus.augment and its use in `generate`)."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pyroomacoustics as pra
import pytest
import soundfile as sf

from ddpmss.corpus import voices
from ddpmss.corpus.augment import (
    Augmentation,
    Perturbation,
    Room,
    bank_room,
    change_speed,
    change_voice,
    draw_perturbation,
    median_pitch,
    perturb,
    reverberate,
    room_impulse_responses,
)
from ddpmss.corpus.generate import generate_corpus
from ddpmss.corpus.mixing import MIX_PEAK, mix_pair

SR = 16000
PCM_TOLERANCE = 3 / 32768
ROOM = Room((6.0, 5.0, 3.0), 0.5, (3.0, 2.5, 1.2), ((1.0, 1.0, 1.6), (4.5, 4.0, 1.6)))


def _voiced(f0: float = 140.0, seconds: float = 1.5) -> np.ndarray:
    """A vowel-like harmonic tone with 3 % vibrato around `f0` (something Praat's pitch tracker can follow)."""
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.03 * np.sin(2 * np.pi * 3 * t))) / SR
    x = sum(0.8**k * np.sin(k * phase) for k in range(1, 25))
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


def test_perturbation_is_deterministic_by_seed():
    config = Augmentation()
    draws = [draw_perturbation(np.random.default_rng([3, i]), config) for i in range(40)]
    assert draws == [draw_perturbation(np.random.default_rng([3, i]), config) for i in range(40)]
    assert draws != [draw_perturbation(np.random.default_rng([4, i]), config) for i in range(40)]
    assert {p.speed for p in draws} == set(config.speeds)
    assert all(2 ** (-4 / 12) - 1e-3 <= p.pitch_ratio <= 2 ** (4 / 12) + 1e-3 for p in draws)
    assert 0 < sum(p.pitch_ratio != 1.0 for p in draws) < len(draws)  # some utterances keep their pitch
    x = _voiced()
    first, again = (perturb(x, SR, draws[0], peak=0.9) for _ in range(2))
    np.testing.assert_array_equal(first, again)
    other = next(p for p in draws if p != draws[0])
    assert not np.array_equal(first[: len(x) // 2], perturb(x, SR, other, peak=0.9)[: len(x) // 2])


@pytest.mark.parametrize("ratio", [0.8, 1.25])
def test_change_voice_moves_the_median_pitch_by_the_ratio_and_keeps_length(ratio):
    x = _voiced()
    y = change_voice(x, SR, ratio, formant_ratio=1.1)
    assert len(y) == len(x)
    assert median_pitch(y, SR) / median_pitch(x, SR) == pytest.approx(ratio, rel=0.02)


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_perturbation_changes_duration_and_pitch_by_the_factor(factor):
    x = _voiced()
    y = change_speed(x, SR, factor)
    assert len(y) == pytest.approx(len(x) / factor, abs=1)
    assert median_pitch(y, SR) / median_pitch(x, SR) == pytest.approx(factor, rel=0.02)


def test_perturb_never_clips():
    loud = _voiced() * 1.9  # peak 0.95: Change gender's PSOLA may overshoot it
    for p in (Perturbation(1.1, 1.2, 1.1), Perturbation(0.9, 0.8, 0.9)):
        y = perturb(loud, SR, p, peak=0.9)
        assert np.max(np.abs(y)) == pytest.approx(0.9, abs=1e-6)


def test_room_rt60_follows_the_target_and_direct_path_is_aligned():
    full, direct = room_impulse_responses(ROOM, SR)
    short, _ = room_impulse_responses(Room(ROOM.size, 0.25, ROOM.microphone, ROOM.talkers), SR)
    measured = [pra.experimental.measure_rt60(h, SR) for h in full]
    measured_short = [pra.experimental.measure_rt60(h, SR) for h in short]
    assert all(0.7 * ROOM.rt60 < t < 1.6 * ROOM.rt60 for t in measured)
    assert all(t < u for t, u in zip(measured_short, measured))
    for h, d in zip(full, direct):  # the direct path is the full response's first arrival
        first = np.flatnonzero(np.abs(h) > 0.5 * np.max(np.abs(d)))[0]
        assert abs(first - np.argmax(np.abs(d))) <= 3


def test_reverberation_keeps_length_and_adds_a_decaying_tail():
    full, direct = room_impulse_responses(ROOM, SR)
    burst = np.zeros(SR, dtype=np.float32)
    burst[: SR // 4] = np.random.default_rng(0).normal(size=SR // 4) * 0.1
    wet, dry = reverberate(burst, full[0]), reverberate(burst, direct[0])
    assert len(wet) == len(dry) == len(burst)
    tail = slice(SR // 4 + 400, SR // 4 + 400 + SR // 10)  # 0.1 s after the burst ends (plus the path delay)
    energy = [float(np.sum(x[tail].astype(float) ** 2) / np.sum(x.astype(float) ** 2)) for x in (wet, dry)]
    assert energy[0] > 100 * energy[1]
    later = slice(tail.stop, tail.stop + SR // 10)
    assert np.sum(wet[later].astype(float) ** 2) < np.sum(wet[tail].astype(float) ** 2)  # and it decays


def test_rooms_are_drawn_from_the_seed_and_index():
    assert bank_room(0, 5, (0.2, 0.6)) == bank_room(0, 5, (0.2, 0.6))
    assert bank_room(0, 5, (0.2, 0.6)) != bank_room(1, 5, (0.2, 0.6))
    rooms = [bank_room(0, i, (0.2, 0.6)) for i in range(20)]
    assert all(0.2 <= r.rt60 <= 0.6 for r in rooms)
    for room in rooms:
        for point in (room.microphone, *room.talkers):
            assert all(0.5 <= c <= s - 0.5 for c, s in zip(point[:2], room.size[:2]))


def test_mix_pair_in_a_room_sets_gain_on_targets_and_level_on_the_mixture():
    full, direct = room_impulse_responses(ROOM, SR)
    rng = np.random.default_rng(1)
    a, b = (rng.normal(size=SR).astype(np.float32) * 0.1 for _ in range(2))
    heard = (reverberate(a, full[0]), reverberate(b, full[1]))
    mix, s1, s2 = mix_pair(reverberate(a, direct[0]), reverberate(b, direct[1]), 3.0, SR, -30.0, heard)
    assert 10 * np.log10(np.sum(s1.astype(float) ** 2) / np.sum(s2.astype(float) ** 2)) == pytest.approx(3.0, abs=1e-3)
    assert 20 * np.log10(np.sqrt(np.mean(mix.astype(float) ** 2))) == pytest.approx(-30.0, abs=0.01)
    assert max(np.max(np.abs(x)) for x in (mix, s1, s2)) <= MIX_PEAK + 1e-6
    assert np.max(np.abs(mix - (s1 + s2))) > 0.01  # reflections are heard, not in the targets


def _fast_voices() -> list[voices.Voice]:
    """Four train and the held-out espeak-ng and flite voices (milliseconds per sentence; few utterances)."""
    fast = [v for v in voices.list_voices() if v.engine in ("espeak-ng", "flite")]
    train = [v for v in fast if not v.held_out]
    return [*train[:2], *[v for v in train if v.engine == "flite"][:2], *[v for v in fast if v.held_out]]


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> tuple[Path, Path]:
    """The same small corpus (seed 1) with and without augmentation, sharing one synthesis cache."""
    if len({v.engine for v in _fast_voices()}) < 2:
        pytest.skip("espeak-ng and flite are not installed")
    augmented = tmp_path_factory.mktemp("augmented")
    config = Augmentation(reverb_share=0.5, n_rooms=3)
    generate_corpus(augmented, 6, 2, 2, seed=1, rates=(8000,), voices=_fast_voices(), augmentation=config)
    plain = tmp_path_factory.mktemp("plain")
    shutil.copytree(augmented / "utterances", plain / "utterances")
    generate_corpus(plain, 6, 2, 2, seed=1, rates=(8000,), voices=_fast_voices())
    return augmented, plain


def _metadata(out: Path, name: str) -> Path:
    return out / "wav8k" / "min" / "metadata" / f"mixture_{name}.csv"


def test_augmented_corpus_is_reproducible_by_seed(corpora, tmp_path):
    augmented, _ = corpora
    # reuse the synthesized utterances but perturb them again
    shutil.copytree(augmented / "utterances", tmp_path / "utterances", ignore=shutil.ignore_patterns("*-s*-p*-f*.wav"))
    assert not list((tmp_path / "utterances").glob("*/*-s*.wav"))
    config = Augmentation(reverb_share=0.5, n_rooms=3)
    generate_corpus(tmp_path, 6, 2, 2, seed=1, rates=(8000,), voices=_fast_voices(), augmentation=config)
    first, again = _rows(_metadata(augmented, "train_mix_clean")), _rows(_metadata(tmp_path, "train_mix_clean"))
    assert [r["mixture_ID"] for r in first] == [r["mixture_ID"] for r in again]
    for a, b in zip(first, again):
        assert [_sha(a[c]) for c in ("mixture_path", "source_1_path")] == [
            _sha(b[c]) for c in ("mixture_path", "source_1_path")
        ]
    assert _rows(_metadata(augmented, "train_augment")) == _rows(_metadata(tmp_path, "train_augment"))
    generate_corpus(tmp_path, 6, 2, 2, seed=1, rates=(8000,), voices=_fast_voices())  # re-run without
    assert not _metadata(tmp_path, "train_augment").exists()


def test_augmentation_touches_the_train_split_only(corpora):
    augmented, plain = corpora
    for split in ("val", "test_unseen_voices", "test_unseen_sentences"):
        rows = [_rows(_metadata(out, f"{split}_mix_clean")) for out in (augmented, plain)]
        assert [_sha(r["mixture_path"]) for r in rows[0]] == [_sha(r["mixture_path"]) for r in rows[1]]
        clean = _rows(augmented / "utterances" / f"clean_{split}.csv")
        assert not any(r["perturbation"] for r in clean)
    clean_train = _rows(augmented / "utterances" / "clean_train.csv")
    assert any(r["perturbation"] for r in clean_train)
    assert all(Path(r["path"]).is_file() for r in clean_train)
    plain_ids = [r["mixture_ID"] for r in _rows(_metadata(plain, "train_mix_clean"))]
    assert [r["mixture_ID"] for r in _rows(_metadata(augmented, "train_mix_clean"))] == plain_ids  # same pairs


def test_augmented_train_mixtures_keep_the_mixing_rules(corpora):
    augmented, _ = corpora
    log = {r["mixture_ID"]: r for r in _rows(_metadata(augmented, "train_augment"))}
    speaker_of = {r["voice"]: r["speaker"] for r in _rows(augmented / "utterances" / "clean_train.csv")}
    assert {bool(r["rt60"]) for r in log.values()} == {True, False}  # seed 1 gives both kinds
    for row in _rows(_metadata(augmented, "train_mix_clean")):
        mix, s1, s2 = (sf.read(row[c], dtype="float32")[0] for c in ("mixture_path", "source_1_path", "source_2_path"))
        assert max(np.max(np.abs(x)) for x in (mix, s1, s2)) < 1.0
        gain_db = 10 * np.log10(np.sum(s1.astype(float) ** 2) / np.sum(s2.astype(float) ** 2))
        assert -5.01 <= gain_db <= 5.01
        entry = log[row["mixture_ID"]]
        low, high = Augmentation().level_range_db
        assert low <= float(entry["level_db"]) <= high
        assert 20 * np.log10(np.sqrt(np.mean(mix.astype(float) ** 2))) <= float(entry["level_db"]) + 0.05
        if not entry["rt60"]:
            assert np.max(np.abs(mix - (s1 + s2))) <= PCM_TOLERANCE
    for mixture_id in log:  # different speakers: a perturbed copy is never mixed with its own voice
        first, second = (uid.rsplit("-", 1)[0] for uid in mixture_id.split("_"))
        assert speaker_of[first] != speaker_of[second]
