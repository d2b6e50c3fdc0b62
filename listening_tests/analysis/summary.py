"""summary.csv and the per-stimulus and per-system means the correlations, gaps and the report use."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ddpmss.metrics import METRIC_NAMES
from listening_tests.analysis.inputs import GROUP
from listening_tests.conditions import report_order
from listening_tests.protocols import PROTOCOL_RANGE

SUMMARY_COLUMNS = (
    "protocol",
    "scale",
    "condition",
    "n_ratings",
    "n_raters",
    "mean",
    "std",
    "ci95_low",
    "ci95_high",
    "median",
)
MIN_INTERVAL_N = 3  # below this many values no interval is given: the report says "n too small"


def t_interval(values: np.ndarray, bounds: tuple[float, float] | None = None) -> tuple[float, float]:
    """95 % t-interval of the mean, clipped to the scale's bounds; NaN below MIN_INTERVAL_N values.

    A t-interval of a few votes reaches past the scale (e.g. -3.85..8.85 on 1-5); scores cannot lie
    there, so the interval is clipped to the scale.
    """
    n = len(values)
    if n < MIN_INTERVAL_N:
        return np.nan, np.nan
    half = stats.t.ppf(0.975, n - 1) * stats.sem(values)
    low, high = float(np.mean(values) - half), float(np.mean(values) + half)
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return low, high


def summarize(retained: pd.DataFrame) -> pd.DataFrame:
    """summary.csv: votes per (protocol, scale, condition) with mean, std, t-interval and median."""
    rows = []
    for (protocol, scale), group in retained.groupby(GROUP, sort=True):
        for condition in report_order(group["condition"]):
            votes = group[group["condition"] == condition]
            scores = votes["score"].to_numpy(float)
            low, high = t_interval(scores, PROTOCOL_RANGE[protocol])
            rows.append(
                {
                    "protocol": protocol,
                    "scale": scale,
                    "condition": condition,
                    "n_ratings": len(scores),
                    "n_raters": votes["rater_id"].nunique(),
                    "mean": scores.mean(),
                    "std": scores.std(ddof=1) if len(scores) > 1 else np.nan,
                    "ci95_low": low,
                    "ci95_high": high,
                    "median": float(np.median(scores)),
                }
            )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def _ci95_half_width(scores: pd.Series) -> float:
    """Half-width of the 95 % t-interval of a stimulus's mean vote (NaN below 2 votes)."""
    n = len(scores)
    return float(stats.t.ppf(0.975, n - 1) * scores.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan


def stimulus_means(retained: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """Per (protocol, scale, item_id, condition): the stimulus MOS and its spread, joined with its metrics.

    Columns: score (mean of its retained votes), n_votes, score_std (sample std, NaN below 2 votes),
    score_ci95 (half-width of the 95 % t-interval, NaN below 2 votes), then one column per metric.
    """
    grouped = retained.groupby([*GROUP, "item_id", "condition"])["score"]
    means = grouped.agg(
        score="mean",
        n_votes="size",
        score_std=lambda s: s.std(ddof=1) if len(s) > 1 else np.nan,
        score_ci95=_ci95_half_width,
    ).reset_index()
    metrics = manifest[["item_id", "condition", *METRIC_NAMES]]
    return means.merge(metrics, on=["item_id", "condition"], how="left")


def system_means(stimuli: pd.DataFrame) -> pd.DataFrame:
    """Per (protocol, scale, condition): the mean of its stimuli's MOS and of each metric over its stimuli.

    Each stimulus weighs once on both axes (a stimulus with more votes does not pull the system mean);
    a metric's mean runs over the stimuli where it is defined. n_stimuli counts the rated stimuli.
    """
    columns = ["score", *METRIC_NAMES]
    systems = stimuli.groupby([*GROUP, "condition"], as_index=False)[columns].mean()
    sizes = stimuli.groupby([*GROUP, "condition"], as_index=False).size().rename(columns={"size": "n_stimuli"})
    return systems.merge(sizes, on=[*GROUP, "condition"])
