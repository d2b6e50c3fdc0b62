"""Train the small offline DiffWave vocoder (SpeechBrain's DiffWave classes, public checkpoint layout).

    python -m ddpmss.training.vocoder --config ddpmss/hparams/train_diffwave_small.yaml \
        --train corpus/utterances/clean_train.csv --val corpus/utterances/clean_val.csv \
        --out runs/diffwave

Standard DiffWave objective (L1 between the added and the predicted noise at a random step; with
`train_max_step`, a step below it only: the low-noise end a shallow sampler uses), with the mel settings
and the sampling (`fast_schedule`, `shallow_steps`) stored in the saved hyperparams.yaml so the pipeline
reads them from the model. Validation: re-synthesis of held-out clean speech, sampled so, scored by STOI.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ddpmss.checkpoints import HPARAMS_DIR, save_model_dir
from ddpmss.metrics import stoi_score
from ddpmss.training.loop import fit, random_segments, read_clean_list, start_run, training_cli
from ddpmss.vocoder import MelConfig, model_sampler


@torch.inference_mode()
def evaluate(hparams: dict, mel_config: MelConfig, items: list[np.ndarray], device: str = "cpu") -> float:
    """Mean STOI of re-synthesis, sampled as the saved model will be (`model_sampler`: the DiffWave paper's
    6-step schedule unless the config names its own `fast_schedule` and `shallow_steps`), against the
    clean utterances."""
    sampler = model_sampler(hparams, hparams["diffwave"], hparams["diffusion"])
    scores = []
    generator = torch.Generator(device).manual_seed(0)
    for item in items:
        wav = torch.from_numpy(item).to(device)
        audio = sampler(mel_config.mel(wav), mel_config.hop_length, generator)[0, : wav.shape[-1]].cpu().numpy()
        scores.append(stoi_score(audio, item[0], mel_config.sample_rate, extended=False)[0])
    return float(np.nanmean(scores))


def train(config: dict, train_csv: str, val_csv: str, out: Path) -> Path:
    """Run (or resume) training; returns the folder of the best model."""
    text, hparams, device = start_run("diffwave", config)
    model, diffusion = hparams["diffwave"].to(device), hparams["diffusion"].to(device)
    mel_config = MelConfig.from_hparams(hparams)
    sr, hop = config["sample_rate"], mel_config.hop_length
    train_items, _ = read_clean_list(train_csv, sr)
    val_items, _ = read_clean_list(val_csv, sr, config["val_items"])
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config["lr_gamma"])
    rng = np.random.default_rng(config["seed"])
    segment = int(config["segment_frames"]) * hop

    top = int(config.get("train_max_step") or diffusion.timesteps)

    def loss_fn(batch: torch.Tensor) -> torch.Tensor:
        audio = batch[:, 0]
        mel = mel_config.mel(audio)[..., : segment // hop]
        steps = torch.randint(0, top, (len(audio),), device=audio.device)
        pred, noise, _ = diffusion.train_sample(audio.unsqueeze(1), timesteps=steps, condition=mel)
        return torch.nn.functional.l1_loss(pred, noise)

    fit(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        rng=rng,
        batches=random_segments(train_items, segment, config["batch_size"], rng),
        loss_fn=loss_fn,
        evaluate=lambda: {"val_stoi": evaluate(hparams, mel_config, val_items, device)},
        save_best=lambda: save_model_dir(out / "model", text, hparams),
        out=out,
        config=config,
        score_key="val_stoi",
        desc="diffwave",
        device=device,
    )
    return out / "model"


if __name__ == "__main__":
    training_cli(__doc__, HPARAMS_DIR / "train_diffwave_small.yaml", train)
