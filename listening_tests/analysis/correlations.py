"""correlations.csv: listener scores against each objective metric, with bootstrap intervals."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ddpmss.metrics import METRIC_NAMES
from listening_tests.analysis.inputs import GROUP
from listening_tests.conditions import is_processed

CORRELATION_COLUMNS = (
    "protocol",
    "scale",
    "metric",
    "level",
    "n",
    "pearson",
    "spearman",
    "kendall",
    "pearson_ci_low",
    "pearson_ci_high",
    "spearman_ci_low",
    "spearman_ci_high",
    "kendall_ci_low",
    "kendall_ci_high",
    "note",
)
MIN_BOOTSTRAP_SYSTEMS = 5  # below this many systems a bootstrap interval of a correlation means little
SMALL_SYSTEM_NOTE = "no interval: fewer than 5 systems"  # the report says why (a bootstrap of 3 points)
COEFFICIENTS = ("pearson", "spearman", "kendall")
KENDALL_VECTOR_MAX = 80  # beyond this sample size scipy per resample beats the O(n^2) vectorised form


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return stats.pearsonr(x, y, axis=1).statistic


def kendall_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row pair, as scipy.stats.kendalltau computes it.

    Up to KENDALL_VECTOR_MAX columns: the sign-product form (sum of sign products over the square root
    of the untied pair counts), vectorised over rows in chunks; O(n^2), so larger rows go to scipy.
    """
    if x.shape[1] > KENDALL_VECTOR_MAX:
        return np.array([stats.kendalltau(a, b).statistic for a, b in zip(x, y)])
    i, j = np.triu_indices(x.shape[1], 1)
    out = np.empty(len(x))
    step = max(1, 2_000_000 // max(len(i), 1))
    for start in range(0, len(x), step):
        rows = slice(start, start + step)
        sx, sy = np.sign(x[rows, i] - x[rows, j]), np.sign(y[rows, i] - y[rows, j])
        with np.errstate(invalid="ignore", divide="ignore"):
            out[rows] = (sx * sy).sum(1) / np.sqrt(np.abs(sx).sum(1) * np.abs(sy).sum(1))
    return out


def coefficients(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Pearson, Spearman and Kendall (tau-b) of x and y along the last axis, stacked first.

    The vectorised statistic of scipy.stats.bootstrap: x and y are one sample (n,) or a batch of
    resamples (batch, n); NaN where a coefficient is undefined (constant values).
    """
    x2, y2 = np.atleast_2d(x), np.atleast_2d(y)
    out = np.stack(
        [
            _pearson_rows(x2, y2),
            _pearson_rows(stats.rankdata(x2, axis=1), stats.rankdata(y2, axis=1)),
            kendall_rows(x2, y2),
        ]
    )
    return out if np.ndim(x) > 1 else out[:, 0]


def bootstrap_cis(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, n_boot: int = 2000
) -> dict[str, tuple[float, float]]:
    """95 % percentile bootstrap intervals of pearson/spearman/kendall, resampling (x, y) pairs.

    scipy.stats.bootstrap draws the paired resamples and evaluates the coefficients; the interval
    is taken here over the finite replicates only, because scipy's own interval turns NaN as soon as
    one resample has constant values (a coefficient undefined there), which small samples often do.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)  # scipy's NaN interval, not used
        result = stats.bootstrap(
            (x, y), coefficients, n_resamples=n_boot, paired=True, vectorized=True, method="percentile", rng=rng
        )
    return {name: _percentile_ci(values) for name, values in zip(COEFFICIENTS, result.bootstrap_distribution)}


def _percentile_ci(replicates: np.ndarray) -> tuple[float, float]:
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return np.nan, np.nan
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def correlate(x: np.ndarray, y: np.ndarray, rng: np.random.Generator | None, n_boot: int) -> dict:
    """Pearson, Spearman and Kendall (tau-b) of finite pairs, with bootstrap intervals unless rng is None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        row = {
            "n": len(x),
            "pearson": stats.pearsonr(x, y).statistic,
            "spearman": stats.spearmanr(x, y).statistic,
            "kendall": stats.kendalltau(x, y).statistic,
        }
    if rng is not None:
        for name, (low, high) in bootstrap_cis(x, y, rng, n_boot).items():
            row[f"{name}_ci_low"], row[f"{name}_ci_high"] = low, high
    return row


def system_points(stimuli: pd.DataFrame, metric: str) -> np.ndarray:
    """One (mean stimulus MOS, mean metric) point per condition, both over the stimuli where the metric is defined."""
    defined = stimuli.dropna(subset=["score", metric])
    return defined.groupby("condition")[["score", metric]].mean().to_numpy(float)


def correlations(stimuli: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """correlations.csv: listener scores against each objective metric, over processed conditions.

    Stimulus level: one point per rated stimulus (its MOS vs its metric), with bootstrap intervals.
    System level: one point per processed condition, the mean over its stimuli of the stimulus MOS
    against the mean over the same stimuli of the metric (each stimulus weighs once on both axes);
    intervals only from MIN_BOOTSTRAP_SYSTEMS systems on (`note` says why otherwise). A metric with
    fewer than 3 finite points is skipped.
    """
    rng = np.random.default_rng(seed)
    rows = []
    processed = stimuli[stimuli["condition"].map(is_processed)]
    for (protocol, scale), group in processed.groupby(GROUP, sort=True):
        for level in ("stimulus", "system"):
            for metric in METRIC_NAMES:
                if level == "stimulus":
                    pairs = group[["score", metric]].dropna().to_numpy(float)
                else:
                    pairs = system_points(group, metric)
                if len(pairs) < 3:
                    continue
                few = level == "system" and len(pairs) < MIN_BOOTSTRAP_SYSTEMS
                row = correlate(pairs[:, 0], pairs[:, 1], None if few else rng, n_boot)
                row["note"] = SMALL_SYSTEM_NOTE if few else ""
                rows.append({"protocol": protocol, "scale": scale, "metric": metric, "level": level} | row)
    return pd.DataFrame(rows, columns=list(CORRELATION_COLUMNS))
