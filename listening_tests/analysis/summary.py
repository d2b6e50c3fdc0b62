"""summary.csv and the per-stimulus and per-system means the correlations and the report use."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ddpmss.metrics import METRIC_NAMES
from listening_tests.analysis.inputs import GROUP
from listening_tests.conditions import report_order

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


def t_interval(values: np.ndarray) -> tuple[float, float]:
    """95 % t-interval of the mean (NaN for a single value; zero width when all values agree)."""
    n = len(values)
    if n < 2:
        return np.nan, np.nan
    half = stats.t.ppf(0.975, n - 1) * stats.sem(values)
    return float(np.mean(values) - half), float(np.mean(values) + half)


def summarize(retained: pd.DataFrame) -> pd.DataFrame:
    """summary.csv: votes per (protocol, scale, condition) with mean, std, t-interval and median."""
    rows = []
    for (protocol, scale), group in retained.groupby(GROUP, sort=True):
        for condition in report_order(group["condition"]):
            votes = group[group["condition"] == condition]
            scores = votes["score"].to_numpy(float)
            low, high = t_interval(scores)
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


def stimulus_means(retained: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """Mean score per (protocol, scale, item_id, condition), joined with that stimulus's metrics."""
    means = retained.groupby([*GROUP, "item_id", "condition"], as_index=False)["score"].mean()
    metrics = manifest[["item_id", "condition", *METRIC_NAMES]]
    return means.merge(metrics, on=["item_id", "condition"], how="left")


def system_means(stimuli: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """Per (protocol, scale, condition): mean of the retained votes and mean of each metric.

    A metric's mean runs over the condition's rated stimuli where it is defined.
    """
    metrics = stimuli.groupby([*GROUP, "condition"], as_index=False)[list(METRIC_NAMES)].mean()
    votes = summary[[*GROUP, "condition", "mean"]].rename(columns={"mean": "score"})
    return votes.merge(metrics, on=[*GROUP, "condition"], how="left")
