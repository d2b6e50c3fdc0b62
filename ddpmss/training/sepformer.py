"""Train the small offline SepFormer (same SpeechBrain classes and layout as the public checkpoint).

    python -m ddpmss.training.sepformer --config ddpmss/hparams/train_sepformer_small.yaml \
        --train corpus/wav8k/min/metadata/mixture_train_mix_clean.csv \
        --val corpus/wav8k/min/metadata/mixture_val_mix_clean.csv --out runs/sepformer

`--train` may also be a clean utterance list (corpus/utterances/clean_train.csv): then every batch is
mixed on the fly from it (dynamic mixing), the same mixing rule as the corpus's mixtures, after a
share `channel_share` of the sources went through a random recording channel (ddpmss.corpus.channel),
a share `close_pitch_share` of the pairs drawn close in pitch and a share `recorded_pair_share` of two
voices made from recordings of a person (ddpmss.training.pairs).
Loss: PIT negative SI-SDR. Writes `<out>/model/` (hyperparams.yaml + encoder/masknet/decoder.ckpt),
keeping the weights with the best validation SI-SDRi, a CSV log and a resumable checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ddpmss.checkpoints import HPARAMS_DIR, save_model_dir
from ddpmss.corpus.channel import ChannelAugmentation, random_channel
from ddpmss.corpus.librimix import read_mixture_list
from ddpmss.metrics import match_permutation, si_sdr
from ddpmss.training.loop import (
    dynamic_mixtures,
    fit,
    is_clean_list,
    pit_neg_si_sdr,
    random_segments,
    read_clean_list,
    read_wav,
    start_run,
    training_cli,
)
from ddpmss.training.pairs import TalkerPairs, pitch_semitones, recorded_voices


class SepFormer(torch.nn.Module):
    """Encoder, mask network and decoder, wired as SpeechBrain's `SepformerSeparation.separate_batch`."""

    def __init__(self, hparams: dict) -> None:
        super().__init__()
        self.encoder, self.masknet, self.decoder = hparams["Encoder"], hparams["MaskNet"], hparams["Decoder"]

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B, 2, T)."""
        w = self.encoder(mix)
        masks = self.masknet(w)
        est = torch.stack([self.decoder(w * masks[i]) for i in range(masks.shape[0])], dim=1)
        length = mix.shape[-1]
        if est.shape[-1] < length:
            est = torch.nn.functional.pad(est, (0, length - est.shape[-1]))
        return est[..., :length]


def load_split(csv_path: str, sr: int, limit: int | None = None) -> list[np.ndarray]:
    """Each mixture as a (3, T) array: mixture, source 1, source 2."""
    entries = read_mixture_list(csv_path)[:limit]
    return [
        np.stack([read_wav(e.mixture_path, sr)] + [read_wav(p, sr) for p in e.source_paths])
        for e in tqdm(entries, desc=f"loading {Path(csv_path).name}", leave=False)
    ]


@torch.inference_mode()
def evaluate(model: SepFormer, items: list[np.ndarray], device: str = "cpu") -> float:
    """Mean SI-SDR improvement (dB) over items, permutations matched by SI-SDR."""
    gains = []
    for item in items:
        est = model(torch.from_numpy(item[0]).unsqueeze(0).to(device))[0].cpu().numpy()
        perm = match_permutation(est, item[1:])
        gains += [si_sdr(est[perm[i]], item[1 + i]) - si_sdr(item[0], item[1 + i]) for i in range(2)]
    return float(np.mean(gains))


def train(config: dict, train_csv: str, val_csv: str, out: Path) -> Path:
    """Run (or resume) training; returns the folder of the best model."""
    text, hparams, device = start_run("sepformer", config)
    model = SepFormer(hparams).to(device)
    sr = config["sample_rate"]
    val_items = load_split(val_csv, sr, config["val_items"])
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config["lr"], total_steps=config["steps"], pct_start=0.05
    )
    rng = np.random.default_rng(config["seed"])
    length = int(config["segment_s"] * sr)
    if is_clean_list(train_csv):
        channel = ChannelAugmentation(share=config["channel_share"])
        utterances, speakers = read_clean_list(train_csv, sr)
        close_share, recorded_share = config["close_pitch_share"], config["recorded_pair_share"]
        pairs = TalkerPairs(
            speakers,
            pitch_semitones(utterances, sr) if close_share > 0 else None,
            close_share,
            config["close_pitch_semitones"],
            recorded_voices(train_csv) if recorded_share > 0 else None,
            recorded_share,
        )
        batches = dynamic_mixtures(
            utterances,
            pairs.draw,
            length,
            config["batch_size"],
            rng,
            augment=lambda x, rng: random_channel(x, sr, rng, channel),
        )
    else:
        batches = random_segments(load_split(train_csv, sr), length, config["batch_size"], rng)
    fit(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        rng=rng,
        batches=batches,
        loss_fn=lambda batch: pit_neg_si_sdr(model(batch[:, 0]), batch[:, 1:]),
        evaluate=lambda: {"val_si_sdri": evaluate(model, val_items, device)},
        save_best=lambda: save_model_dir(out / "model", text, hparams),
        out=out,
        config=config,
        score_key="val_si_sdri",
        desc="sepformer",
        evaluate_first=bool(config.get("init")),  # a warm start keeps its starting weights unless beaten
        device=device,
    )
    return out / "model"


if __name__ == "__main__":
    training_cli(__doc__, HPARAMS_DIR / "train_sepformer_small.yaml", train)
