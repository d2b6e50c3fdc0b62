"""Side-by-side lab callbacks without a browser: separation, metrics, spectrograms, errors, examples."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app import lab as lab_mod
from app.context import ModelLoader
from ddpmss.audio import AudioError
from ddpmss.settings import PIPELINES
from listening_tests.storage import RatingError
from tests.support.app import make_lab


@pytest.fixture()
def lab(tmp_path: Path, tiny_separator):
    return make_lab(tmp_path, loader=ModelLoader(lambda: tiny_separator))


def test_examples_are_listed_with_their_references() -> None:
    names = [e.mixture_id for e in lab_mod.examples()]
    assert names, "examples/examples.csv lists no mixtures"
    mixture, ref1, ref2 = lab_mod.example_files(names[0])
    assert all(Path(p).is_file() for p in (mixture, ref1, ref2))
    with pytest.raises(ValueError, match="no example called"):
        lab_mod.example_files("nope")


def test_separate_with_references_gives_six_outputs_spectrograms_and_metrics(lab) -> None:
    mixture, ref1, ref2 = lab_mod.example_files(lab_mod.examples()[0].mixture_id)
    stages = []
    run = lab_mod.separate(lab, mixture, ref1, ref2, lambda f, desc="": stages.append(desc), with_dnsmos=False)
    files = run.output_files()
    assert len(files) == 6 and all(Path(f).is_file() for f in files)
    assert {sf.info(f).samplerate for f in files} == {lab.settings.output_sr}
    assert all(p.is_file() and p.read_bytes()[:4] == b"\x89PNG" for ps in run.spectrograms.values() for p in ps)
    rows = run.metrics_rows()
    assert len(rows) == 6 and len(rows[0]) == len(lab_mod.metrics_headers())
    assert all(math.isfinite(r[2]) for r in rows)  # SI-SDR of every output
    summary = json.loads(json.dumps(run.summary()))  # JSON-ready: no NaN
    assert set(summary["metrics"]) == set(PIPELINES) and summary["timings_s"]["sepformer"] > 0
    assert "Loading the models" in stages and "Scoring against the references" in stages


def test_separate_without_references_has_no_metrics(lab, tmp_path: Path, speechlike) -> None:
    a, b, sr = speechlike
    path = tmp_path / "mix.flac"
    sf.write(path, a + b, sr)
    run = lab_mod.separate(lab, str(path))
    assert run.metrics is None and run.metrics_rows() == [] and len(run.output_files()) == 6


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"this is not audio at all" * 10, "not a readable audio file"),
    ],
)
def test_bad_uploads_are_refused_with_one_sentence(lab, tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "upload.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=message):
        lab_mod.separate(lab, str(path))


def test_upload_size_limit_is_checked_before_decoding(lab, tmp_path: Path) -> None:
    lab.settings.max_upload_mb = 0.01
    path = tmp_path / "big.wav"
    sf.write(path, np.zeros(16000, np.float32) + 0.1, 16000)
    with pytest.raises(AudioError, match="upload limit"):
        lab_mod.separate(lab, str(path))


def test_missing_inputs_are_explained(lab) -> None:
    mixture, ref1, _ = lab_mod.example_files(lab_mod.examples()[0].mixture_id)
    with pytest.raises(ValueError, match="Upload or record a mixture"):
        lab_mod.separate(lab, None)
    with pytest.raises(ValueError, match="both reference sources"):
        lab_mod.separate(lab, mixture, ref1, None)


def test_model_loading_errors_reach_the_user(tmp_path: Path) -> None:
    from ddpmss.models import ModelError

    def broken() -> None:
        raise ModelError("The models folder 'x' must hold sepformer/ and diffwave/.")

    lab = make_lab(tmp_path, loader=ModelLoader(broken))
    mixture = lab_mod.example_files(lab_mod.examples()[0].mixture_id)[0]
    with pytest.raises(ModelError, match="must hold sepformer"):
        lab_mod.separate(lab, mixture)
    assert lab.models.status().startswith("Models: not available. The models folder")


def test_quick_ratings_are_stored_once_under_the_demo_protocol(lab) -> None:
    assert lab_mod.rate_output(lab, "run1", "sepformer", 1, None) is None  # cleared: nothing stored
    first = lab_mod.rate_output(lab, "run1", "sepformer", 1, 4)
    again = lab_mod.rate_output(lab, "run1", "sepformer", 1, 4)  # a double click
    assert first.id == again.id
    with pytest.raises(RatingError, match="already been rated"):  # a changed score is refused, not dropped
        lab_mod.rate_output(lab, "run1", "sepformer", 1, 2)
    lab_mod.rate_output(lab, "run1", "sepformer_diffwave", 2, 5)
    records = [r for r in lab.store.list_ratings() if r.protocol == "demo"]
    assert [(r.item_id, r.condition, r.score) for r in records] == [
        ("lab-run1_s1", "sepformer", 4),
        ("lab-run1_s2", "sepformer_diffwave", 5),
    ]
    assert len({r.session_id for r in records}) == 1
    with pytest.raises(ValueError, match="does not exist"):
        lab_mod.rate_output(lab, "run1", "other", 1, 3)
