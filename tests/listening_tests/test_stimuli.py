"""Stimulus building: excerpt, fades, anchors, loudness without clipping, manifest, controls, resume."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from scipy import signal

from ddpmss.audio import PEAK_LIMIT
from ddpmss.corpus.librimix import MixtureEntry, read_mixture_list
from ddpmss.pipelines import SeparationResult
from ddpmss.settings import PROJECT_DIR
from listening_tests.__main__ import main
from listening_tests.protocols import ACR_LABELS, SCALE_LABELS
from listening_tests.stimuli.anchors import lowpass
from listening_tests.stimuli.build import build_stimuli
from listening_tests.stimuli.controls import (
    TRAP_SCORES,
    Control,
    control_signal,
    gold_bad,
    insert_message,
    plan_controls,
    speak,
    trap_message,
)
from listening_tests.stimuli.loudness import apply_fades, excerpt_window, loudness, normalise_loudness
from listening_tests.stimuli.manifest import (
    MANIFEST_COLUMNS,
    BuildError,
    load_stimulus_set,
    read_manifest,
    sha256_file,
)
from listening_tests.study import BuildConfig

FAST = BuildConfig(excerpt_s=1.5, pipelines=("sepformer",), with_dnsmos=False, trap_clips=1, gold_clips=2)


def noise_talkers(sr: int, seconds: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A low-band and a high-band 'talker' with syllable-like envelopes, easy to tell apart."""
    rng = np.random.default_rng(seed)
    n = int(sr * seconds)
    t = np.arange(n) / sr
    env = (0.5 * (1 + np.sin(2 * np.pi * 3 * t))) ** 2
    low = signal.sosfilt(signal.butter(6, 700, fs=sr, output="sos"), rng.standard_normal(n)) * env
    band = [1500, min(3500, sr / 2 - 300)]
    high = signal.sosfilt(signal.butter(6, band, "bandpass", fs=sr, output="sos"), rng.standard_normal(n))
    return (0.1 * low).astype(np.float32), (0.1 * high * np.roll(env, n // 3)).astype(np.float32)


class BandSplitter:
    """A stand-in separator: splits the mixture by frequency and returns the sources swapped."""

    def __init__(self) -> None:
        self.calls = 0

    def separate(self, mixture: np.ndarray, sr: int, pipelines: list[str]) -> SeparationResult:
        self.calls += 1
        low = signal.sosfiltfilt(signal.butter(6, 1100, fs=sr, output="sos"), mixture)
        out = np.stack([mixture - low, low]).astype(np.float32)
        return SeparationResult(sr, {p: out for p in pipelines}, {}, None, out)


def make_mixtures(root: Path, sr: int = 16000, count: int = 1, seconds: float = 2.0) -> list[MixtureEntry]:
    entries = []
    for k in range(count):
        folder = root / f"m{k}"
        folder.mkdir(parents=True, exist_ok=True)
        a, b = noise_talkers(sr, seconds, seed=k)
        for name, x in (("s1", a), ("s2", b), ("mix", a + b)):
            sf.write(folder / f"{name}.wav", x, sr)
        entries.append(MixtureEntry(f"mix{k}", folder / "mix.wav", (folder / "s1.wav", folder / "s2.wav"), None))
    return entries


def test_excerpt_is_where_the_target_talks() -> None:
    sr = 1000
    x = np.zeros(6 * sr, dtype=np.float32)
    x[3500:4200] = 1.0
    start, end = excerpt_window(x, sr, 2.0)
    assert end - start == 2 * sr and start <= 3500 and end >= 4200
    assert excerpt_window(x[:1500], sr, 2.0) == (0, 1500)


def test_fades_are_raised_cosine() -> None:
    sr = 16000
    y = apply_fades(np.ones(sr, dtype=np.float32), sr, 5.0)
    n = 80
    assert y[0] < 0.001 and y[-1] < 0.001 and np.all(y[n:-n] == 1.0)
    assert np.all(np.diff(y[:n]) > 0) and np.allclose(y[:n], y[-n:][::-1])
    assert np.isclose(y[n // 2 - 1] + y[n // 2], 1.0, atol=0.05)


@pytest.mark.parametrize(("cutoff", "sr"), [(3500, 16000), (7000, 32000), (2000, 8000)])
def test_anchor_lowpass_removes_the_band_above_the_cutoff(cutoff: int, sr: int) -> None:
    x = np.random.default_rng(0).standard_normal(sr).astype(np.float32)
    freqs, power = signal.welch(lowpass(x, sr, cutoff), sr, nperseg=1024)
    passband = power[(freqs > 200) & (freqs < cutoff * 0.8)].mean()
    stopband = power[freqs > cutoff * 1.5].mean()
    assert 10 * np.log10(passband / stopband) > 40


def test_loudness_normalisation_reaches_target_and_never_clips() -> None:
    sr = 16000
    rng = np.random.default_rng(1)
    speech = (0.01 * rng.standard_normal(2 * sr)).astype(np.float32)
    y, lufs, gain = normalise_loudness(speech, sr, -26.0)
    assert abs(lufs + 26) < 0.01 and abs(loudness(y, sr) + 26) < 0.05
    assert np.isclose(gain, 20 * np.log10(np.abs(y).max() / np.abs(speech).max()), atol=1e-3)
    spiky = speech * 0.1
    spiky[::4000] = 0.5  # a huge crest factor: -26 LUFS would need a peak far above full scale
    y, lufs, gain = normalise_loudness(spiky, sr, -26.0)
    assert np.abs(y).max() == pytest.approx(PEAK_LIMIT) and lufs < -30
    assert np.isclose(20 * np.log10(np.abs(y).max() / 0.5), gain, atol=1e-3)
    assert abs(loudness(y, sr) - lufs) < 0.05
    assert normalise_loudness(spiky[:100], sr, -26.0)[1:] == (pytest.approx(float("nan"), nan_ok=True), 0.0)


def test_gold_bad_is_a_muffled_noisy_copy() -> None:
    sr = 16000
    ref = noise_talkers(sr, 3.0, seed=2)[0]
    bad = gold_bad(ref, sr, seed=0)
    assert bad.shape == ref.shape and np.corrcoef(bad, ref)[0, 1] < 0.8
    noise = bad - lowpass(ref, sr, 1000)
    assert np.mean(noise**2) == pytest.approx(np.mean(ref**2), rel=0.05)  # 0 dB SNR


def test_trap_is_the_input_interrupted_by_the_level_matched_instruction() -> None:
    sr, head, pause = 16000, 16000, 4800  # 1.5 s of the input (at most a third), then 0.3 s of silence
    ref = noise_talkers(sr, 3.0, seed=2)[0]
    message = np.full(sr, 0.05, dtype=np.float32)
    trap = insert_message(ref, message, sr, 5.0)
    assert len(trap) == len(ref) and not np.allclose(trap, ref)
    rms = np.sqrt(np.mean(ref**2))
    np.testing.assert_allclose(trap[head + pause : head + pause + sr], rms, rtol=1e-5)  # the instruction
    assert not trap[head : head + pause].any() and not trap[head + pause + sr : head + 2 * pause + sr].any()
    np.testing.assert_allclose(trap[100 : head - 100], ref[100 : head - 100])  # the input, untouched
    resumed = head + 2 * pause + sr  # then the input goes on where it was interrupted, cut to the input's length
    np.testing.assert_allclose(trap[resumed + 100 : -100], ref[head + 100 : head + len(ref) - resumed - 100])


def test_trap_clip_speaks_the_expected_answer() -> None:
    sr, config = 16000, BuildConfig()
    ref = noise_talkers(sr, 3.0, seed=2)[0]
    assert trap_message(2) == "This is an attention check. Please select the answer Poor."
    spoken = speak(trap_message(2), sr, config.voice)
    trap = control_signal(Control("trap_2", "trap", 2, 0), ref, sr, config, seed=0)
    start = 16000 + 4800
    segment = trap[start : start + len(spoken) - 100]  # the last 5 ms are faded out
    assert len(trap) >= start + len(spoken) and np.corrcoef(segment, spoken[: len(segment)])[0, 1] > 0.999


def test_build_writes_manifest_trials_and_matched_stimuli(tmp_path: Path) -> None:
    entries = make_mixtures(tmp_path / "in")
    out = tmp_path / "stim"
    stimuli = build_stimuli(entries, out, FAST, BandSplitter(), workers=1, progress=False)
    with open(out / "manifest.csv", newline="") as f:
        header = next(csv.reader(f))
    assert tuple(header) == MANIFEST_COLUMNS
    rows = {(r["item_id"], r["condition"]): r for r in read_manifest(out / "manifest.csv")}
    tests = ["reference", "mixture", "anchor_lp3500", "anchor_lp7000", "sepformer"]
    assert {(i, c) for i in ("mix0_s1", "mix0_s2") for c in tests} <= set(rows)
    controls = {k for k in rows if k[1].startswith(("trap_", "gold_"))}
    assert controls == {("mix0_s1", "trap_2"), ("mix0_s2", "gold_excellent"), ("mix0_s1", "gold_bad")}
    for (_, condition), row in rows.items():
        audio, sr = sf.read(out / row["path"])
        assert sr == 16000 and row["sha256"] == sha256_file(out / row["path"])
        assert float(row["duration_s"]) == pytest.approx(len(audio) / sr, abs=1e-4)
        assert abs(loudness(audio, sr) - float(row["loudness_lufs"])) < 0.1
        assert np.abs(audio).max() <= PEAK_LIMIT + 1e-4
        if not condition.startswith("trap_"):
            assert len(audio) == 1.5 * sr
    ref_row, sep_row = rows[("mix0_s1", "reference")], rows[("mix0_s1", "sepformer")]
    mix_row = rows[("mix0_s1", "mixture")]
    assert ref_row["si_sdr"] == ref_row["pesq_wb"] == ref_row["stoi"] == "" and ref_row["dnsmos_ovrl"] == ""
    assert float(sep_row["si_sdr"]) > 15  # matched to the right talker although the separator swapped them
    assert float(sep_row["si_sdr_i"]) > 15 and mix_row["si_sdr_i"] == "0.0000"
    assert float(rows[("mix0_s1", "anchor_lp3500")]["si_sdr"]) < float(rows[("mix0_s1", "anchor_lp7000")]["si_sdr"])
    trials = list(csv.DictReader(open(out / "trials.csv", newline="")))
    assert {(t["condition"], t["expected_score"], t["tolerance"]) for t in trials} == {
        ("trap_2", "2", "0"),
        ("gold_excellent", "5", "1"),
        ("gold_bad", "1", "1"),
    }
    assert stimuli.trials[("mix0_s1", "gold_bad")].expected_score == 1
    assert stimuli.stimuli[("mix0_s1", "reference")].path == (out / ref_row["path"]).resolve()
    assert all(re.fullmatch(r"wav/[0-9a-f]{24}\.wav", r["path"]) for r in rows.values())  # blind file names
    assert json.loads((out / "build.json").read_text())["config"] == FAST.fingerprint()
    assert not (out / "manifest.partial.csv").exists()


@pytest.mark.slow  # builds a stimulus set more than once (about 4-6 s)
def test_build_resumes_and_redoes_only_what_is_missing(tmp_path: Path) -> None:
    entries = make_mixtures(tmp_path / "in", count=2)
    out = tmp_path / "stim"
    first = BandSplitter()
    build_stimuli(entries, out, FAST, first, workers=1, progress=False)
    before = {(r["item_id"], r["condition"]): r["sha256"] for r in read_manifest(out / "manifest.csv")}
    again = BandSplitter()
    build_stimuli(entries, out, FAST, again, workers=1, progress=False)
    assert again.calls == 0  # everything was there with a matching SHA-256
    paths = {(r["item_id"], r["condition"]): out / r["path"] for r in read_manifest(out / "manifest.csv")}
    paths[("mix1_s2", "sepformer")].unlink()
    paths[("mix1_s1", "mixture")].write_bytes(b"damaged")
    third = BandSplitter()
    build_stimuli(entries, out, FAST, third, workers=1, progress=False)
    assert third.calls == 1  # only mix1 was separated again
    after = {(r["item_id"], r["condition"]): r["sha256"] for r in read_manifest(out / "manifest.csv")}
    assert after == before
    with pytest.raises(BuildError, match="other settings"):
        build_stimuli(entries, out, BuildConfig(excerpt_s=3.0, with_dnsmos=False), third, workers=1, progress=False)


@pytest.mark.slow  # builds a stimulus set more than once (about 4-6 s)
def test_interrupted_build_keeps_finished_mixtures(tmp_path: Path) -> None:
    entries = make_mixtures(tmp_path / "in", count=2)
    out = tmp_path / "stim"

    class Crashing(BandSplitter):
        def separate(self, mixture, sr, pipelines):
            if self.calls == 1:
                raise KeyboardInterrupt
            return super().separate(mixture, sr, pipelines)

    with pytest.raises(KeyboardInterrupt):
        build_stimuli(entries, out, FAST, Crashing(), workers=1, progress=False)
    assert not (out / "manifest.csv").exists()
    partial = {r["item_id"] for r in read_manifest(out / "manifest.partial.csv")}
    assert partial == {"mix0_s1", "mix0_s2"}
    with open(out / "manifest.partial.csv", "a") as f:
        f.write("mix1_s1,reference,wav/mix1_s1/ref")  # a row cut short by the crash
    resumed = BandSplitter()
    stimuli = build_stimuli(entries, out, FAST, resumed, workers=1, progress=False)
    assert resumed.calls == 1 and len(stimuli.items) == 4


def test_control_clips_are_spread_and_never_duplicated() -> None:
    entries = [MixtureEntry("m", Path("m.wav"), (Path("a.wav"), Path("b.wav")), None)]
    plan = plan_controls(entries, BuildConfig(trap_clips=12, gold_clips=5))
    for item in ("m_s1", "m_s2"):
        conditions = [c.condition for c in plan[item]]
        assert len(conditions) == len(set(conditions))
    traps = sorted(c.expected for cs in plan.values() for c in cs if c.kind == "trap")
    assert traps == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    golds = {(item, c.condition) for item, cs in plan.items() for c in cs if c.kind == "gold"}
    assert len(golds) == 4


def test_narrow_band_material_uses_mixture_and_2khz_anchor(tmp_path: Path) -> None:
    entries = make_mixtures(tmp_path / "in", sr=8000, count=1)
    config = BuildConfig(
        excerpt_s=2.0, pipelines=(), include_mixture=False, with_dnsmos=False, trap_clips=0, gold_clips=0
    )
    stimuli = build_stimuli(entries, tmp_path / "stim", config, None, workers=1, progress=False)
    assert stimuli.conditions == ("reference", "mixture", "anchor_lp2000")
    assert {s.sample_rate for s in stimuli.stimuli.values()} == {8000}
    notes = json.loads((tmp_path / "stim" / "build.json").read_text())["notes"]
    assert len(notes) == 1 and "2 kHz" in notes[0]


def test_bad_manifests_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="build the stimuli first"):
        load_stimulus_set(tmp_path / "missing.csv")
    (tmp_path / "manifest.csv").write_text("item_id,condition\nx,y\n")
    with pytest.raises(BuildError, match=r"manifest.csv lacks the column\(s\) path, sha256, duration_s"):
        load_stimulus_set(tmp_path / "manifest.csv")


@pytest.mark.slow  # worker processes start torch (spawn)
def test_build_with_the_real_pipelines_on_tiny_models(tmp_path: Path, tiny_separator) -> None:
    entries = read_mixture_list(PROJECT_DIR / "examples" / "examples.csv")[:1]
    config = BuildConfig(excerpt_s=2.0, with_dnsmos=False, trap_clips=1, gold_clips=0)
    stimuli = build_stimuli(entries, tmp_path / "stim", config, tiny_separator, workers=2, progress=False)
    item = f"{entries[0].mixture_id}_s1"
    for pipeline in ("sepformer", "sepformer_diffwave", "sepformer_diffwave_fusion"):
        stimulus = stimuli.stimuli[(item, pipeline)]
        assert stimulus.path.is_file() and stimulus.duration_s == 2.0
    rows = read_manifest(tmp_path / "stim" / "manifest.csv")
    assert len(rows) == 2 * 7 + 1
    assert all(r["si_sdr"] != "" and r["stoi"] != "" for r in rows if r["condition"].startswith("sepformer"))


@pytest.mark.slow  # a whole build from a study file (about 4 s)
def test_cli_build_from_a_study_file(tmp_path: Path, tiny_models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = PROJECT_DIR / "examples"
    shutil.copytree(source / "real_16k", tmp_path / "real_16k")
    (tmp_path / "one.csv").write_text(
        "mixture_ID,mixture_path,source_1_path,source_2_path,length\n"
        "real_16k,real_16k/mix.wav,real_16k/s1.wav,real_16k/s2.wav,48000\n"
    )
    study = {
        "id": "cli",
        "title": "CLI",
        "protocol": "acr",
        "stimuli": {
            "dir": "stim",
            "build": {
                "mixtures": "one.csv",
                "excerpt_s": 1.5,
                "pipelines": ["sepformer"],
                "dnsmos": False,
                "trap_clips": 1,
                "gold_clips": 1,
            },
        },
    }
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    argv = ["build", "--study", str(tmp_path / "study.yaml"), "--models", str(tiny_models), "--device", "cpu"]
    assert main([*argv, "--workers", "1", "--quiet"]) == 0
    assert "12 stimuli of 2 items" in capsys.readouterr().out
    assert len(read_manifest(tmp_path / "stim" / "manifest.csv")) == 12


@pytest.mark.slow  # a fresh interpreter
def test_reading_a_stimulus_set_does_not_load_the_corpus_generator() -> None:
    """The app and the analysis read stimulus sets; only a build needs the TTS voices of ddpmss's corpus."""
    code = (
        "import sys, listening_tests.stimuli, listening_tests.storage, listening_tests.report; "
        "print(sorted(m for m in sys.modules if m.startswith('ddpmss.corpus')))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


def test_a_p835_trap_is_worded_for_the_sig_and_bak_scales_not_with_an_ovrl_label() -> None:
    from listening_tests.study import load_study

    study = load_study(PROJECT_DIR / "studies" / "example_p835.yaml")
    assert study.build.trap_scales == ("sig", "bak", "ovrl")
    assert load_study(PROJECT_DIR / "studies" / "example.yaml").build.trap_scales == ("ovrl",)
    for expected in TRAP_SCORES:
        message = trap_message(expected, study.build.trap_scales)
        assert f"select the answer {expected} on every scale" in message
        assert SCALE_LABELS["sig"][expected] in message and SCALE_LABELS["bak"][expected] in message
        assert f"select the answer {ACR_LABELS[expected]}" not in message
