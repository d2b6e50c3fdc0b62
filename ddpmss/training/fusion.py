"""Train the fusion network of pipeline 3 (`python -m ddpmss train-fusion`).

SepFormer and the vocoder are frozen: their outputs for every training mixture are computed once
and cached on disk (keyed by the mixture file and the models), so every epoch after the first costs
only the fusion network. Loss: negative SI-SDR against the reference talker matched by SI-SDR (PIT).
Adam, exponential LR decay, grad-norm clipping, seeded; checkpoints every N steps with an exact resume;
validation SI-SDR, PESQ-WB, STOI and D-energy share logged to CSV.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ddpmss.checkpoints import architecture_values, instantiate, model_hparams, save_model_dir
from ddpmss.corpus.librimix import MixtureEntry, read_mixture_list
from ddpmss.files import atomic_path
from ddpmss.metrics import match_permutation, pesq_score, si_sdr, stoi_score
from ddpmss.pipelines import Separator
from ddpmss.training.loop import fit, neg_si_sdr, random_segments, read_wav, seed_everything


@dataclass
class CacheStats:
    """How many training examples came from the cache and how many needed the frozen models."""

    hits: int = 0
    misses: int = 0
    seconds_computing: float = 0.0


def cache_key(entry: MixtureEntry, separator: Separator) -> str:
    """Identifies one mixture file (path, size, mtime) under one pair of frozen models, by their sources, their
    weights' checksums (a model retrained in the same folder must not reuse the old outputs) and how the vocoder
    samples (its schedule, steps, start, precision and seed change D as much as its weights do)."""
    stat = entry.mixture_path.stat()
    weights = [separator.checksums.get(role) for role in ("sepformer", "vocoder")]
    sampler = separator.sampler
    start = sampler.start.key() if sampler.start is not None else "noise"
    sampling = f"{sampler.schedule}|{sampler.taken}|{start}|{sampler.precision}|{separator.settings.vocoder_seed}"
    text = f"{entry.mixture_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{separator.models}|{weights}|{sampling}"
    return hashlib.sha1(text.encode()).hexdigest()


def frozen_outputs(
    entries: list[MixtureEntry], separator: Separator, cache_dir: Path, sr: int, stats: CacheStats
) -> list[np.ndarray]:
    """Per source, a (4, T) array [S, D, mixture, reference] at `sr`, from the cache or computed once."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    items = []
    for entry in tqdm(entries, desc="frozen SepFormer + vocoder outputs", leave=False):
        path = cache_dir / f"{cache_key(entry, separator)}.npy"
        if path.exists():
            stats.hits += 1
        else:
            started = time.perf_counter()
            _compute_example(entry, separator, sr, path)
            stats.seconds_computing += time.perf_counter() - started
            stats.misses += 1
        example = np.load(path)
        items += [np.stack([example[0, i], example[1, i], example[2, 0], example[3, i]]) for i in range(2)]
    return items


def _compute_example(entry: MixtureEntry, separator: Separator, sr: int, path: Path) -> None:
    mixture = read_wav(entry.mixture_path, sr)
    refs = np.stack([read_wav(p, sr)[: len(mixture)] for p in entry.source_paths])
    result = separator.separate(mixture, sr, pipelines=("sepformer", "sepformer_diffwave"))
    s = result.outputs["sepformer"]
    d = result.outputs["sepformer_diffwave"]
    perm = list(match_permutation(s, refs))
    example = np.stack([s[perm], d[perm], np.stack([mixture, mixture]), refs]).astype(np.float32)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, example)


@torch.inference_mode()
def validate(model: torch.nn.Module, items: list[np.ndarray], sr: int) -> dict[str, float]:
    """Mean SI-SDR, PESQ-WB, STOI of fused outputs, SepFormer's SI-SDR, and the D-energy share."""
    rows = []
    for item in items:
        s, d, x, ref = (torch.from_numpy(v).unsqueeze(0) for v in item)
        fused, info = model(s, d, x)
        y = fused[0].numpy()
        rows.append(
            [
                si_sdr(y, item[3]),
                si_sdr(item[0], item[3]),
                pesq_score(y, item[3], sr, "wb")[0],
                stoi_score(y, item[3], sr, extended=False)[0],
                float(info["d_share"][0]),
            ]
        )
    mean = np.nanmean(np.array(rows), axis=0)
    return dict(zip(["val_si_sdr", "val_sepformer_si_sdr", "val_pesq_wb", "val_stoi", "val_d_share"], mean))


def train_fusion(config: dict, train_set: str, val_set: str, out: Path, separator: Separator) -> Path:
    """Run (or resume) fusion training; returns the folder of the best model (SpeechBrain layout)."""
    seed_everything(config["seed"])
    text = model_hparams("fusion", architecture_values("fusion", config))
    hparams = instantiate(text)
    model = hparams["fusion"]
    sr = config["sample_rate"]
    stats = CacheStats()
    cache_dir = Path(config.get("cache_dir") or out / "cache")
    train_entries = read_mixture_list(train_set)[: config.get("max_train")]
    train_items = frozen_outputs(train_entries, separator, cache_dir, sr, stats)
    val_items = frozen_outputs(read_mixture_list(val_set)[: config["val_items"]], separator, cache_dir, sr, stats)
    print(f"frozen outputs: {stats.hits} cache hits, {stats.misses} computed in {stats.seconds_computing:.1f} s")

    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config["lr_gamma"])
    rng = np.random.default_rng(config["seed"])
    fit(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        rng=rng,
        batches=random_segments(train_items, config["segment"], config["batch_size"], rng),
        loss_fn=lambda batch: neg_si_sdr(model(batch[:, 0], batch[:, 1], batch[:, 2])[0], batch[:, 3]),
        evaluate=lambda: validate(model, val_items, sr),
        save_best=lambda: save_model_dir(out / "model", text, hparams),
        out=out,
        config={**config, "eval_every": config["checkpoint_every"]},
        score_key="val_si_sdr",
        desc="fusion",
        log_extra={"cache_hits": stats.hits, "cache_misses": stats.misses},
        evaluate_first=True,
    )
    return out / "model"
