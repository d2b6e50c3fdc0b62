"""Train the small offline DiffWave vocoder (SpeechBrain's DiffWave classes, public checkpoint layout).

    python -m ddpmss.training.vocoder --config ddpmss/hparams/train_diffwave_small.yaml \
        --train corpus/utterances/clean_train.csv --val corpus/utterances/clean_val.csv \
        --out runs/diffwave

Two objectives (`objective` in the config):
- `noise`: the standard DiffWave objective, L1 between the added and the predicted noise at a random step
  (with `train_max_step`, a step below it only: the low-noise end a shallow sampler uses).
- `shallow_stft`: the one step the shallow sampler takes (`shallow_steps: 1`), trained end to end. The
  sampler's start from the utterance's mel (PGHI or Griffin-Lim, `start_phase`) is noised to the step's
  level exactly as the sampler does, the network predicts the noise, and the clean estimate that prediction
  implies is compared with the clean speech by a multi-resolution STFT loss (spectral convergence and log
  magnitude, Yamamoto et al. 2020), which sees magnitudes only. The step thus learns to do better than its
  start without being shown the waveform's phase, which the mel does not hold: the output's SI-SDR stays
  collapsed, as the published vocoder's does. With `pipeline_train` (a LibriMix list of training mixtures),
  the step is also trained where the pipeline uses it: on the mel of SepFormer's estimate of each source,
  against that clean source (scaled as SI-SDR scales it), so the condition it learns is the one it meets in
  pipeline 2; with `pipeline_val`, it is validated there.

The mel settings and the sampling (`fast_schedule`, `shallow_steps`) are stored in the saved hyperparams.yaml
so the pipeline reads them from the model. Validation: re-synthesis of held-out clean speech, sampled so,
scored by STOI and DNSMOS OVRL (`score_key` names the one that picks the best weights).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from auraloss.freq import MultiResolutionSTFTLoss
from tqdm import tqdm

from ddpmss.audio import fit_length, resample
from ddpmss.checkpoints import HPARAMS_DIR, save_model_dir
from ddpmss.corpus.librimix import read_mixture_list
from ddpmss.metrics import dnsmos, match_permutation, single_thread_dnsmos, stoi_score
from ddpmss.pipelines import Separator
from ddpmss.settings import Settings
from ddpmss.training.loop import fit, random_segments, read_clean_list, read_wav, start_run, training_cli
from ddpmss.vocoder import MelConfig, fast_schedule_steps, model_fast_schedule, model_sampler, model_start


@torch.inference_mode()
def evaluate(
    hparams: dict, mel_config: MelConfig, items: list[np.ndarray], device: str = "cpu", prefix: str = "val"
) -> dict[str, float]:
    """Mean STOI and DNSMOS OVRL of the vocoder's output from the mel of each (2, T) [target, input] item
    against its target, sampled as the saved model will be (`model_sampler`: the DiffWave paper's 6-step
    schedule unless the config names its own `fast_schedule` and `shallow_steps`). For re-synthesis the
    input is the target itself; for pipeline items, SepFormer's estimate of it."""
    sampler = model_sampler(hparams, hparams["diffwave"], hparams["diffusion"])
    stoi, ovrl = [], []
    generator = torch.Generator(device).manual_seed(0)
    sr = mel_config.sample_rate
    for item in items:
        wav = torch.from_numpy(item[1:]).to(device)
        audio = sampler(mel_config.mel(wav), mel_config.hop_length, generator)[0, : wav.shape[-1]].cpu().numpy()
        stoi.append(stoi_score(audio, item[0], sr, extended=False)[0])
        ovrl.append(dnsmos(audio, sr, single_thread_dnsmos())["dnsmos_ovrl"])
    return {f"{prefix}_stoi": float(np.nanmean(stoi)), f"{prefix}_ovrl": float(np.mean(ovrl))}


def sepformer_pairs(mixture_csv: str, separator: Separator, sr: int, limit: int | None = None) -> list[np.ndarray]:
    """SepFormer's estimates of the (first `limit`) mixtures of a LibriMix list, resampled to the vocoder's rate
    `sr` as the pipeline resamples them: per source a (2, T) [target, estimate] pair, the target being the clean
    source the estimate matches (by SI-SDR) scaled as SI-SDR scales it, so the estimate's level is kept."""
    pairs = []
    for entry in tqdm(read_mixture_list(mixture_csv)[:limit], desc="SepFormer estimates", leave=False):
        mixture = read_wav(entry.mixture_path, sr)
        refs = np.stack([read_wav(p, sr)[: len(mixture)] for p in entry.source_paths])
        estimates = fit_length(
            np.asarray(resample(separator.run_sepformer(mixture, sr), separator.sep_sr, sr)), len(mixture)
        )
        for ref, est in zip(refs, estimates[list(match_permutation(estimates, refs))]):
            scale = float(est @ ref) / max(float(ref @ ref), 1e-8)
            pairs.append(np.stack([scale * ref, est]).astype(np.float32))
    return pairs


def pipeline_separator(config: dict, device: str) -> Separator:
    """The frozen separator whose SepFormer makes the pipeline items (`pipeline_models`, as `--models` takes)."""
    return Separator.from_settings(Settings(models=config["pipeline_models"], device=device, threads=config["threads"]))


@torch.inference_mode()
def with_starts(hparams: dict, items: list[np.ndarray]) -> list[np.ndarray]:
    """Each (2, T) [target, input] item stacked with the sampler's start from its input's mel: (3, T) arrays, so
    that a random crop takes the same stretch of all three. The start is made from the whole input, as the
    sampler makes it."""
    mel_config, start = MelConfig.from_hparams(hparams), model_start(hparams)
    stacked = []
    for item in tqdm(items, desc="sampler starts", leave=False):
        # the start spans every mel frame, so at least the input: cut to its length
        estimate = start(mel_config.mel(torch.from_numpy(item[1:])))[:, : item.shape[-1]].numpy()
        stacked.append(np.concatenate([item, estimate]))
    return stacked


def narrowband(items: list[np.ndarray], share: float, rate: int, sr: int, seed: int) -> list[np.ndarray]:
    """A seeded `share` of the (C, T) items resampled to `rate` and back: the band-limited speech the pipeline
    gives the vocoder when the separator runs at a lower rate than it (SepFormer at 8 kHz)."""
    picked = np.random.default_rng(seed).random(len(items)) < share
    return [
        np.asarray(resample(resample(x, sr, rate), rate, sr))[..., : x.shape[-1]] if p else x
        for x, p in zip(items, picked)
    ]


def shallow_step(hparams: dict) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """The one step of the shallow sampler (`shallow_steps: 1`) as a differentiable function of (start, mel,
    noise): (B, T) sampler starts, their (B, n_mels, frames) mels and (B, T) standard noise -> the (B, T)
    clean estimate, computed as `FastDiffWave` computes it (before its final clamp to [-1, 1])."""
    if hparams.get("shallow_steps") != 1:
        raise ValueError("The shallow_stft objective trains the one step of a shallow sampler: set shallow_steps: 1.")
    diffwave = hparams["diffwave"]
    schedule = model_fast_schedule(hparams)
    # one fractional step for the batch: SpeechBrain interpolates its step embedding
    step = torch.tensor(fast_schedule_steps(hparams["diffusion"], schedule)[:1])
    alpha = 1.0 - schedule[0]  # the level of the schedule's last step, to which the sampler noises its start

    def estimate(start: torch.Tensor, mel: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        noisy = alpha**0.5 * start + (1 - alpha) ** 0.5 * noise
        predicted = diffwave(noisy.unsqueeze(1), step.to(start.device), mel)[:, 0]
        return (noisy - (1 - alpha) ** 0.5 * predicted) / alpha**0.5

    return estimate


def shallow_stft_loss(hparams: dict) -> Callable[[torch.Tensor], torch.Tensor]:
    """The loss of the `shallow_stft` objective on (B, 3, T) batches of (target, input, the sampler's start
    from the input's mel): the step's estimate from the input's mel against the target."""
    mel_config = MelConfig.from_hparams(hparams)
    estimate = shallow_step(hparams)
    stft_loss = MultiResolutionSTFTLoss()

    def loss_fn(batch: torch.Tensor) -> torch.Tensor:
        target, heard, start = batch[:, 0], batch[:, 1], batch[:, 2]
        mel = mel_config.mel(heard)[..., : heard.shape[-1] // mel_config.hop_length]
        return stft_loss(estimate(start, mel, torch.randn_like(start)).unsqueeze(1), target.unsqueeze(1))

    return loss_fn


def noise_loss(hparams: dict, train_max_step: int | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """The loss of the standard `noise` objective on (B, 1, T) batches of clean speech."""
    diffusion = hparams["diffusion"]
    mel_config = MelConfig.from_hparams(hparams)
    top = int(train_max_step or diffusion.timesteps)

    def loss_fn(batch: torch.Tensor) -> torch.Tensor:
        audio = batch[:, 0]
        mel = mel_config.mel(audio)[..., : audio.shape[-1] // mel_config.hop_length]
        steps = torch.randint(0, top, (len(audio),), device=audio.device)
        pred, noise, _ = diffusion.train_sample(audio.unsqueeze(1), timesteps=steps, condition=mel)
        return torch.nn.functional.l1_loss(pred, noise)

    return loss_fn


def train(config: dict, train_csv: str, val_csv: str, out: Path) -> Path:
    """Run (or resume) training; returns the folder of the best model."""
    text, hparams, device = start_run("diffwave", config)
    model = hparams["diffwave"].to(device)
    hparams["diffusion"].to(device)
    mel_config = MelConfig.from_hparams(hparams)
    sr = config["sample_rate"]
    train_items, _ = read_clean_list(train_csv, sr, config.get("train_items"))
    val_items, _ = read_clean_list(val_csv, sr)
    # evenly spaced over the list, which is ordered by voice, so that every engine's voices are heard
    val_items = [np.concatenate([x, x]) for x in val_items[:: max(1, len(val_items) // config["val_items"])]]
    val_items = val_items[: config["val_items"]]
    validations = [lambda: evaluate(hparams, mel_config, val_items, device)]
    objective = config.get("objective", "noise")
    if objective == "shallow_stft":
        loss_fn = shallow_stft_loss(hparams)
        train_items = [np.concatenate([x, x]) for x in train_items]
        train_items = narrowband(train_items, config["narrowband_share"], config["narrowband_rate"], sr, config["seed"])
        separator = (
            pipeline_separator(config, device) if config.get("pipeline_train") or config.get("pipeline_val") else None
        )
        if config.get("pipeline_train"):
            train_items += sepformer_pairs(config["pipeline_train"], separator, sr, config.get("pipeline_items"))
        if config.get("pipeline_val"):
            pipeline_val = sepformer_pairs(config["pipeline_val"], separator, sr)
            validations.append(lambda: evaluate(hparams, mel_config, pipeline_val, device, prefix="val_pipeline"))
        train_items = with_starts(hparams, train_items)
    elif objective == "noise":
        loss_fn = noise_loss(hparams, config.get("train_max_step"))
    else:
        raise ValueError(f"objective: {objective!r} is not one of noise, shallow_stft.")
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config["lr_gamma"])
    rng = np.random.default_rng(config["seed"])
    segment = int(config["segment_frames"]) * mel_config.hop_length

    fit(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        rng=rng,
        batches=random_segments(train_items, segment, config["batch_size"], rng),
        loss_fn=loss_fn,
        evaluate=lambda: {key: value for validate in validations for key, value in validate().items()},
        save_best=lambda: save_model_dir(out / "model", text, hparams),
        out=out,
        config=config,
        score_key=config.get("score_key", "val_stoi"),
        desc="diffwave",
        evaluate_first=bool(config.get("init")),
        device=device,
    )
    return out / "model"


if __name__ == "__main__":
    training_cli(__doc__, HPARAMS_DIR / "train_diffwave_small.yaml", train)
