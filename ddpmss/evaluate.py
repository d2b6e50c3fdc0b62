"""Evaluate a set of models on held-out data: the figures of the offline models' model card.

    python -m ddpmss.evaluate --models offline \
        --mixtures corpus/wav16k/min/metadata/mixture_test_unseen_voices_mix_clean.csv \
        --clean corpus/utterances/clean_test_unseen_voices.csv --limit 50 --out results.json

Per pipeline: mean SI-SDR, SI-SDRi (with the 95% confidence interval of its mean over mixtures), PESQ (NB/WB),
STOI, ESTOI, DNSMOS (SIG/BAK/OVRL), and the fusion's
D-energy share (with --ablation, also the fusion with DiffWave's input zeroed, or swapped between the two
talkers, and the evidence of what DiffWave's estimate could add to SepFormer's: `ddpmss.fusion_evidence`);
with --clean, the vocoder's re-synthesis of clean speech from its own mel (STOI, ESTOI, PESQ, DNSMOS),
sampled as the pipeline does (`--vocoder-schedule fast`: the model's own 6-step schedule, shallow from a
start made from the mel alone where the model says so), every step of its own schedule from pure noise (`noise`), the
DiffWave paper's 6-step schedule from noise (`paper`), every step of its training noise schedule (`full`, a
diagnostic of what the fast schedule costs), or the shallow sampler's start alone, with no DiffWave step
(`start`: PGHI or Griffin-Lim, as the model's `start_phase` says).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from tqdm import tqdm

from ddpmss.corpus.librimix import read_mixture_list
from ddpmss.fusion_evidence import branch_evidence, mean_evidence
from ddpmss.metrics import METRIC_NAMES, dnsmos, score_many, stoi_score
from ddpmss.pipelines import Separator
from ddpmss.settings import PIPELINES, Settings
from ddpmss.training.loop import read_wav
from ddpmss.vocoder import PAPER_FAST_SCHEDULE, FastDiffWave, model_start

# re-synthesis metrics of `evaluate_vocoder(..., all_metrics=True)`: SI-SDR means nothing for a
# vocoder that does not keep the waveform's phase
RESYNTHESIS_METRICS = tuple(m for m in METRIC_NAMES if not m.startswith("si_sdr"))


# The fusion given something else in place of DiffWave's estimate D: silence, and the other talker's D (a D
# like any other, but of the wrong talker: it tells apart "reads D's content" from "reacts to an odd input").
ABLATIONS = {
    "fusion_without_diffwave": lambda d: np.zeros_like(d),
    "fusion_with_other_talkers_diffwave": lambda d: d[::-1].copy(),
}


def evaluate_mixtures(
    separator: Separator, mixtures: str, limit: int | None, workers: int = 2, ablation: bool = False
) -> dict:
    """Mean metrics per pipeline over (up to `limit`) mixtures, talkers matched by SI-SDR of SepFormer's
    estimates (`SeparationResult.talker_order`).

    `ablation`: also score the fusion with DiffWave's input replaced (`ABLATIONS`): zeroed, and swapped between
    the two talkers; if the fusion ignores DiffWave, both score as the fusion does. It also measures what D
    could offer S at all (`ddpmss.fusion_evidence`: phase coherence, magnitude closeness, an oracle)."""
    sr = separator.settings.output_sr
    jobs, owners, mixture_of, shares, evidence = [], [], [], [], []
    for index, entry in enumerate(tqdm(read_mixture_list(mixtures)[:limit], desc="separating", leave=False)):
        mixture = read_wav(entry.mixture_path, sr)
        refs = np.stack([read_wav(p, sr)[: len(mixture)] for p in entry.source_paths])
        result = separator.separate(mixture, sr)
        shares += result.details.get("fusion_d_share", [])
        outputs = result.aligned(refs)
        if ablation:
            s_out, d_out = result.outputs["sepformer"], result.outputs["sepformer_diffwave"]
            for name, stand_in in ABLATIONS.items():
                fused, _ = separator.run_fusion(s_out, stand_in(d_out), mixture, sr)
                outputs[name] = fused[result.talker_order(refs)]
            evidence += [
                branch_evidence(s, d, ref, sr)
                for s, d, ref in zip(outputs["sepformer"], outputs["sepformer_diffwave"], refs)
            ]
        for name, estimates in outputs.items():
            for estimate, ref in zip(estimates, refs):
                jobs.append((estimate, ref, sr, mixture, True))
                owners.append(name)
                mixture_of.append(index)
    scores = score_many(jobs, workers)
    names = (*PIPELINES, *ABLATIONS) if ablation else PIPELINES
    summary: dict = {"mixtures": len(jobs) // (2 * len(names))}
    for name in names:
        rows = [s for s, owner in zip(scores, owners) if owner == name]
        summary[name] = {m: _mean([r[m] for r in rows]) for m in METRIC_NAMES}
        # over mixtures, not talkers: the two talkers of one mixture are not independent
        by_mixture: dict[int, list[float]] = {}
        for row, owner, index in zip(scores, owners, mixture_of):
            if owner == name:
                by_mixture.setdefault(index, []).append(row["si_sdr_i"])
        summary[name]["si_sdr_i_ci95"] = _ci95([_mean(values) for values in by_mixture.values()])
    summary["sepformer_diffwave_fusion"]["d_energy_share"] = _mean(shares)
    if ablation:
        summary["sepformer_diffwave_fusion"]["d_evidence"] = mean_evidence(evidence)
    return summary


def schedule_sampler(separator: Separator, schedule: list[float]) -> FastDiffWave:
    """The separator's vocoder sampled with another noise schedule, in the precision of its own sampler."""
    return FastDiffWave(
        separator.sampler.fp32_net, separator.vocoder.hparams.diffusion, schedule, separator.sampler.precision
    )


class StartOnly:
    """The shallow sampler's start with no DiffWave step, called like a sampler (a baseline)."""

    schedule: list[float] = []

    def __init__(self, separator: Separator) -> None:
        self.start = model_start(separator.vocoder.hparams)

    def __call__(self, mel: torch.Tensor, hop_length: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.start(mel)


def full_schedule_sampler(separator: Separator) -> FastDiffWave:
    """The separator's vocoder sampled through every step of its training noise schedule (DiffWave's
    slow sampler)."""
    return schedule_sampler(separator, separator.vocoder.hparams.diffusion.betas.float().tolist())


def evaluate_vocoder(
    separator: Separator,
    clean_csv: str,
    limit: int | None,
    sampler: FastDiffWave | None = None,
    all_metrics: bool = False,
    seed: int = 0,
) -> dict:
    """Mean STOI (with `all_metrics`, every RESYNTHESIS_METRICS value and a 95% confidence interval of
    the mean STOI over utterances) of the vocoder's re-synthesis of clean speech from its own mel
    spectrogram, sampled by `sampler` (by default the pipeline's), over (up to `limit`) utterances taken
    from every voice in turn (the lists are grouped by voice). The noise is drawn from `seed`, so two
    samplers compared on one list see the same draws."""
    import csv

    with open(clean_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    chosen = _round_robin(rows, key="voice")[:limit]
    paths = [row["path"] for row in chosen]
    sr = separator.mel.sample_rate
    sampler = sampler or separator.sampler
    pairs = []
    generator = torch.Generator().manual_seed(seed)
    for path in tqdm(paths, desc="vocoding", leave=False):
        wav = torch.from_numpy(read_wav(path, sr)).unsqueeze(0)
        with torch.inference_mode():
            audio = sampler(separator.mel.mel(wav), separator.mel.hop_length, generator)
        pairs.append((audio[0, : wav.shape[-1]].float().numpy(), wav[0].numpy()))
    summary = {
        "utterances": len(pairs),
        "voices": len({r.get("voice") for r in chosen}),
        "sampling_steps": getattr(sampler, "taken", 0),  # 0: the start alone
        "shallow": getattr(sampler, "start", None) is not None,
        "schedule": sampler.schedule,
        "seed": seed,
    }
    if not all_metrics:
        return {**summary, "stoi": _mean([stoi_score(est, ref, sr, extended=False)[0] for est, ref in pairs])}
    scores = score_many([(est, ref, sr, None, True) for est, ref in pairs])
    means = {m: _mean([s[m] for s in scores]) for m in RESYNTHESIS_METRICS}
    # the clean input's own DNSMOS: what the re-synthesis's DNSMOS is compared with
    clean = [dnsmos(ref, sr) for _, ref in pairs]
    clean_means = {f"clean_{m}": _mean([c[m] for c in clean]) for m in clean[0]} if clean else {}
    return {**summary, **means, "stoi_ci95": _ci95([s["stoi"] for s in scores]), **clean_means}


def _round_robin(rows: list[dict], key: str) -> list[dict]:
    """Rows reordered to take one of each `key` value in turn (first of each, then second of each...)."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row.get(key, ""), []).append(row)
    return [
        group[i]
        for i in range(max(map(len, groups.values()), default=0))
        for group in groups.values()
        if i < len(group)
    ]


def _ci95(values: list[float]) -> list[float] | None:
    """The t-distribution 95% confidence interval of the mean of the finite `values`."""
    finite = np.array([v for v in values if v is not None and math.isfinite(v)])
    if len(finite) < 2:
        return None
    low, high = stats.t.interval(0.95, len(finite) - 1, loc=finite.mean(), scale=stats.sem(finite))
    return [round(float(low), 4), round(float(high), 4)]


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return round(float(np.mean(finite)), 4) if finite else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="offline")
    parser.add_argument("--mixtures", action="append", default=[], help="LibriMix CSV or folder (repeatable)")
    parser.add_argument("--clean", help="CSV of clean utterances (path column) for the vocoder STOI")
    parser.add_argument(
        "--vocoder-schedule",
        choices=["fast", "noise", "paper", "full", "start"],
        default="fast",
        help="re-synthesis as the pipeline samples, with the model's own 6 steps from pure noise, the "
        "DiffWave paper's 6 steps from noise, every training step, or the shallow sampler's start alone",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the re-synthesis noise")
    parser.add_argument("--limit", type=int)
    parser.add_argument(
        "--ablation", action="store_true", help="also score the fusion with DiffWave's input zeroed or swapped"
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    separator = Separator.from_settings(Settings.from_env(models=args.models))
    report: dict = {"models": separator.models.describe()}
    for mixtures in args.mixtures:
        report[Path(mixtures).stem] = evaluate_mixtures(separator, mixtures, args.limit, ablation=args.ablation)
    if args.clean:
        samplers = {
            "fast": None,
            "noise": lambda: schedule_sampler(separator, separator.sampler.schedule),
            "paper": lambda: schedule_sampler(separator, list(PAPER_FAST_SCHEDULE)),
            "full": lambda: full_schedule_sampler(separator),
            "start": lambda: StartOnly(separator),
        }
        sampler = samplers[args.vocoder_schedule]
        report["vocoder_resynthesis"] = evaluate_vocoder(
            separator, args.clean, args.limit, sampler() if sampler else None, all_metrics=True, seed=args.seed
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
