"""Evaluate a set of models on held-out data: the figures of the offline models' model card.

    python -m ddpmss.evaluate --models offline \
        --mixtures corpus/wav16k/min/metadata/mixture_test_unseen_voices_mix_clean.csv \
        --clean corpus/utterances/clean_test_unseen_voices.csv --limit 50 --out results.json

Per pipeline: mean SI-SDR, SI-SDRi, PESQ (NB/WB), STOI, ESTOI, DNSMOS (SIG/BAK/OVRL), and the fusion's
D-energy share; with --clean, the vocoder's re-synthesis STOI of clean speech from its own mel
(`--vocoder-schedule full`: through every step of its training noise schedule instead of the 6-step
fast one, a diagnostic of what the fast schedule costs).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ddpmss.data import read_mixture_list
from ddpmss.metrics import METRIC_NAMES, match_permutation, score_many, stoi_score
from ddpmss.pipelines import Separator
from ddpmss.settings import PIPELINES, Settings
from ddpmss.training import read_wav
from ddpmss.vocoder import FastDiffWave


def evaluate_mixtures(separator: Separator, mixtures: str, limit: int | None, workers: int = 2) -> dict:
    """Mean metrics per pipeline over (up to `limit`) mixtures, permutations matched by SI-SDR."""
    sr = separator.settings.output_sr
    jobs, owners, shares = [], [], []
    for entry in tqdm(read_mixture_list(mixtures)[:limit], desc="separating", leave=False):
        mixture = read_wav(entry.mixture_path, sr)
        refs = np.stack([read_wav(p, sr)[: len(mixture)] for p in entry.source_paths])
        result = separator.separate(mixture, sr)
        shares += result.details.get("fusion_d_share", [])
        for name, estimates in result.outputs.items():
            perm = match_permutation(estimates, refs)
            for i, ref in enumerate(refs):
                jobs.append((estimates[perm[i]], ref, sr, mixture, True))
                owners.append(name)
    scores = score_many(jobs, workers)
    summary: dict = {"mixtures": len(jobs) // (2 * len(PIPELINES))}
    for name in PIPELINES:
        rows = [s for s, owner in zip(scores, owners) if owner == name]
        summary[name] = {m: _mean([r[m] for r in rows]) for m in METRIC_NAMES}
    summary["sepformer_diffwave_fusion"]["d_energy_share"] = _mean(shares)
    return summary


def full_schedule_sampler(separator: Separator) -> FastDiffWave:
    """The separator's vocoder sampled through every step of its training noise schedule (DiffWave's
    slow sampler), in the same precision as its fast sampler."""
    diffusion = separator.vocoder.hparams.diffusion
    return FastDiffWave(separator.sampler.fp32_net, diffusion, diffusion.betas.float().tolist(),
                        separator.sampler.precision)


def evaluate_vocoder(separator: Separator, clean_csv: str, limit: int | None,
                     sampler: FastDiffWave | None = None) -> dict:
    """Mean STOI of the vocoder's re-synthesis of clean speech from its own mel spectrogram (with
    `sampler`, by default the pipeline's 6-step one), over (up to `limit`) utterances taken from every
    voice in turn (the lists are grouped by voice)."""
    import csv

    with open(clean_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    chosen = _round_robin(rows, key="voice")[:limit]
    paths = [row["path"] for row in chosen]
    sr = separator.mel.sample_rate
    sampler = sampler or separator.sampler
    scores = []
    generator = torch.Generator().manual_seed(0)
    for path in tqdm(paths, desc="vocoding", leave=False):
        wav = torch.from_numpy(read_wav(path, sr)).unsqueeze(0)
        with torch.inference_mode():
            audio = sampler(separator.mel.mel(wav), separator.mel.hop_length, generator)
        scores.append(stoi_score(audio[0, : wav.shape[-1]].numpy(), wav[0].numpy(), sr, extended=False)[0])
    return {"utterances": len(scores), "voices": len({r.get("voice") for r in chosen}),
            "sampling_steps": len(sampler.schedule), "stoi": _mean(scores)}


def _round_robin(rows: list[dict], key: str) -> list[dict]:
    """Rows reordered to take one of each `key` value in turn (first of each, then second of each...)."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row.get(key, ""), []).append(row)
    return [group[i] for i in range(max(map(len, groups.values()), default=0)) for group in groups.values()
            if i < len(group)]


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return round(float(np.mean(finite)), 4) if finite else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="offline")
    parser.add_argument("--mixtures", action="append", default=[], help="LibriMix CSV or folder (repeatable)")
    parser.add_argument("--clean", help="CSV of clean utterances (path column) for the vocoder STOI")
    parser.add_argument("--vocoder-schedule", choices=["fast", "full"], default="fast",
                        help="vocoder STOI with the pipeline's 6-step schedule or every training step")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    separator = Separator.from_settings(Settings.from_env(models=args.models))
    report: dict = {"models": separator.models.describe()}
    for mixtures in args.mixtures:
        report[Path(mixtures).stem] = evaluate_mixtures(separator, mixtures, args.limit)
    if args.clean:
        sampler = full_schedule_sampler(separator) if args.vocoder_schedule == "full" else None
        report["vocoder_resynthesis"] = evaluate_vocoder(separator, args.clean, args.limit, sampler)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
