"""Tests for making the offline corpus (ddpmss.corpus): TTS synthesis, sentences, mixing, real speech, packing."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ddpmss.corpus import real, voices
from ddpmss.corpus.generate import generate_corpus
from ddpmss.corpus.librimix import LIBRIMIX_COLUMNS, read_mixture_list
from ddpmss.corpus.mixing import MIX_PEAK, mix_pair
from ddpmss.corpus.pack import pack_subset
from ddpmss.corpus.sentences import make_sentences

PCM_TOLERANCE = 3 / 32768  # three 16-bit steps: each of mix, s1, s2 is rounded once
SPLITS = ("train", "val", "test_unseen_voices", "test_unseen_sentences")


def _fast_voices() -> list[voices.Voice]:
    """Installed espeak-ng and flite voices (milliseconds per sentence): train and held out."""
    return [v for v in voices.list_voices() if v.engine in ("espeak-ng", "flite")]


needs_tts = pytest.mark.skipif(
    len({v.engine for v in _fast_voices()}) < 2, reason="espeak-ng and flite are not installed"
)


@needs_tts
@pytest.mark.parametrize("engine", ["espeak-ng", "flite"])
def test_synthesize_gives_speech_at_requested_rate(engine):
    voice = next(v for v in voices.list_voices() if v.engine == engine)
    audio = voices.synthesize("The birch canoe slid on the smooth planks.", voice, sr=8000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 1.0 < len(audio) / 8000 < 6.0  # a spoken sentence, at 8000 samples per second
    assert 0.5 < np.max(np.abs(audio)) < 1.0
    assert np.sqrt(np.mean(audio**2)) > 0.02
    assert np.max(np.abs(audio[:400])) < 0.05  # leading edge is (near) silence


def _installed(name: str) -> bool:
    return name in {v.name for v in voices.list_voices()}


@pytest.mark.parametrize("name", ["festival-it-lp", "festival-cs-machac", "espeak-de-m3"])
def test_voices_of_other_languages_read_the_english_sentences(name):
    if not _installed(name):
        pytest.skip(f"voice {name} is not installed")
    voice = voices.get_voice(name)
    assert not voice.held_out  # train-only: the held-out test set stays as it was
    audio = voices.synthesize("The birch canoe slid on the smooth planks.", voice, sr=16000)
    assert 1.0 < len(audio) / 16000 < 6.0
    assert np.sqrt(np.mean(audio**2)) > 0.02


@pytest.mark.slow
@pytest.mark.parametrize("name", [v.name for v in voices.VOICE_CATALOGUE])
def test_every_installed_voice_speaks(name):
    if not _installed(name):
        pytest.skip(f"voice {name} is not installed")
    audio = voices.synthesize("Dora said that the soft cloud closed the paint after lunch.", name, sr=16000)
    assert 1.0 < len(audio) / 16000 < 8.0
    assert np.sqrt(np.mean(audio**2)) > 0.02
    assert np.max(np.abs(audio)) == pytest.approx(voices.TTS_PEAK, abs=1e-6)


def test_synthesize_rejects_unknown_voice():
    with pytest.raises(ValueError, match="not installed"):
        voices.synthesize("Hello there.", "no-such-voice")


def test_sentences_are_reproducible_distinct_and_5_to_12_words():
    bank = make_sentences(500, seed=3)
    assert bank == make_sentences(500, seed=3)
    assert bank != make_sentences(500, seed=4)
    assert len(set(bank)) == 500
    assert all(5 <= len(s.split()) <= 12 for s in bank)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    if len({v.engine for v in _fast_voices()}) < 2:
        pytest.skip("espeak-ng and flite are not installed")
    out = tmp_path_factory.mktemp("corpus")
    generate_corpus(out, n_train=6, n_val=2, n_test=2, seed=1, rates=(8000,), voices=_fast_voices())
    return out


def _rows(csv_path: Path) -> list[dict]:
    with open(csv_path, newline="") as f:
        return list(csv.DictReader(f))


def _metadata(out: Path, split: str) -> Path:
    return out / "wav8k" / "min" / "metadata" / f"mixture_{split}_mix_clean.csv"


def test_corpus_csvs_have_librimix_columns_and_existing_files(corpus):
    for split, n in zip(SPLITS, (6, 2, 2, 2)):
        with open(_metadata(corpus, split), newline="") as f:
            assert next(csv.reader(f)) == LIBRIMIX_COLUMNS
        rows = _rows(_metadata(corpus, split))
        assert len(rows) == n
        for row in rows:
            for column in ("mixture_path", "source_1_path", "source_2_path"):
                path = Path(row[column])
                assert path.is_absolute() and path.is_file()
                assert sf.info(path).samplerate == 8000
                assert sf.info(path).frames == int(row["length"])


def test_mixtures_are_exact_sums_unclipped_with_gain_in_range(corpus):
    for split in SPLITS:
        for row in _rows(_metadata(corpus, split)):
            mix, s1, s2 = (
                sf.read(row[c], dtype="float32")[0] for c in ("mixture_path", "source_1_path", "source_2_path")
            )
            assert np.max(np.abs(mix - (s1 + s2))) <= PCM_TOLERANCE
            assert max(np.max(np.abs(x)) for x in (mix, s1, s2)) < 1.0
            gain_db = 10 * np.log10(np.sum(s1.astype(float) ** 2) / np.sum(s2.astype(float) ** 2))
            assert -5.01 <= gain_db <= 5.01


def test_unseen_voice_split_shares_no_voice_or_speaker_with_train(corpus):
    clean = {split: _rows(corpus / "utterances" / f"clean_{split}.csv") for split in SPLITS}
    train_voices = {r["voice"] for s in ("train", "val") for r in clean[s]}
    train_speakers = {r["speaker"] for s in ("train", "val") for r in clean[s]}
    unseen = clean["test_unseen_voices"]
    assert unseen and all(r["split"] == "test_unseen_voices" for r in unseen)
    assert not {r["voice"] for r in unseen} & train_voices
    assert not {r["speaker"] for r in unseen} & train_speakers
    assert all(Path(r["path"]).is_file() for rows in clean.values() for r in rows)
    for row in _rows(_metadata(corpus, "test_unseen_voices")):
        assert not any(voice in row["mixture_ID"] for voice in train_voices)
    train_texts = {r["text"] for r in clean["train"]}
    assert not {r["text"] for r in clean["test_unseen_sentences"]} & train_texts


def test_same_seed_gives_identical_corpus(corpus, tmp_path):
    shutil.copytree(corpus / "utterances", tmp_path / "utterances")  # reuse the synthesis cache
    generate_corpus(tmp_path, n_train=6, n_val=2, n_test=2, seed=1, rates=(8000,), voices=_fast_voices())
    for split in SPLITS:
        first, again = _rows(_metadata(corpus, split)), _rows(_metadata(tmp_path, split))
        assert [r["mixture_ID"] for r in first] == [r["mixture_ID"] for r in again]
        sha = [hashlib.sha256(Path(r["mixture_path"]).read_bytes()).hexdigest() for r in (first[0], again[0])]
        assert sha[0] == sha[1]


def test_mix_pair_is_exact_and_peak_safe():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=3000).astype(np.float32), 5 * rng.normal(size=2000).astype(np.float32)
    mix, s1, s2 = mix_pair(a, b, gain_db=4.0, max_len=1500)
    assert len(mix) == len(s1) == len(s2) == 1500
    np.testing.assert_allclose(mix, s1 + s2, atol=1e-7)
    assert max(np.max(np.abs(x)) for x in (mix, s1, s2)) <= MIX_PEAK + 1e-6
    assert 10 * np.log10(np.sum(s1**2) / np.sum(s2**2)) == pytest.approx(4.0, abs=1e-3)


def test_a_clip_of_several_takes_joins_them_trimmed_with_a_short_gap(tmp_path):
    """alsa-utils' voice comes as short takes: each is trimmed to 0.1 s of silence around its speech and the
    takes are joined with PART_GAP_S of silence, so two 0.5 s bursts make one 1.55 s recording."""
    sr = 8000
    burst = np.concatenate(
        [np.zeros(sr // 2), 0.5 * np.sin(2 * np.pi * 200 * np.arange(sr // 2) / sr), np.zeros(sr // 2)]
    )
    for name in ("one.wav", "two.wav"):
        sf.write(tmp_path / name, burst.astype(np.float32), sr)
    clip = real.RealClip("takes", tmp_path, sr, "someone", parts=("one.wav", "two.wav"))
    assert clip.files == [tmp_path / "one.wav", tmp_path / "two.wav"]
    joined = real.load_clip(clip)
    assert len(joined) == int((0.1 + 0.5 + 0.1 + real.PART_GAP_S + 0.1 + 0.5 + 0.1) * sr)
    loud = np.flatnonzero(np.abs(joined) > 0.1)
    gap = np.diff(loud).max() / sr  # the silence between the two bursts
    assert gap == pytest.approx(0.1 + real.PART_GAP_S + 0.1, abs=0.01)


@pytest.mark.skipif(
    not all(f.exists() for clip in real.ALL_CLIPS.values() for f in clip.files),
    reason=f"the Debian packages {real.REAL_PACKAGES} are not installed",
)
def test_real_corpus_keeps_8k_material_out_of_the_16k_set(tmp_path):
    """The held-out split 'real' and the validation split 'real_dev' share no speaker, and 8 kHz recordings
    are never upsampled into the 16 kHz set."""
    made = real.make_real_corpus(tmp_path)
    assert made == {"real": {8000: 10, 16000: 8}, "real_dev": {8000: 10, 16000: 0}}
    speakers = {}
    for split in made:
        rows = _rows(tmp_path / "wav8k" / "min" / "metadata" / f"mixture_{split}_mix_clean.csv")
        pairs = real.REAL_PAIRS if split == "real" else real.DEV_PAIRS
        assert {r["mixture_ID"] for r in rows} == {f"{a}_{b}" for a, b in pairs}
        speakers[split] = {real.ALL_CLIPS[name].speaker for pair in pairs for name in pair}
    assert len(speakers["real_dev"]) == 5 and not speakers["real"] & speakers["real_dev"]
    rows16 = _rows(tmp_path / "wav16k" / "min" / "metadata" / "mixture_real_mix_clean.csv")
    assert not any("codec2-hts" in r["mixture_ID"] for r in rows16)
    for row in rows16:
        mix, s1, s2 = (sf.read(row[c], dtype="float32")[0] for c in ("mixture_path", "source_1_path", "source_2_path"))
        assert np.max(np.abs(mix - (s1 + s2))) <= PCM_TOLERANCE


def test_pack_subset_is_a_lossless_voice_balanced_copy(corpus, tmp_path):
    counts = pack_subset(corpus, tmp_path / "packed", train_per_voice=1, val_per_voice=1, val_mixtures=1)
    train = _rows(tmp_path / "packed" / "clean_train.csv")
    voices = {row["voice"] for row in _rows(corpus / "utterances" / "clean_train.csv")}
    assert counts["train"] == len(train) == len(voices)  # one utterance of every training voice
    assert {row["voice"] for row in train} == voices
    original = {row["text"] + row["voice"]: row["path"] for row in _rows(corpus / "utterances" / "clean_train.csv")}
    for row in train:
        packed, _ = sf.read(tmp_path / "packed" / row["path"], dtype="int16")
        source, _ = sf.read(original[row["text"] + row["voice"]], dtype="int16")
        np.testing.assert_array_equal(packed, source)
    (mixture,) = read_mixture_list(tmp_path / "packed" / "val8k.csv")  # relative paths resolve
    mix, s1, s2 = (sf.read(p, dtype="float32")[0] for p in (mixture.mixture_path, *mixture.source_paths))
    assert np.max(np.abs(mix - (s1 + s2))) <= 2 * PCM_TOLERANCE
