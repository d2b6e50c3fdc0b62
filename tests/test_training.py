"""Fusion training: cached frozen outputs, logged validation, checkpoints and an exact resume."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from ddpmss.checkpoints import TINY_SEPFORMER, instantiate, render_hparams, write_random_model
from ddpmss.train_fusion import train_fusion
from ddpmss.training import load_config, pit_neg_si_sdr, warm_start

CONFIG = Path(__file__).resolve().parents[1] / "ddpmss" / "hparams" / "train_fusion.yaml"


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
    return load_config(CONFIG, {"steps": steps, "checkpoint_every": 2, "batch_size": 2, "segment": 8000,
                                "channels": 4, "layers": 3, "val_items": 1, "cache_dir": str(tmp_path / "cache")})


def test_pit_loss_is_permutation_invariant() -> None:
    ref = torch.randn(2, 2, 4000)
    est = ref + 0.1 * torch.randn(2, 2, 4000)
    assert pit_neg_si_sdr(est, ref).item() == pytest.approx(pit_neg_si_sdr(est.flip(1), ref).item(), abs=1e-5)


@pytest.mark.slow
def test_training_caches_logs_and_resumes_exactly(tmp_path: Path, tiny_separator, speechlike, capsys) -> None:
    data = _folder_dataset(tmp_path / "data", speechlike)
    straight = train_fusion(_config(tmp_path, 4), str(data), str(data), tmp_path / "straight", tiny_separator)
    out = capsys.readouterr().out
    assert "1 cache hits, 2 computed" in out  # two training mixtures computed once; validation reuses one

    train_fusion(_config(tmp_path, 2), str(data), str(data), tmp_path / "resumed", tiny_separator)
    resumed = train_fusion(_config(tmp_path, 4), str(data), str(data), tmp_path / "resumed", tiny_separator)
    assert "3 cache hits, 0 computed" in capsys.readouterr().out  # the frozen models ran no more
    a = torch.load(straight / "fusion.ckpt")
    b = torch.load(resumed / "fusion.ckpt")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)

    with open(tmp_path / "straight" / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == ["2", "4"]
    for column in ("val_si_sdr", "val_pesq_wb", "val_stoi", "val_d_share", "step_s"):
        assert rows[-1][column] != ""


def test_warm_start_loads_a_saved_model_folder(tmp_path: Path) -> None:
    saved = write_random_model(tmp_path / "sepformer", "sepformer", seed=1, **TINY_SEPFORMER)
    torch.manual_seed(2)
    fresh = instantiate(render_hparams("sepformer", **TINY_SEPFORMER))
    before = {k: v.clone() for k, v in fresh["MaskNet"].state_dict().items()}
    warm_start(fresh, saved)
    after = fresh["MaskNet"].state_dict()
    stored = torch.load(saved / "masknet.ckpt", weights_only=True)
    assert all(torch.equal(after[k], stored[k]) for k in stored)
    assert not all(torch.equal(before[k], stored[k]) for k in stored)
