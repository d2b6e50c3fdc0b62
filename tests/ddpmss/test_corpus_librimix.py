"""Tests for reading mixture lists (ddpmss.corpus.librimix), apart from the generator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ddpmss.corpus.librimix import read_mixture_list
from tests.support.paths import ROOT


def test_reading_mixture_lists_and_the_runtime_load_no_corpus_generator():
    code = (
        "import sys, ddpmss.corpus.librimix, ddpmss.pipelines, ddpmss.evaluate; "
        "print(sorted(m for m in sys.modules if m.startswith('ddpmss.corpus.') and m != 'ddpmss.corpus.librimix'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"
    code = "import sys, ddpmss.corpus.librimix, ddpmss.corpus.voices; print('ddpmss.corpus.voices' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "True"  # the check above can see a generator module when one is loaded


def _write_triplet(folder: Path, mix_dir: str, name: str) -> None:
    for sub in (mix_dir, "s1", "s2"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        sf.write(folder / sub / name, np.full(800, 0.1, dtype=np.float32), 8000)


def test_read_mixture_list_reads_csv_with_relative_paths(tmp_path):
    _write_triplet(tmp_path, "mix", "a.wav")
    (tmp_path / "list.csv").write_text(
        "mixture_ID,mixture_path,source_1_path,source_2_path,length\na,mix/a.wav,s1/a.wav,s2/a.wav,800\n"
    )
    [entry] = read_mixture_list(tmp_path / "list.csv")
    assert entry.mixture_id == "a" and entry.length == 800
    assert entry.mixture_path == tmp_path / "mix" / "a.wav"
    assert entry.source_paths == (tmp_path / "s1" / "a.wav", tmp_path / "s2" / "a.wav")


@pytest.mark.parametrize("mix_dir", ["mix", "mix_clean"])
def test_read_mixture_list_reads_folders(tmp_path, mix_dir):
    for name in ("b.wav", "a.wav"):
        _write_triplet(tmp_path, mix_dir, name)
    entries = read_mixture_list(tmp_path)
    assert [e.mixture_id for e in entries] == ["a", "b"]
    assert entries[0].source_paths == (tmp_path / "s1" / "a.wav", tmp_path / "s2" / "a.wav")
    assert entries[0].length is None


def test_read_mixture_list_reads_the_committed_examples():
    entries = read_mixture_list(ROOT / "examples" / "examples.csv")
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
        read_mixture_list(tmp_path / "list.csv")


def test_read_mixture_list_path_and_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_mixture_list(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="neither a mix/ nor a mix_clean/"):
        read_mixture_list(tmp_path)
    _write_triplet(tmp_path, "mix", "a.wav")
    (tmp_path / "mix" / "extra.wav").write_bytes((tmp_path / "mix" / "a.wav").read_bytes())
    with pytest.raises(ValueError, match="'extra.wav' has no matching file"):
        read_mixture_list(tmp_path)
