"""The three pipelines end to end through the real SpeechBrain loading code."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ddpmss.checkpoints import write_random_model
from ddpmss.models import ModelError, ModelSources, model_checksums, resolve_sources
from ddpmss.pipelines import SeparationResult, Separator
from ddpmss.settings import PIPELINES, Settings
from ddpmss.vocoder import PAPER_FAST_SCHEDULE
from tests.support.tiny_models import TINY_SEPFORMER


def test_one_talker_order_from_sepformer_holds_for_every_pipeline(speechlike) -> None:
    """The vocoder's output keeps no phase, so its own SI-SDR cannot pick the talker: every pipeline takes
    the order matched on the SepFormer estimates it was made from."""
    a, b, sr = speechlike
    noise = np.random.default_rng(1).standard_normal((2, len(a))).astype(np.float32)
    sepformer = np.stack([a, b]) + 0.01 * noise
    vocoded = np.stack([0.3 * a + b, a + 0.3 * b])  # matched on its own, it would take the other order
    result = SeparationResult(sr, {"sepformer": sepformer, "sepformer_diffwave": vocoded}, {}, None, sepformer)
    assert result.talker_order([b, a]) == [1, 0] and result.talker_order([a, b]) == [0, 1]
    swapped = result.aligned([b, a])
    assert np.array_equal(swapped["sepformer"], sepformer[::-1])
    assert np.array_equal(swapped["sepformer_diffwave"], vocoded[::-1])
    assert result.talker_order([b[::2], a[::2]], sr // 2) == [1, 0]  # references at another rate


def test_all_three_pipelines(tiny_separator: Separator, speechlike) -> None:
    a, b, sr = speechlike
    mix8k = (a + b)[::2]  # any input rate: here 8 kHz in, 16 kHz out
    stages: list[str] = []
    result = tiny_separator.separate(mix8k, 8000, on_stage=stages.append)
    assert stages == ["sepformer", "vocoder", "fusion"]
    assert set(result.outputs) == set(PIPELINES)
    assert result.sample_rate == 16000
    for out in result.outputs.values():
        assert out.shape == (2, len(a)) and np.all(np.isfinite(out))
    assert set(result.timings) == {"sepformer", "vocoder", "fusion"}
    assert len(result.details["fusion_d_share"]) == 2


def test_sepformer_and_vocoder_run_once(tiny_separator: Separator, speechlike, monkeypatch) -> None:
    a, b, sr = speechlike
    calls = {"sepformer": 0, "vocoder": 0}
    for stage, name in (("sepformer", "run_sepformer"), ("vocoder", "run_vocoder")):
        original = getattr(tiny_separator, name)

        def counting(*args, _stage=stage, _original=original):
            calls[_stage] += 1
            return _original(*args)

        monkeypatch.setattr(tiny_separator, name, counting)
    tiny_separator.separate(a + b, sr)
    assert calls == {"sepformer": 1, "vocoder": 1}


def test_the_vocoder_noise_comes_from_the_seed_setting(tiny_settings: Settings, speechlike) -> None:
    """The same mixture gives the same DiffWave output (stimuli can be made again); another seed another one."""
    a, b, sr = speechlike
    first, again = (Separator.from_settings(tiny_settings) for _ in range(2))
    other = Separator.from_settings(tiny_settings.model_copy(update={"vocoder_seed": 1}))
    d = [sep.separate(a + b, sr).outputs["sepformer_diffwave"] for sep in (first, first, again, other)]
    assert np.array_equal(d[0], d[1]) and np.array_equal(d[0], d[2])
    assert not np.allclose(d[0], d[3])


def test_untrained_fusion_is_identity_on_sepformer(tiny_separator: Separator, speechlike) -> None:
    a, b, sr = speechlike
    out = tiny_separator.separate(a + b, sr).outputs
    np.testing.assert_allclose(out["sepformer_diffwave_fusion"], out["sepformer"], atol=1e-5)


def test_only_requested_pipelines(tiny_separator: Separator, speechlike) -> None:
    a, b, sr = speechlike
    result = tiny_separator.separate(a + b, sr, pipelines=["sepformer"])
    assert list(result.outputs) == ["sepformer"] and "vocoder" not in result.timings
    with pytest.raises(ValueError, match="Unknown pipeline"):
        tiny_separator.separate(a + b, sr, pipelines=["nope"])


def test_models_setting(tiny_models: Path, tmp_path: Path) -> None:
    offline = resolve_sources(Settings(models="offline"))
    assert offline.offline and "demo models" in offline.describe()
    local = resolve_sources(Settings(models=str(tiny_models)))
    assert not local.offline and local.sepformer.endswith("sepformer")
    with pytest.raises(ModelError, match="must hold sepformer"):
        resolve_sources(Settings(models=str(tmp_path)))
    with pytest.raises(ModelError, match="cannot be reached"):
        resolve_sources(Settings(models="hub", cache_dir=tmp_path, hub_timeout_s=0.5))
    auto = resolve_sources(Settings(models="auto", cache_dir=tmp_path, hub_timeout_s=0.5))
    assert auto.offline  # no network here: auto falls back to the offline models


def test_model_checksums_name_the_weights_and_follow_their_content(tiny_models: Path, tmp_path: Path) -> None:
    copy = tmp_path / "models"
    shutil.copytree(tiny_models, copy)
    settings = Settings(models=str(copy), cache_dir=tmp_path / "cache")
    before = model_checksums(resolve_sources(settings), settings)
    assert set(before) == {"sepformer", "vocoder"} | ({"fusion"} if (copy / "fusion").is_dir() else set())
    assert all(len(digest or "") == 64 for digest in before.values())
    ckpt = next((copy / "diffwave").glob("*.ckpt"))
    ckpt.write_bytes(ckpt.read_bytes() + b"\0")
    after = model_checksums(resolve_sources(settings), settings)
    assert after["vocoder"] != before["vocoder"] and after["sepformer"] == before["sepformer"]
    hub = ModelSources("speechbrain/sepformer-wsj02mix", str(copy / "diffwave"), None, False)
    assert model_checksums(hub, settings)["sepformer"] is None  # not downloaded: nothing to hash


@pytest.mark.parametrize("change", [{"dual_blocks": 2}, {"enc_channels": 8, "d_model": 8}])
def test_wrong_architecture_is_refused(tiny_models: Path, tmp_path: Path, change: dict) -> None:
    """Missing weights (which SpeechBrain's non-strict loading ignores) and mis-shaped ones are refused."""
    root = tmp_path / "models"
    shutil.copytree(tiny_models, root)
    write_random_model(root / "other", "sepformer", **(TINY_SEPFORMER | change))
    shutil.copy(root / "other" / "masknet.ckpt", root / "sepformer" / "masknet.ckpt")
    with pytest.raises(ModelError, match="does not match its architecture") as err:
        Separator.from_settings(Settings(models=str(root), device="cpu", cache_dir=tmp_path))
    assert "\n" not in str(err.value)


def test_vocoder_schedule_comes_from_the_model_unless_set(tiny_models: Path, tmp_path: Path) -> None:
    """A vocoder's own `fast_schedule` and `shallow_steps` (hyperparams.yaml) drive the pipeline; without
    them, the DiffWave paper's schedule from noise (the public checkpoint's); the settings override both."""
    root = tmp_path / "models"
    shutil.copytree(tiny_models, root)
    own = [0.0001, 0.0005, 0.002, 0.01, 0.04, 0.2]
    yaml = root / "diffwave" / "hyperparams.yaml"
    yaml.write_text(re.sub(r"(?m)^fast_schedule:.*$", f"fast_schedule: {own}", yaml.read_text()))
    sep = Separator.from_settings(Settings(models=str(root), device="cpu", cache_dir=tmp_path / "c"))
    assert sep.sampler.schedule == own
    plain = Separator.from_settings(Settings(models=str(tiny_models), device="cpu", cache_dir=tmp_path / "c"))
    assert plain.sampler.schedule == list(PAPER_FAST_SCHEDULE)
    chosen = (0.0001, 0.01, 0.1)
    forced = Separator.from_settings(
        Settings(models=str(root), device="cpu", cache_dir=tmp_path / "c", fast_steps=chosen)
    )
    assert forced.sampler.schedule == list(chosen)
    yaml.write_text(yaml.read_text().replace("shallow_steps:", "shallow_steps: 2"))
    assert (
        Separator.from_settings(Settings(models=str(root), device="cpu", cache_dir=tmp_path / "c")).sampler.taken == 2
    )
    from_noise = Separator.from_settings(
        Settings(models=str(root), device="cpu", cache_dir=tmp_path / "c", shallow_steps=0)
    )
    assert from_noise.sampler.start is None and from_noise.sampler.taken == len(own)


@pytest.mark.slow
def test_full_size_public_architectures_load_from_local_folders(tmp_path: Path) -> None:
    """The public checkpoints' architectures (random weights), loaded as a local SpeechBrain folder."""
    write_random_model(tmp_path / "sepformer", "sepformer")
    write_random_model(tmp_path / "diffwave", "diffwave")
    sep = Separator.from_settings(Settings(models=str(tmp_path), device="cpu", cache_dir=tmp_path / "c"))
    n_sep = sum(p.numel() for p in sep.sepformer.mods.parameters())
    n_voc = sum(p.numel() for p in sep.vocoder.mods.diffwave.parameters())
    assert 25e6 < n_sep < 27e6  # SepFormer WSJ0-2mix: 25.7 M parameters
    assert 2.5e6 < n_voc < 2.7e6  # DiffWave LJSpeech: 30 layers x 64 channels
    assert sep.mel.sample_rate == 22050 and sep.mel.n_mels == 80 and sep.mel.hop_length == 256
    with torch.random.fork_rng():
        result = sep.separate(np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1, 16000)
    assert result.outputs["sepformer_diffwave"].shape == (2, 8000)


def test_precision_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(precision="fp32").resolved_precision() == "fp32"
    assert Settings(precision="bf16").resolved_precision() == "bf16"
    monkeypatch.setenv("DDPMSS_PRECISION", "fp32")
    assert Settings.from_env().resolved_precision() == "fp32"
    cpu_flags = open("/proc/cpuinfo").read()
    native = "avx512_bf16" in cpu_flags or "amx_bf16" in cpu_flags
    assert Settings(device="cpu", precision="auto").resolved_precision() == ("bf16" if native else "fp32")


def test_staged_yields_each_pipeline_as_soon_as_it_is_done(tiny_separator, speechlike) -> None:
    a, b, sr = speechlike
    seen: list[tuple[str, object]] = []
    for name, result in tiny_separator.staged(a + b, sr, on_stage=lambda stage: seen.append(("stage", stage))):
        seen.append((name, sorted(result.outputs)))
    assert seen == [
        ("stage", "sepformer"),
        ("sepformer", ["sepformer"]),
        ("stage", "vocoder"),
        ("sepformer_diffwave", ["sepformer", "sepformer_diffwave"]),
        ("stage", "fusion"),
        ("sepformer_diffwave_fusion", sorted(PIPELINES)),
    ]
    whole = tiny_separator.separate(a + b, sr)  # the vocoder's noise differs per call: SepFormer's is the same
    np.testing.assert_array_equal(result.outputs["sepformer"], whole.outputs["sepformer"])
    assert {k: v.shape for k, v in result.outputs.items()} == {k: v.shape for k, v in whole.outputs.items()}
    assert set(result.timings) == {"sepformer", "vocoder", "fusion"}
