"""Choose a DiffWave vocoder's 6-step fast noise schedule by grid search on validation speech.

    python -m ddpmss.training.schedule_search --models offline \
        --clean corpus/utterances/clean_val.csv --out runs/schedule_search.json

DiffWave's fast sampler (Kong et al. 2021) maps a short noise schedule onto
the training steps; the paper's 6-step schedule was chosen for its own models. A small model trained
on another corpus may sample better with another one, so this scores the paper's schedule and a family
of geometric ones (first beta 1e-4, last beta from LAST_BETAS) by the re-synthesis STOI of clean
validation utterances from their own mel spectrograms, with the same seeded noise for every candidate.
The best goes into the model's hyperparams.yaml as `fast_schedule` by hand, with this command and
its log named in the model card. Choose on voices of the training set; held-out voices are for
`python -m ddpmss.evaluate` afterwards, never for choosing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ddpmss.evaluate import evaluate_vocoder, schedule_sampler
from ddpmss.pipelines import Separator
from ddpmss.settings import Settings
from ddpmss.vocoder import PAPER_FAST_SCHEDULE

STEPS = 6
FIRST_BETA = 1e-4
LAST_BETAS = (0.05, 0.1, 0.2, 0.35, 0.5)


def candidate_schedules(
    steps: int = STEPS, first: float = FIRST_BETA, lasts: tuple[float, ...] = LAST_BETAS
) -> list[list[float]]:
    """The DiffWave paper's schedule, then one geometric schedule from `first` to each of `lasts`."""
    geometric = [[float(f"{b:.3g}") for b in np.geomspace(first, last, steps)] for last in lasts]
    return [list(PAPER_FAST_SCHEDULE)] + [s for s in geometric if s != list(PAPER_FAST_SCHEDULE)]


def search(separator: Separator, clean_csv: str, limit: int | None, candidates: list[list[float]]) -> list[dict]:
    """Each candidate's re-synthesis STOI over the same utterances and noise, best first. A candidate
    outside the model's training noise schedule is reported as such and ranked last."""
    results = []
    for schedule in candidates:
        try:
            sampler = schedule_sampler(separator, schedule)
        except ValueError as exc:
            results.append({"schedule": schedule, "stoi": None, "skipped": str(exc)})
            continue
        results.append(evaluate_vocoder(separator, clean_csv, limit, sampler))
    return sorted(results, key=lambda r: -1.0 if r["stoi"] is None else -r["stoi"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="offline")
    parser.add_argument("--clean", required=True, help="CSV of clean validation utterances (path, voice)")
    parser.add_argument("--limit", type=int, help="at most this many utterances (voices taken in turn)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    separator = Separator.from_settings(Settings.from_env(models=args.models))
    results = search(separator, args.clean, args.limit, candidate_schedules())
    report = {"models": separator.models.describe(), "clean": args.clean, "ranked": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    for r in results:
        print(f"{r['stoi']!s:>8}  {r['schedule']}")
    print(f"best: fast_schedule: {results[0]['schedule']}")


if __name__ == "__main__":
    main()
