"""Tests for ddpmss.data: TTS synthesis, the LibriMix-format corpus and mixture-list reading."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ddpmss import data
from tests.support.paths import ROOT

PCM_TOLERANCE = 3 / 32768  # three 16-bit steps: each of mix, s1, s2 is rounded once
SPLITS = ("train", "val", "test_unseen_voices", "test_unseen_sentences")


def _fast_voices() -> list[data.Voice]:
    """Installed espeak-ng and flite voices (milliseconds per sentence): train and held out."""
    return [v for v in data.list_voices() if v.engine in ("espeak-ng", "flite")]


needs_tts = pytest.mark.skipif(
    len({v.engine for v in _fast_voices()}) < 2, reason="espeak-ng and flite are not installed"
)


@needs_tts
@pytest.mark.parametrize("engine", ["espeak-ng", "flite"])
def test_synthesize_gives_speech_at_requested_rate(engine):
    voice = next(v for v in data.list_voices() if v.engine == engine)
    audio = data.synthesize("The birch canoe slid on the smooth planks.", voice, sr=8000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 1.0 < len(audio) / 8000 < 6.0  # a spoken sentence, at 8000 samples per second
    assert 0.5 < np.max(np.abs(audio)) < 1.0
    assert np.sqrt(np.mean(audio**2)) > 0.02
    assert np.max(np.abs(audio[:400])) < 0.05  # leading edge is (near) silence


def test_synthesize_rejects_unknown_voice():
    with pytest.raises(ValueError, match="not installed"):
        data.synthesize("Hello there.", "no-such-voice")


def test_sentences_are_reproducible_distinct_and_5_to_12_words():
    sentences = data.make_sentences(500, seed=3)
    assert sentences == data.make_sentences(500, seed=3)
    assert sentences != data.make_sentences(500, seed=4)
    assert len(set(sentences)) == 500
    assert all(5 <= len(s.split()) <= 12 for s in sentences)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    if len({v.engine for v in _fast_voices()}) < 2:
        pytest.skip("espeak-ng and flite are not installed")
    out = tmp_path_factory.mktemp("corpus")
    data.generate_corpus(out, n_train=6, n_val=2, n_test=2, seed=1, rates=(8000,), voices=_fast_voices())
    return out


def _rows(csv_path: Path) -> list[dict]:
    with open(csv_path, newline="") as f:
        return list(csv.DictReader(f))


def _metadata(out: Path, split: str) -> Path:
    return out / "wav8k" / "min" / "metadata" / f"mixture_{split}_mix_clean.csv"


def test_corpus_csvs_have_librimix_columns_and_existing_files(corpus):
    for split, n in zip(SPLITS, (6, 2, 2, 2)):
        with open(_metadata(corpus, split), newline="") as f:
            assert next(csv.reader(f)) == data.LIBRIMIX_COLUMNS
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
    data.generate_corpus(tmp_path, n_train=6, n_val=2, n_test=2, seed=1, rates=(8000,), voices=_fast_voices())
    for split in SPLITS:
        first, again = _rows(_metadata(corpus, split)), _rows(_metadata(tmp_path, split))
        assert [r["mixture_ID"] for r in first] == [r["mixture_ID"] for r in again]
        sha = [hashlib.sha256(Path(r["mixture_path"]).read_bytes()).hexdigest() for r in (first[0], again[0])]
        assert sha[0] == sha[1]


def test_mix_pair_is_exact_and_peak_safe():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=3000).astype(np.float32), 5 * rng.normal(size=2000).astype(np.float32)
    mix, s1, s2 = data.mix_pair(a, b, gain_db=4.0, max_len=1500)
    assert len(mix) == len(s1) == len(s2) == 1500
    np.testing.assert_allclose(mix, s1 + s2, atol=1e-7)
    assert max(np.max(np.abs(x)) for x in (mix, s1, s2)) <= data.MIX_PEAK + 1e-6
    assert 10 * np.log10(np.sum(s1**2) / np.sum(s2**2)) == pytest.approx(4.0, abs=1e-3)


def _write_triplet(folder: Path, mix_dir: str, name: str) -> None:
    for sub in (mix_dir, "s1", "s2"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        sf.write(folder / sub / name, np.full(800, 0.1, dtype=np.float32), 8000)


def test_read_mixture_list_reads_csv_with_relative_paths(tmp_path):
    _write_triplet(tmp_path, "mix", "a.wav")
    (tmp_path / "list.csv").write_text(
        "mixture_ID,mixture_path,source_1_path,source_2_path,length\na,mix/a.wav,s1/a.wav,s2/a.wav,800\n"
    )
    [entry] = data.read_mixture_list(tmp_path / "list.csv")
    assert entry.mixture_id == "a" and entry.length == 800
    assert entry.mixture_path == tmp_path / "mix" / "a.wav"
    assert entry.source_paths == (tmp_path / "s1" / "a.wav", tmp_path / "s2" / "a.wav")


@pytest.mark.parametrize("mix_dir", ["mix", "mix_clean"])
def test_read_mixture_list_reads_folders(tmp_path, mix_dir):
    for name in ("b.wav", "a.wav"):
        _write_triplet(tmp_path, mix_dir, name)
    entries = data.read_mixture_list(tmp_path)
    assert [e.mixture_id for e in entries] == ["a", "b"]
    assert entries[0].source_paths == (tmp_path / "s1" / "a.wav", tmp_path / "s2" / "a.wav")
    assert entries[0].length is None


def test_read_mixture_list_reads_the_committed_examples():
    entries = data.read_mixture_list(ROOT / "examples" / "examples.csv")
    assert len(entries) >= 2
    for entry in entries:
        assert sf.info(entry.mixture_path).frames == entry.length
        assert all(path.is_file() for path in entry.source_paths)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("mixture_ID,source_1_path\na,s1/a.wav\n", "has no 'mixture_path' column"),
        (
            "mixture_ID,mixture_path,source_1_path\na,mix/a.wav,s1/gone.wav\n",
            "Line 2 of .* points to .*gone.wav', which does not exist",
        ),
        ("mixture_ID,mixture_path,source_1_path,source_2_path,length\n", "contains no mixtures"),
    ],
)
def test_read_mixture_list_csv_errors(tmp_path, content, message):
    _write_triplet(tmp_path, "mix", "a.wav")
    (tmp_path / "list.csv").write_text(content)
    with pytest.raises(ValueError, match=message):
        data.read_mixture_list(tmp_path / "list.csv")


def test_read_mixture_list_path_and_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        data.read_mixture_list(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="neither a mix/ nor a mix_clean/"):
        data.read_mixture_list(tmp_path)
    _write_triplet(tmp_path, "mix", "a.wav")
    (tmp_path / "mix" / "extra.wav").write_bytes((tmp_path / "mix" / "a.wav").read_bytes())
    with pytest.raises(ValueError, match="'extra.wav' has no matching file"):
        data.read_mixture_list(tmp_path)


@pytest.mark.skipif(
    not all(clip.path.exists() for clip in data.CLIPS.values()),
    reason=f"the Debian packages {data.REAL_PACKAGES} are not installed",
)
def test_real_corpus_keeps_8k_material_out_of_the_16k_set(tmp_path):
    made = data.make_real_corpus(tmp_path)
    assert made == {8000: 6, 16000: 4}
    rows16 = _rows(tmp_path / "wav16k" / "min" / "metadata" / "mixture_real_mix_clean.csv")
    assert not any("codec2-hts" in r["mixture_ID"] for r in rows16)
    for row in rows16:
        mix, s1, s2 = (sf.read(row[c], dtype="float32")[0] for c in ("mixture_path", "source_1_path", "source_2_path"))
        assert np.max(np.abs(mix - (s1 + s2))) <= PCM_TOLERANCE


def test_pack_subset_is_a_lossless_voice_balanced_copy(corpus, tmp_path):
    counts = data.pack_subset(corpus, tmp_path / "packed", train_per_voice=1, val_per_voice=1, val_mixtures=1)
    train = _rows(tmp_path / "packed" / "clean_train.csv")
    voices = {row["voice"] for row in _rows(corpus / "utterances" / "clean_train.csv")}
    assert counts["train"] == len(train) == len(voices)  # one utterance of every training voice
    assert {row["voice"] for row in train} == voices
    original = {row["text"] + row["voice"]: row["path"] for row in _rows(corpus / "utterances" / "clean_train.csv")}
    for row in train:
        packed, _ = sf.read(tmp_path / "packed" / row["path"], dtype="int16")
        source, _ = sf.read(original[row["text"] + row["voice"]], dtype="int16")
        np.testing.assert_array_equal(packed, source)
    (mixture,) = data.read_mixture_list(tmp_path / "packed" / "val8k.csv")  # relative paths resolve
    mix, s1, s2 = (sf.read(p, dtype="float32")[0] for p in (mixture.mixture_path, *mixture.source_paths))
    assert np.max(np.abs(mix - (s1 + s2))) <= 2 * PCM_TOLERANCE
