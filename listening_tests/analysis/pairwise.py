"""pairwise.csv: paired Wilcoxon tests between conditions, with effect sizes and Holm correction."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from listening_tests.analysis.inputs import GROUP
from listening_tests.conditions import report_order

PAIRWISE_COLUMNS = (
    "protocol",
    "scale",
    "condition_a",
    "condition_b",
    "n_items",
    "mean_a",
    "mean_b",
    "mean_diff",
    "rank_biserial",
    "wilcoxon_stat",
    "p_value",
    "p_holm",
    "note",
)


def rank_biserial(diff: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation (W+ - W-) / (W+ + W-), zero differences dropped."""
    diff = diff[diff != 0]
    if diff.size == 0:
        return np.nan
    ranks = stats.rankdata(np.abs(diff))
    return float((ranks[diff > 0].sum() - ranks[diff < 0].sum()) / ranks.sum())


def compare_pair(a: pd.Series, b: pd.Series) -> dict:
    """Wilcoxon signed-rank test and effect sizes of two conditions over the items both have."""
    both = pd.concat([a, b], axis=1).dropna().to_numpy(float)
    row = {"n_items": len(both), "mean_a": np.nan, "mean_b": np.nan, "mean_diff": np.nan}
    row |= {"rank_biserial": np.nan, "wilcoxon_stat": np.nan, "p_value": np.nan, "note": ""}
    if len(both) < 2:
        row["note"] = "fewer than 2 items rated in both conditions"
        return row
    diff = both[:, 0] - both[:, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        test = stats.wilcoxon(both[:, 0], both[:, 1])
    row |= {"mean_a": both[:, 0].mean(), "mean_b": both[:, 1].mean(), "mean_diff": diff.mean()}
    row |= {"rank_biserial": rank_biserial(diff), "wilcoxon_stat": test.statistic}
    row |= {"p_value": test.pvalue, "note": "" if np.any(diff) else "identical per-item means"}
    return row


def holm(p_values: pd.Series) -> pd.Series:
    """Holm-corrected p-values of the finite entries (NaN stays NaN)."""
    out = pd.Series(np.nan, index=p_values.index)
    finite = p_values.dropna()
    if not finite.empty:
        out[finite.index] = multipletests(finite.to_numpy(float), method="holm")[1]
    return out


def pairwise(retained: pd.DataFrame) -> pd.DataFrame:
    """pairwise.csv: every pair of conditions per (protocol, scale), paired over items.

    Columns: protocol, scale, condition_a, condition_b (a before b in report order); n_items (items
    with a mean score in both); mean_a, mean_b (mean over those items of the per-item mean scores);
    mean_diff (mean of a - b); rank_biserial (matched-pairs rank-biserial correlation, positive when
    a scores higher); wilcoxon_stat, p_value (scipy.stats.wilcoxon, two-sided); p_holm (Holm over
    all pairs of that protocol and scale); note (why a test is missing, or a caveat).
    """
    rows = []
    for (protocol, scale), group in retained.groupby(GROUP, sort=True):
        table = group.pivot_table(index="item_id", columns="condition", values="score", aggfunc="mean")
        pairs = itertools.combinations(report_order(table.columns), 2)
        family = pd.DataFrame(
            [{"condition_a": a, "condition_b": b, **compare_pair(table[a], table[b])} for a, b in pairs]
        )
        if family.empty:
            continue
        family["p_holm"] = holm(family["p_value"])
        rows.append(family.assign(protocol=protocol, scale=scale))
    if not rows:
        return pd.DataFrame(columns=list(PAIRWISE_COLUMNS))
    return pd.concat(rows, ignore_index=True).reindex(columns=list(PAIRWISE_COLUMNS))
