"""gaps.csv: how far apart two processed conditions are for a metric and for listeners, item by item.

This is the table the tool exists for: SepFormer+DiffWave can lose tens of dB of SI-SDR against
SepFormer while listeners hear little or no difference.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ddpmss.metrics import METRIC_NAMES
from listening_tests.analysis.inputs import GROUP
from listening_tests.analysis.summary import MIN_INTERVAL_N
from listening_tests.conditions import is_processed, report_order
from listening_tests.protocols import PROTOCOL_RANGE

GAP_COLUMNS = (
    "protocol",
    "scale",
    "condition_a",
    "condition_b",
    "metric",
    "n_items",
    "metric_delta",
    "mos_delta",
    "mos_delta_ci95_low",
    "mos_delta_ci95_high",
    "p_holm",
)


def mean_ci(diffs: np.ndarray, rng: np.random.Generator, n_boot: int, bound: float) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the mean item difference, resampling items.

    NaN below MIN_INTERVAL_N items; clipped to +-bound (the width of the scale), which no mean
    difference can pass.
    """
    if len(diffs) < MIN_INTERVAL_N:
        return np.nan, np.nan
    if np.all(diffs == diffs[0]):  # every resample has the same mean (scipy would warn of a degenerate sample)
        return float(diffs[0]), float(diffs[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        ci = stats.bootstrap((diffs,), np.mean, n_resamples=n_boot, method="percentile", rng=rng).confidence_interval
    return max(float(ci.low), -bound), min(float(ci.high), bound)


def holm_p(pairwise: pd.DataFrame, a: str, b: str) -> float:
    """The Holm-corrected p of the paired test of a and b (pairwise.csv lists each pair once, either order)."""
    match = pairwise[
        ((pairwise["condition_a"] == a) & (pairwise["condition_b"] == b))
        | ((pairwise["condition_a"] == b) & (pairwise["condition_b"] == a))
    ]
    return float(match["p_holm"].iloc[0]) if not match.empty else np.nan


def gaps(stimuli: pd.DataFrame, pairwise: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """gaps.csv: one row per ordered pair (a, b) of processed conditions, per metric, per (protocol, scale).

    Deltas are b minus a, averaged over the items that have a stimulus MOS in both conditions and the
    metric defined in both (n_items); a stimulus's MOS is the mean of its retained votes. The interval
    of mos_delta is a bootstrap over items (the per-item MOS differences are resampled; the votes
    within an item are not, see docs/reading-the-report.md); the same items give the same interval
    for every metric, and (b, a) mirrors (a, b). p_holm is the pair's Wilcoxon signed-rank p from
    pairwise.csv, Holm-corrected over all pairs of that protocol and scale.
    """
    rng = np.random.default_rng(seed)
    rows = []
    processed = stimuli[stimuli["condition"].map(is_processed)]
    for (protocol, scale), group in processed.groupby(GROUP, sort=True):
        low, high = PROTOCOL_RANGE[protocol]
        tests = pairwise[(pairwise["protocol"] == protocol) & (pairwise["scale"] == scale)]
        scores = group.pivot(index="item_id", columns="condition", values="score")
        metrics = {m: group.pivot(index="item_id", columns="condition", values=m) for m in METRIC_NAMES}
        intervals: dict[tuple, tuple[float, float]] = {}
        for a, b in itertools.permutations(report_order(group["condition"]), 2):
            for metric, values in metrics.items():
                items = scores[[a, b]].notna().all(axis=1) & values[[a, b]].notna().all(axis=1)
                if not items.any():
                    continue
                mos = (scores.loc[items, b] - scores.loc[items, a]).to_numpy(float)
                key = (min(a, b), max(a, b), tuple(scores.index[items]))
                if key not in intervals:
                    intervals[key] = mean_ci(mos if a < b else -mos, rng, n_boot, high - low)
                ci = intervals[key] if a < b else (-intervals[key][1], -intervals[key][0])
                rows.append(
                    {
                        "protocol": protocol,
                        "scale": scale,
                        "condition_a": a,
                        "condition_b": b,
                        "metric": metric,
                        "n_items": len(mos),
                        "metric_delta": float((values.loc[items, b] - values.loc[items, a]).mean()),
                        "mos_delta": float(mos.mean()),
                        "mos_delta_ci95_low": ci[0],
                        "mos_delta_ci95_high": ci[1],
                        "p_holm": holm_p(tests, a, b),
                    }
                )
    return pd.DataFrame(rows, columns=list(GAP_COLUMNS))
