"""What the three training scripts share: seeding, data in memory, random segments, the SI-SDR loss,
checkpoints with an exact resume, and a CSV log."""

from __future__ import annotations

import argparse
import csv
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import yaml
from tqdm import tqdm

from ddpmss.audio import resample


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_config(path: str | Path, overrides: dict) -> dict:
    """A training config (plain YAML) with command-line overrides applied (None = keep)."""
    config = yaml.safe_load(Path(path).read_text())
    config.update({k: v for k, v in overrides.items() if v is not None})
    return config


def read_wav(path: str | Path, sr: int) -> np.ndarray:
    """Mono float32 at `sr` (corpus files are trusted; user files go through ddpmss.audio.load_audio)."""
    data, file_sr = sf.read(path, dtype="float32", always_2d=True)
    return np.asarray(resample(data.mean(axis=1), file_sr, sr), dtype=np.float32)


def warm_start(hparams: dict, folder: str | Path) -> None:
    """Load the weights of a saved model folder (same architecture) into freshly built `hparams`
    objects, to continue training a shipped model with a new schedule."""
    for name, module in hparams["pretrainer"].loadables.items():
        module.load_state_dict(torch.load(Path(folder) / f"{name}.ckpt", map_location="cpu", weights_only=True))


def neg_si_sdr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Mean negative SI-SDR (dB) over rows of (B, T) tensors; zero-mean, as ddpmss.metrics.si_sdr."""
    return -_per_row_si_sdr(est, ref).mean()


def pit_neg_si_sdr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Permutation-invariant loss for two sources: (B, 2, T) estimates against (B, 2, T) references."""
    straight = torch.stack([_per_row_si_sdr(est[:, i], ref[:, i]) for i in range(2)]).mean(0)
    swapped = torch.stack([_per_row_si_sdr(est[:, 1 - i], ref[:, i]) for i in range(2)]).mean(0)
    return -torch.maximum(straight, swapped).mean()


def _per_row_si_sdr(est: torch.Tensor, ref: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    est = est - est.mean(dim=-1, keepdim=True)
    ref = ref - ref.mean(dim=-1, keepdim=True)
    alpha = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + eps)
    noise = est - alpha * ref
    return 10 * torch.log10(((alpha * ref).pow(2).sum(-1) + eps) / (noise.pow(2).sum(-1) + eps))


def random_segments(signals: list[np.ndarray], length: int, batch: int, rng: np.random.Generator
                    ) -> Iterator[torch.Tensor]:
    """Endless batches of random `length`-sample crops (zero-padded when shorter) of stacked signals.

    Each item of `signals` is (C, T); a batch is (batch, C, length).
    """
    while True:
        picks = rng.integers(0, len(signals), size=batch)
        crops = []
        for i in picks:
            x = signals[i]
            if x.shape[-1] > length:
                start = int(rng.integers(0, x.shape[-1] - length + 1))
                x = x[..., start: start + length]
            else:
                x = np.pad(x, [(0, 0), (0, length - x.shape[-1])])
            crops.append(x)
        yield torch.from_numpy(np.stack(crops))


class Checkpoint:
    """Saves and restores everything a run needs to continue exactly: weights, optimiser, scheduler,
    step, the data RNG and torch's RNG."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / "checkpoint.pt"

    def save(self, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
             scheduler: object, rng: np.random.Generator, extra: dict | None = None) -> None:
        """Write atomically (a crash mid-write keeps the previous checkpoint)."""
        state = {
            "step": step,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "numpy_rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "extra": extra or {},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(self.path)

    def restore(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: object,
                rng: np.random.Generator) -> tuple[int, dict]:
        """Load the last checkpoint if there is one; returns (step, extra), (0, {}) when starting fresh."""
        if not self.path.exists():
            return 0, {}
        state = torch.load(self.path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        return int(state["step"]), state["extra"]


class CsvLog:
    """Appends one row per call to a CSV file, writing the header once."""

    def __init__(self, path: str | Path, columns: list[str]) -> None:
        self.path = Path(path)
        self.columns = columns
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("w", newline="") as f:
                csv.writer(f).writerow(columns)

    def write(self, **row: object) -> None:
        """Append a row (missing columns empty)."""
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerow([_fmt(row.get(c, "")) for c in self.columns])


def _fmt(value: object) -> object:
    return f"{value:.4f}" if isinstance(value, float) else value


def fit(*, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: object, rng: np.random.Generator,
        batches: Iterator[torch.Tensor], loss_fn: Callable[[torch.Tensor], torch.Tensor],
        evaluate: Callable[[], dict[str, float]], save_best: Callable[[], None], out: Path, config: dict,
        score_key: str, desc: str, log_extra: dict | None = None) -> None:
    """The loop all three trainings share: resume, step with grad-norm clipping, and every `eval_every`
    steps evaluate, log a CSV row, keep the best weights (by `score_key`) and checkpoint."""
    checkpoint = Checkpoint(out)
    step, extra = checkpoint.restore(model, optimizer, scheduler, rng)
    best = extra.get("best", -np.inf)
    log: CsvLog | None = None
    losses, step_times = [], []
    bar = tqdm(total=config["steps"], initial=step, desc=desc)
    while step < config["steps"]:
        started = time.perf_counter()
        loss = loss_fn(next(batches))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config["clip"])
        optimizer.step()
        scheduler.step()
        step += 1
        losses.append(loss.item())
        step_times.append(time.perf_counter() - started)
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
        if step % config["eval_every"] == 0 or step == config["steps"]:
            model.eval()
            scores = evaluate()
            model.train()
            row = {"step": step, "train_loss": float(np.mean(losses)), **scores,
                   "lr": scheduler.get_last_lr()[0], "step_s": float(np.median(step_times)), **(log_extra or {})}
            log = log or CsvLog(out / "log.csv", list(row))
            log.write(**row)
            losses, step_times = [], []
            if scores[score_key] > best:
                best = float(scores[score_key])
                save_best()
            checkpoint.save(step, model, optimizer, scheduler, rng, {"best": best})
    bar.close()


def training_cli(doc: str, default_config: Path, train: Callable[[dict, str, str, Path], Path],
                 argv: list[str] | None = None) -> None:
    """Command line of a training script: --config, --train, --val, --out, --steps, --threads, --lr, --init."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(default_config))
    parser.add_argument("--train", required=True)
    parser.add_argument("--val", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--init", help="a saved model folder to start from (e.g. ddpmss/pretrained/sepformer)")
    args = parser.parse_args(argv)
    config = load_config(args.config, {"steps": args.steps, "threads": args.threads, "lr": args.lr,
                                       "init": args.init})
    print(f"best model: {train(config, args.train, args.val, args.out)}")
