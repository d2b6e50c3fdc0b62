"""Training: fusion (cached frozen outputs, logged validation, exact resume), dynamic mixing, the time
budget, and the SepFormer and DiffWave scripts end to end with tiny models."""

from __future__ import annotations

import copy
import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from ddpmss.audio import resample
from ddpmss.checkpoints import (
    HPARAMS_DIR,
    instantiate,
    model_hparams,
    write_random_model,
)
from ddpmss.corpus.librimix import read_mixture_list
from ddpmss.metrics import si_sdr
from ddpmss.training import sepformer as train_sepformer
from ddpmss.training import vocoder as train_vocoder
from ddpmss.training.fusion import cache_key, train_fusion
from ddpmss.training.loop import (
    dynamic_mixtures,
    fit,
    is_clean_list,
    load_config,
    pit_neg_si_sdr,
    read_wav,
    training_cli,
    warm_start,
)
from ddpmss.training.pairs import TalkerPairs
from ddpmss.vocoder import MelConfig, MelInversionStart, model_sampler, model_start
from tests.support.paths import ROOT
from tests.support.tiny_models import TINY_DIFFWAVE, TINY_SEPFORMER

CONFIG = ROOT / "ddpmss" / "hparams" / "train_fusion.yaml"


def _folder_dataset(root: Path, speechlike, n: int = 2) -> Path:
    a, b, sr = speechlike
    for sub in ("mix", "s1", "s2"):
        (root / sub).mkdir(parents=True)
    for i in range(n):
        s1, s2 = np.roll(a, 800 * i), 0.5 * np.roll(b, 500 * i)
        for sub, x in (("s1", s1), ("s2", s2), ("mix", s1 + s2)):
            sf.write(root / sub / f"m{i}.wav", x, sr)
    return root


def _config(tmp_path: Path, steps: int) -> dict:
    return load_config(
        CONFIG,
        {
            "steps": steps,
            "checkpoint_every": 2,
            "batch_size": 2,
            "segment": 8000,
            "channels": 4,
            "layers": 3,
            "val_items": 1,
            "cache_dir": str(tmp_path / "cache"),
        },
    )


def test_fusion_cache_key_follows_the_frozen_weights(tmp_path: Path, tiny_separator, speechlike) -> None:
    entry = read_mixture_list(_folder_dataset(tmp_path / "data", speechlike, n=1))[0]
    retrained = copy.copy(tiny_separator)  # the same model folders, other weights in them
    retrained.checksums = {**tiny_separator.checksums, "vocoder": "0" * 64}
    assert cache_key(entry, retrained) != cache_key(entry, tiny_separator)
    retrained.checksums = {**tiny_separator.checksums, "fusion": "0" * 64}  # the model being trained: no matter
    assert cache_key(entry, retrained) == cache_key(entry, tiny_separator)
    keys = set()
    # the same weights sampled from another start (phase, or the hop it is made at) make another D
    for phase, hop in (("pghi", 256), ("griffin_lim", 256), ("pghi", 64)):
        resampled = copy.copy(tiny_separator)
        resampled.sampler = copy.copy(tiny_separator.sampler)
        start = MelInversionStart(tiny_separator.mel, phase, hop_length=hop)
        resampled.sampler.start, resampled.sampler.taken = start, 1
        keys.add(cache_key(entry, resampled))
    assert len(keys) == 3 and cache_key(entry, tiny_separator) not in keys


def test_pit_loss_is_permutation_invariant() -> None:
    """The loss is minus the mean SI-SDR of the matching order, whichever order the estimates come in."""
    torch.manual_seed(0)
    ref = torch.randn(2, 2, 4000)
    est = ref + 0.1 * torch.randn(2, 2, 4000)
    matched = np.mean([si_sdr(est[b, i].numpy(), ref[b, i].numpy()) for b in range(2) for i in range(2)])
    assert matched > 15  # 20 dB less noise than signal: the right order scores high
    assert pit_neg_si_sdr(est, ref).item() == pytest.approx(-matched, abs=1e-3)
    assert pit_neg_si_sdr(est.flip(1), ref).item() == pytest.approx(-matched, abs=1e-3)
    wrong = torch.randn(2, 2, 4000)  # estimates of nothing in the references
    assert pit_neg_si_sdr(wrong, ref).item() > 10  # SI-SDR below -10 dB


@pytest.mark.slow
def test_training_caches_logs_and_resumes_exactly(tmp_path: Path, tiny_separator, speechlike, capsys) -> None:
    data = _folder_dataset(tmp_path / "data", speechlike)
    straight = train_fusion(_config(tmp_path, 4), str(data), str(data), tmp_path / "straight", tiny_separator)
    out = capsys.readouterr().out
    assert "1 cache hits, 2 computed" in out  # two training mixtures computed once; validation reuses one

    train_fusion(_config(tmp_path, 2), str(data), str(data), tmp_path / "resumed", tiny_separator)
    resumed = train_fusion(_config(tmp_path, 4), str(data), str(data), tmp_path / "resumed", tiny_separator)
    assert "3 cache hits, 0 computed" in capsys.readouterr().out  # the frozen models ran no more
    a = torch.load(straight.parent / "checkpoint.pt", weights_only=False)["model"]  # the last weights
    b = torch.load(resumed.parent / "checkpoint.pt", weights_only=False)["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)

    with open(tmp_path / "straight" / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == ["0", "2", "4"]  # step 0: the untrained fusion (= SepFormer) is kept too
    assert float(rows[0]["val_si_sdr"]) == pytest.approx(float(rows[0]["val_sepformer_si_sdr"]), abs=1e-3)
    for column in ("val_si_sdr", "val_pesq_wb", "val_stoi", "val_d_share", "step_s"):
        assert rows[-1][column] != ""


def test_warm_start_loads_a_saved_model_folder(tmp_path: Path) -> None:
    saved = write_random_model(tmp_path / "sepformer", "sepformer", seed=1, **TINY_SEPFORMER)
    torch.manual_seed(2)
    fresh = instantiate(model_hparams("sepformer", TINY_SEPFORMER))
    before = {k: v.clone() for k, v in fresh["MaskNet"].state_dict().items()}
    warm_start(fresh, saved)
    after = fresh["MaskNet"].state_dict()
    stored = torch.load(saved / "masknet.ckpt", weights_only=True)
    assert all(torch.equal(after[k], stored[k]) for k in stored)
    assert not all(torch.equal(before[k], stored[k]) for k in stored)


def _clean_list(root: Path, speechlike) -> Path:
    """Four utterances of two speakers, listed as the corpus's clean_*.csv (paths relative to the CSV)."""
    a, b, sr = speechlike
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (x, speaker) in enumerate([(a, "A"), (np.roll(a, 3000), "A"), (b, "B"), (np.roll(b, 2000), "B")]):
        sf.write(root / f"u{i}.wav", x, sr)
        rows.append({"path": f"u{i}.wav", "voice": speaker, "speaker": speaker})
    with open(root / "clean.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "voice", "speaker"])
        writer.writeheader()
        writer.writerows(rows)
    return root / "clean.csv"


def _mixture_list(root: Path, speechlike) -> Path:
    a, b, sr = speechlike
    root.mkdir(parents=True, exist_ok=True)
    for name, x in (("mix", a + 0.5 * b), ("s1", a), ("s2", 0.5 * b)):
        sf.write(root / f"{name}.wav", x, sr)
    (root / "mixtures.csv").write_text(
        f"mixture_ID,mixture_path,source_1_path,source_2_path,length\nm0,mix.wav,s1.wav,s2.wav,{len(a)}\n"
    )
    return root / "mixtures.csv"


def test_dynamic_mixtures_follow_the_corpus_mixing_rule(tmp_path: Path, speechlike) -> None:
    sr, t = 8000, np.arange(12000) / 8000
    tones = {200: "A", 300: "A", 1000: "B"}  # two utterances of speaker A, one of B, told apart by pitch
    utterances = [np.sin(2 * np.pi * f * t).astype(np.float32)[None] for f in tones]
    batch = next(dynamic_mixtures(utterances, TalkerPairs(list(tones.values())).draw, sr, 16, np.random.default_rng(0)))
    assert batch.shape == (16, 3, sr)
    for mix, s1, s2 in batch.numpy():
        np.testing.assert_allclose(mix, s1 + s2, atol=1e-6)
        assert max(np.abs(mix).max(), np.abs(s1).max(), np.abs(s2).max()) <= 0.9 + 1e-6  # never clips
        assert -5.01 <= 10 * np.log10(np.sum(s1**2) / np.sum(s2**2)) <= 5.01
        pitches = [np.argmax(np.abs(np.fft.rfft(x))) * sr / len(x) for x in (s1, s2)]
        assert sorted(tones[round(f)] for f in pitches) == ["A", "B"]  # always two different speakers
    with pytest.raises(ValueError, match="two speakers"):
        TalkerPairs(["A", "A"])
    assert is_clean_list(_clean_list(tmp_path, speechlike))
    assert not is_clean_list(_mixture_list(tmp_path / "mixtures", speechlike))


def test_sepformer_training_mixes_on_the_fly_and_stops_at_its_time_budget(tmp_path: Path, speechlike, capsys) -> None:
    sr = speechlike[2]
    config = load_config(
        HPARAMS_DIR / "train_sepformer_small.yaml",
        {
            **TINY_SEPFORMER,
            "sample_rate": sr,
            "steps": 50,
            "eval_every": 40,
            "batch_size": 2,
            "segment_s": 0.5,
            "val_items": 1,
            "threads": 1,
            "max_minutes": 1e-9,
        },
    )
    folder = train_sepformer.train(
        config,
        str(_clean_list(tmp_path / "clean", speechlike)),
        str(_mixture_list(tmp_path / "val", speechlike)),
        tmp_path / "run",
    )
    assert "time budget of 1e-09 min reached at step 1 of 50" in capsys.readouterr().out
    with open(tmp_path / "run" / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == ["1"]  # evaluated and logged before stopping
    assert np.isfinite(float(rows[0]["val_si_sdri"]))
    assert {p.name for p in folder.iterdir()} == {"hyperparams.yaml", "encoder.ckpt", "masknet.ckpt", "decoder.ckpt"}
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["step"] == 1


def test_warm_started_sepformer_training_scores_its_starting_weights_first(tmp_path: Path, speechlike) -> None:
    overrides = {"sample_rate": speechlike[2], "steps": 1, "eval_every": 1, "batch_size": 2, "segment_s": 0.5}
    config = load_config(
        HPARAMS_DIR / "train_sepformer_small.yaml", {**TINY_SEPFORMER, **overrides, "val_items": 1, "threads": 1}
    )
    config["init"] = str(write_random_model(tmp_path / "init", "sepformer", **TINY_SEPFORMER))
    train_sepformer.train(
        config,
        str(_clean_list(tmp_path / "clean", speechlike)),
        str(_mixture_list(tmp_path / "val", speechlike)),
        tmp_path / "run",
    )
    with open(tmp_path / "run" / "log.csv") as f:
        assert [r["step"] for r in csv.DictReader(f)] == ["0", "1"]


def test_vocoder_training_logs_resynthesis_stoi(tmp_path: Path, speechlike) -> None:
    clean = str(_clean_list(tmp_path / "clean", speechlike))
    config = load_config(
        HPARAMS_DIR / "train_diffwave_small.yaml",
        {
            **TINY_DIFFWAVE,
            "steps": 2,
            "eval_every": 2,
            "batch_size": 2,
            "segment_frames": 8,
            "val_items": 1,
            "threads": 1,
        },
    )
    folder = train_vocoder.train(config, clean, clean, tmp_path / "run")
    with open(tmp_path / "run" / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == ["2"]
    assert 0.0 <= float(rows[0]["val_stoi"]) <= 1.0
    saved = instantiate((folder / "hyperparams.yaml").read_text())
    warm_start(saved, folder)  # the saved folder loads back into the same architecture
    assert saved["diffwave"].residual_layers[0].dilated_conv.conv.out_channels == 2 * TINY_DIFFWAVE["residual_channels"]


SHALLOW = {"fast_schedule": [0.0001, 0.000457, 0.00209, 0.00956, 0.0437, 0.2], "shallow_steps": 1}


def test_shallow_stft_objective_trains_the_step_the_sampler_takes(speechlike) -> None:
    hparams = instantiate(model_hparams("diffwave", {**TINY_DIFFWAVE, **SHALLOW}))
    net = hparams["diffwave"]
    torch.nn.init.normal_(net.output_projection.conv.weight, std=0.5)  # a network whose step does something
    mel_config = MelConfig.from_hparams(hparams)
    clean = torch.from_numpy(speechlike[0][: 40 * mel_config.hop_length])[None]
    mel = mel_config.mel(clean)[..., :40]
    sampled = model_sampler(hparams, net, hparams["diffusion"])(
        mel, mel_config.hop_length, torch.Generator().manual_seed(3)
    )
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(3))
    start = model_start(hparams)(mel)
    with torch.no_grad():
        trained = train_vocoder.shallow_step(hparams)(start, mel, noise)
    assert torch.allclose(trained.clamp(-1, 1), sampled, atol=1e-5)
    assert (trained - start).abs().max() > 1e-3  # the network moved the start

    loss = train_vocoder.shallow_stft_loss(hparams)(torch.stack([clean, clean, start], dim=1))
    loss.backward()
    assert torch.isfinite(loss) and net.output_projection.conv.weight.grad.abs().sum() > 0


@pytest.mark.slow
@pytest.mark.parametrize("train_on_estimates", [True, False])
def test_shallow_stft_training_scores_its_starting_weights_first(
    tmp_path: Path, speechlike, tiny_models, train_on_estimates: bool
) -> None:
    """A warm-started step is scored before it trains, in re-synthesis and through the pipeline (`pipeline_val`),
    whether or not it also trains on SepFormer's estimates (`pipeline_train`)."""
    clean = str(_clean_list(tmp_path / "clean", speechlike))
    mixtures = str(_folder_dataset(tmp_path / "mixtures", speechlike))
    init = write_random_model(tmp_path / "init", "diffwave", **TINY_DIFFWAVE, **SHALLOW)
    overrides = {"steps": 2, "eval_every": 2, "batch_size": 2, "segment_frames": 8, "val_items": 2, "threads": 1}
    pipeline = {"pipeline_train": mixtures if train_on_estimates else None, "pipeline_val": mixtures}
    pipeline["pipeline_models"] = str(tiny_models)
    config = load_config(
        HPARAMS_DIR / "train_diffwave_small.yaml",
        {**TINY_DIFFWAVE, **SHALLOW, **overrides, **pipeline, "objective": "shallow_stft", "score_key": "val_ovrl"},
    )
    config["init"] = str(init)
    train_vocoder.train(config, clean, clean, tmp_path / "run")
    with open(tmp_path / "run" / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == ["0", "2"]  # the starting weights are scored first
    for prefix in ("val", "val_pipeline"):  # re-synthesis, and the step on SepFormer's estimates
        assert all(1.0 <= float(r[f"{prefix}_ovrl"]) <= 5.0 and 0.0 <= float(r[f"{prefix}_stoi"]) <= 1.0 for r in rows)
    with pytest.raises(ValueError, match="shallow_steps: 1"):
        train_vocoder.shallow_step(instantiate(model_hparams("diffwave", TINY_DIFFWAVE)))


def test_sepformer_pairs_hold_each_estimate_with_its_source_scaled_as_si_sdr_scales_it(
    tmp_path: Path, speechlike, tiny_separator
) -> None:
    mixtures = _folder_dataset(tmp_path / "mixtures", speechlike, n=1)
    pairs = train_vocoder.sepformer_pairs(str(mixtures), tiny_separator, 16000)
    a, b, _ = speechlike
    assert len(pairs) == 2 and all(p.shape == (2, len(a)) for p in pairs)
    for (target, estimate), source in zip(pairs, (a, 0.5 * b)):
        assert abs(np.corrcoef(target, source)[0, 1]) > 0.999  # the clean source, in the reference order
        assert abs(float((estimate - target) @ target)) < 1e-3 * float(target @ target)  # its projection
    # the estimates are the pipeline's: SepFormer at its rate, resampled to the vocoder's as run_vocoder does
    mixture = read_wav(mixtures / "mix" / "m0.wav", 16000)
    heard = resample(tiny_separator.run_sepformer(mixture, 16000), tiny_separator.sep_sr, 16000)[:, : len(a)]
    assert {tuple(np.round(p[1][:50], 6)) for p in pairs} == {tuple(np.round(h[:50], 6)) for h in heard}


def test_narrowband_share_is_seeded_and_holds_nothing_above_the_lower_rate() -> None:
    rng = np.random.default_rng(1)
    items = [rng.standard_normal((1, 16000)).astype(np.float32) for _ in range(40)]
    first, again = (train_vocoder.narrowband(items, 0.5, 8000, 16000, seed=0) for _ in range(2))
    changed = [i for i, (x, y) in enumerate(zip(items, first)) if x is not y]
    assert changed == [i for i, (x, y) in enumerate(zip(items, again)) if x is not y] and 10 < len(changed) < 30
    spectrum = np.abs(np.fft.rfft(first[changed[0]][0]))  # 1 Hz bins
    assert first[changed[0]].shape == items[changed[0]].shape
    assert spectrum[4300:].mean() < 0.05 * spectrum[:3700].mean()


def test_training_cli_overrides_any_config_key_and_refuses_unknown_ones(tmp_path: Path, capsys) -> None:
    seen = {}

    def fake_train(config: dict, train_csv: str, val_csv: str, out: Path) -> Path:
        seen.update(config)
        return out

    config = HPARAMS_DIR / "train_diffwave_small.yaml"
    common = ["--config", str(config), "--train", "t.csv", "--val", "v.csv", "--out", str(tmp_path)]
    training_cli(
        "doc", config, fake_train, [*common, "--lr", "0.001", "--set", "lr_gamma=0.9995", "--set", "val_items=7"]
    )
    assert (seen["lr"], seen["lr_gamma"], seen["val_items"]) == (0.001, 0.9995, 7)
    with pytest.raises(SystemExit):
        training_cli("doc", config, fake_train, [*common, "--set", "no_such_key=1"])
    assert "--set: " in (err := capsys.readouterr().err) and "Override 'no_such_key' not found in" in err


def _fit_line(out: Path, steps: int, ema_decay: float) -> tuple[torch.nn.Module, list[dict]]:
    """fit() on a one-weight regression whose validation score rises every step (so the last is the best)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=1.0)
    rng = np.random.default_rng(0)
    batches = (torch.from_numpy(rng.normal(size=(4, 1))).float() for _ in iter(int, 1))
    saved: list[dict] = []
    evaluate_calls = iter(range(1000))
    fit(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        rng=rng,
        batches=batches,
        loss_fn=lambda x: (model(x) - 3 * x).pow(2).mean(),
        evaluate=lambda: {"val": float(next(evaluate_calls))},
        save_best=lambda: saved.append({k: v.clone() for k, v in model.state_dict().items()}),
        out=out,
        config={"steps": steps, "eval_every": 2, "clip": 5.0, "ema_decay": ema_decay},
        score_key="val",
        desc="t",
    )
    return model, saved


def test_fit_keeps_and_saves_a_moving_average_of_the_weights_and_resumes_it(tmp_path: Path) -> None:
    model, saved = _fit_line(tmp_path / "straight", 4, ema_decay=0.5)
    state = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=False)
    ema_weight = state["extra"]["ema"]["module.weight"]
    torch.testing.assert_close(saved[-1]["weight"], ema_weight, rtol=0, atol=0)  # the average is what is saved
    torch.testing.assert_close(model.weight.detach(), state["model"]["weight"], rtol=0, atol=0)  # raw weights back
    assert not torch.equal(ema_weight, state["model"]["weight"])
    with open(tmp_path / "straight" / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == ["2", "4"] and all(r["val_raw"] != "" for r in rows)

    _fit_line(tmp_path / "resumed", 2, ema_decay=0.5)
    _fit_line(tmp_path / "resumed", 4, ema_decay=0.5)
    resumed = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)
    torch.testing.assert_close(resumed["extra"]["ema"]["module.weight"], ema_weight, rtol=0, atol=0)

    _, plain = _fit_line(tmp_path / "plain", 4, ema_decay=0.0)
    torch.testing.assert_close(plain[-1]["weight"], state["model"]["weight"], rtol=0, atol=0)  # off: raw weights
