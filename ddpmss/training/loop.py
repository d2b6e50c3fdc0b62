"""What the three training scripts share: seeding, data in memory, random segments, the SI-SDR loss,
checkpoints with an exact resume, and a CSV log."""

from __future__ import annotations

import argparse
import csv
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import yaml
from hyperpyyaml import load_hyperpyyaml
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from ddpmss.audio import resample
from ddpmss.checkpoints import architecture_values, instantiate, model_hparams
from ddpmss.files import atomic_path


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_config(path: str | Path, overrides: Mapping[str, object]) -> dict:
    """A training config (hyperparams YAML) loaded by hyperpyyaml with `overrides` applied (None = keep).

    ValueError in one sentence when an override names a key the config does not have."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return load_hyperpyyaml(Path(path).read_text(), given)
    except KeyError as exc:  # hyperpyyaml: "Override 'x' not found in: [...]"
        raise ValueError(f"{path}: {exc.args[0]}.") from None


def read_wav(path: str | Path, sr: int) -> np.ndarray:
    """Mono float32 at `sr` (corpus files are trusted; user files go through ddpmss.audio.load_audio)."""
    data, file_sr = sf.read(path, dtype="float32", always_2d=True)
    return np.asarray(resample(data.mean(axis=1), file_sr, sr), dtype=np.float32)


def warm_start(hparams: dict, folder: str | Path) -> None:
    """Load the weights of a saved model folder (same architecture) into freshly built `hparams`
    objects, to continue training a shipped model with a new schedule."""
    for name, module in hparams["pretrainer"].loadables.items():
        module.load_state_dict(torch.load(Path(folder) / f"{name}.ckpt", map_location="cpu", weights_only=True))


def start_run(kind: str, config: dict) -> tuple[str, dict, str]:
    """Seed, set the threads and build model `kind` from the config's architecture values, warm-started
    from `config["init"]` when given. Returns (hyperparams text to save, its objects, device)."""
    seed_everything(config["seed"])
    torch.set_num_threads(config["threads"])
    text = model_hparams(kind, architecture_values(kind, config))
    hparams = instantiate(text)
    if config.get("init"):
        warm_start(hparams, config["init"])
    return text, hparams, config.get("device") or "cpu"


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


def read_clean_list(csv_path: str | Path, sr: int, limit: int | None = None) -> tuple[list[np.ndarray], list[str]]:
    """Clean utterances listed in a CSV with `path` (relative to the CSV) and `speaker` columns:
    each as a (1, T) array at `sr`, and its speaker."""
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))[:limit]
    base = Path(csv_path).parent
    audio = [
        read_wav(p if (p := Path(r["path"])).is_absolute() else base / p, sr)[None]
        for r in tqdm(rows, desc=f"loading {Path(csv_path).name}", leave=False)
    ]
    return audio, [r.get("speaker", "") for r in rows]


def is_clean_list(csv_path: str | Path) -> bool:
    """Whether a CSV lists single clean utterances (`path`, `speaker`) rather than LibriMix mixtures."""
    with open(csv_path, newline="") as f:
        header = next(csv.reader(f), [])
    return "path" in header and "speaker" in header


def random_segments(
    signals: list[np.ndarray], length: int, batch: int, rng: np.random.Generator
) -> Iterator[torch.Tensor]:
    """Endless batches of random `length`-sample crops (zero-padded when shorter) of stacked signals.

    Each item of `signals` is (C, T); a batch is (batch, C, length).
    """
    while True:
        picks = rng.integers(0, len(signals), size=batch)
        crops = []
        for i in picks:
            x = _random_crop(signals[i], length, rng)
            crops.append(np.pad(x, [(0, 0), (0, length - x.shape[-1])]))
        yield torch.from_numpy(np.stack(crops))


def dynamic_mixtures(
    utterances: list[np.ndarray],
    draw_pair: Callable[[np.random.Generator], tuple[int, int]],
    length: int,
    batch: int,
    rng: np.random.Generator,
    max_gain_db: float = 5.0,
    augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
) -> Iterator[torch.Tensor]:
    """Endless batches of 2-speaker mixtures made on the fly from clean utterances (dynamic mixing,
    as SpeechBrain's WSJ0-2mix recipes): two utterances of different speakers drawn by `draw_pair`
    (ddpmss.training.pairs.TalkerPairs.draw: a share of them close in pitch), random crops of `length` samples,
    each passed through `augment` when given (e.g. a recording channel, ddpmss.corpus.channel; the
    target keeps it), then the corpus's LibriMix 'min' mixing (ddpmss.corpus.mixing.mix_pair) with a
    relative gain drawn from [-max_gain_db, max_gain_db] dB. Every batch is new, so the model never
    sees a mixture twice.

    A batch is (batch, 3, length): mixture, source 1, source 2 (zero-padded when the shorter crop ends).
    """
    from ddpmss.corpus.mixing import mix_pair

    while True:
        items = []
        while len(items) < batch:
            a, b = draw_pair(rng)
            s1, s2 = (_random_crop(utterances[i][0], length, rng) for i in (a, b))
            if augment is not None:
                s1, s2 = augment(s1, rng), augment(s2, rng)
            mix = np.stack(mix_pair(s1, s2, float(rng.uniform(-max_gain_db, max_gain_db)), length))
            items.append(np.pad(mix, [(0, 0), (0, length - mix.shape[-1])]))
        yield torch.from_numpy(np.stack(items))


def _random_crop(x: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """A random `length`-sample window along the last axis (x itself when not longer)."""
    if x.shape[-1] <= length:
        return x
    start = int(rng.integers(0, x.shape[-1] - length + 1))
    return x[..., start : start + length]


class Checkpoint:
    """Saves and restores everything a run needs to continue exactly: weights, optimiser, scheduler,
    step, the data RNG and torch's RNGs (CPU, and CUDA when present)."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / "checkpoint.pt"

    def save(
        self,
        step: int,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: object,
        rng: np.random.Generator,
        extra: dict | None = None,
    ) -> None:
        """Write atomically (a crash mid-write keeps the previous checkpoint)."""
        state = {
            "step": step,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "numpy_rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "extra": extra or {},
        }
        with atomic_path(self.path) as tmp:
            torch.save(state, tmp)

    def restore(
        self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: object, rng: np.random.Generator
    ) -> tuple[int, dict]:
        """Load the last checkpoint if there is one; returns (step, extra), (0, {}) when starting fresh."""
        if not self.path.exists():
            return 0, {}
        state = torch.load(self.path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
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


def fit(
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: object,
    rng: np.random.Generator,
    batches: Iterator[torch.Tensor],
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    evaluate: Callable[[], dict[str, float]],
    save_best: Callable[[], None],
    out: Path,
    config: dict,
    score_key: str,
    desc: str,
    log_extra: dict | None = None,
    evaluate_first: bool = False,
    device: str = "cpu",
) -> None:
    """The loop all three trainings share: resume, step with grad-norm clipping, and every `eval_every`
    steps evaluate, log a CSV row, keep the best weights (by `score_key`) and checkpoint.

    `evaluate_first`: on a fresh start, evaluate and keep the untrained model too, so a model whose
    initial state is already useful (the fusion starts as SepFormer's output) is never replaced by a
    worse one. `config["max_minutes"]` (optional): a wall-time budget; when it runs out the loop
    evaluates, checkpoints and stops early (a later call with a larger budget resumes).
    `config["ema_decay"]` (optional, 0 = off): keep an exponential moving average of the weights and
    evaluate and save that (diffusion models sample better from averaged weights, Ho et al. 2020); the
    raw weights' scores are logged too, with a `_raw` suffix."""
    checkpoint = Checkpoint(out)
    step, extra = checkpoint.restore(model, optimizer, scheduler, rng)
    ema = _ema_copy(model, config.get("ema_decay"), extra.get("ema"))
    best = extra.get("best", -np.inf)
    log: CsvLog | None = None
    losses, step_times = [], []

    def assess() -> None:
        """Evaluate, log a row and keep the weights if they are the best so far."""
        nonlocal best, log, losses, step_times
        model.eval()
        raw = {f"{k}_raw": v for k, v in evaluate().items()} if ema is not None else {}
        with _weights_of(model, ema):
            scores = evaluate()
            if scores[score_key] > best:
                best = float(scores[score_key])
                save_best()
        model.train()
        row = {
            "step": step,
            "train_loss": float(np.mean(losses)) if losses else float("nan"),
            **scores,
            **raw,
            "lr": scheduler.get_last_lr()[0],
            "step_s": float(np.median(step_times)) if step_times else 0.0,
            **(log_extra or {}),
        }
        log = log or CsvLog(out / "log.csv", list(row))
        log.write(**row)
        losses, step_times = [], []

    if evaluate_first and step == 0:
        assess()
    deadline = time.monotonic() + 60 * config["max_minutes"] if config.get("max_minutes") else None
    bar = tqdm(total=config["steps"], initial=step, desc=desc)
    while step < config["steps"]:
        started = time.perf_counter()
        loss = loss_fn(next(batches).to(device, non_blocking=True))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config["clip"])
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update_parameters(model)
        step += 1
        losses.append(loss.item())
        step_times.append(time.perf_counter() - started)
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
        out_of_time = deadline is not None and time.monotonic() > deadline
        if step % config["eval_every"] == 0 or step == config["steps"] or out_of_time:
            assess()
            checkpoint.save(
                step,
                model,
                optimizer,
                scheduler,
                rng,
                {"best": best, **({"ema": ema.state_dict()} if ema is not None else {})},
            )
            if out_of_time:
                print(f"{desc}: time budget of {config['max_minutes']} min reached at step {step} of {config['steps']}")
                break
    bar.close()


def _ema_copy(model: torch.nn.Module, decay: float | None, state: dict | None) -> AveragedModel | None:
    """An exponential moving average of `model` (torch's own AveragedModel), restored from a checkpoint's
    `state` when resuming; None when `decay` is 0 or unset."""
    if not decay:
        return None
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    if state is not None:
        ema.load_state_dict(state)
    return ema


@contextmanager
def _weights_of(model: torch.nn.Module, ema: AveragedModel | None) -> Iterator[None]:
    """Give `model` the averaged weights for the duration of the block (nothing when `ema` is None)."""
    if ema is None:
        yield
        return
    own = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(ema.module.state_dict())
    try:
        yield
    finally:
        model.load_state_dict(own)


def training_cli(
    doc: str, default_config: Path, train: Callable[[dict, str, str, Path], Path], argv: list[str] | None = None
) -> None:
    """Command line of a training script: --config, --train, --val, --out and overrides of the config."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(default_config))
    parser.add_argument("--train", required=True)
    parser.add_argument("--val", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--eval-every", type=int)
    parser.add_argument("--max-minutes", type=float, help="wall-time budget: evaluate, checkpoint and stop when spent")
    parser.add_argument("--device", help="cpu (default) or cuda")
    parser.add_argument("--init", help="a saved model folder to start from (e.g. ddpmss/pretrained/sepformer)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any other key of the config (a YAML value), e.g. --set lr_gamma=0.9995",
    )
    args = parser.parse_args(argv)
    flags = ("steps", "threads", "lr", "batch_size", "eval_every", "max_minutes", "device", "init")
    overrides = {key: getattr(args, key) for key in flags}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set {item}: expected KEY=VALUE")
        overrides[key] = yaml.safe_load(value)
    try:
        config = load_config(args.config, overrides)
    except ValueError as exc:
        parser.error(f"--set: {exc}")
    print(f"best model: {train(config, args.train, args.val, args.out)}")
