"""Objective metrics evaluated as predictors of the listeners' scores, as ITU-T P.1401 does it.

Input: one row per rated stimulus (protocol, scale, item_id, condition, score, n_votes, score_std,
score_ci95 and one column per ddpmss.metrics.METRIC_NAMES). Only processed conditions count, and every
table is computed per (protocol, scale): one subjective experiment, with its own scale use. Definitions
and minimum sizes: docs/standards.md, "Metric evaluation (ITU-T P.1401)".

- `metric_evaluation`: per metric, Pearson and Spearman of score and metric, the monotonic 3rd-order
  mapping of the metric onto the scores, and after it Pearson, RMSE, epsilon-insensitive RMSE and the
  outlier ratio.
- `correlation_differences`: per pair of metrics, Williams' test of the difference between their
  correlations with the scores, which share the scores (Holm-corrected per protocol and scale).
- `condition_correlations`: Pearson and Spearman of score and metric within each processed condition.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from numpy.polynomial import Polynomial
from numpy.polynomial import polynomial as poly
from pandas.api.typing import DataFrameGroupBy
from scipy import optimize, stats

from ddpmss.metrics import METRIC_NAMES
from listening_tests.analysis.inputs import GROUP
from listening_tests.analysis.pairwise import holm
from listening_tests.conditions import is_processed

MAPPING_PARAMETERS = 4  # d of P.1401's RMSE: the cubic a + b x + c x^2 + d x^3 has 4 fitted parameters
MIN_CORRELATION = 3  # Pearson/Spearman of fewer pairs are not reported (as correlations.csv)
MIN_MAPPING = 2 * MAPPING_PARAMETERS  # mapping, RMSE and Williams' test: at least 4 residual degrees of freedom
MONOTONIC_GRID = 1001  # points of the observed metric range where the mapping's slope must be >= 0
FLAT = 1e-9  # a mapping that rises by less than this share of the score range is flat (solver round-off)

METRIC_EVALUATION_COLUMNS = (
    "protocol",
    "scale",
    "metric",
    "n",
    "pearson",
    "spearman",
    "pearson_mapped",
    "rmse",
    "n_ci",
    "eps_rmse",
    "outlier_ratio",
    "map_a",
    "map_b",
    "map_c",
    "map_d",
    "note",
)
CORRELATION_DIFFERENCE_COLUMNS = (
    "protocol",
    "scale",
    "metric_1",
    "metric_2",
    "n",
    "r1",
    "r2",
    "r12",
    "williams_t",
    "df",
    "p_value",
    "p_holm",
    "note",
)
CONDITION_CORRELATION_COLUMNS = ("protocol", "scale", "condition", "metric", "n", "pearson", "spearman", "note")


def _processed_groups(stimuli: pd.DataFrame) -> DataFrameGroupBy:
    """(protocol, scale) and the processed stimuli of that group, in sorted order."""
    processed = stimuli.loc[stimuli["condition"].map(is_processed).astype(bool)]  # bool even when empty
    return processed.groupby(GROUP, sort=True)


def _metrics_present(group: pd.DataFrame) -> list[str]:
    """The metrics with at least one value in `group` (a metric with none gets no row)."""
    return [m for m in METRIC_NAMES if m in group and group[m].notna().any()]


def _constant(values: np.ndarray) -> bool:
    return bool(np.ptp(values) == 0)


def correlation_pair(x: np.ndarray, y: np.ndarray) -> tuple[float, float, str]:
    """Pearson and Spearman of finite pairs, NaN with the reason below MIN_CORRELATION pairs or on constant values.

    Constant input is caught here rather than left to scipy, which would warn and return NaN.
    """
    if len(x) < MIN_CORRELATION:
        return np.nan, np.nan, f"fewer than {MIN_CORRELATION} stimuli"
    if _constant(x) or _constant(y):
        which = "the metric is" if _constant(x) else "the scores are"
        return np.nan, np.nan, f"{which} constant over these stimuli"
    return float(stats.pearsonr(x, y).statistic), float(stats.spearmanr(x, y).statistic), ""


def monotonic_cubic(x: np.ndarray, y: np.ndarray) -> Polynomial:
    """Least-squares cubic y ~ a + b x + c x^2 + d x^3, non-decreasing over [min x, max x] (P.1401 mapping).

    The fit runs on x rescaled to [0, 1] (numpy's Polynomial domain/window), which keeps the powers of
    e.g. SI-SDR in dB well conditioned. When the unconstrained least-squares cubic already rises over
    the whole range it is the answer; otherwise the convex problem (squared error, slope >= 0 at
    MONOTONIC_GRID points of the range) is solved with SLSQP, started from the best non-decreasing
    straight line; the linear coefficient is then raised by the remaining slope deficit (of the order of
    the solver's tolerance), so that the slope is >= 0 everywhere in the range, not only on the grid.
    x must not be constant.
    """
    lo, hi = float(np.min(x)), float(np.max(x))
    z = (x - lo) / (hi - lo)
    design = poly.polyvander(z, 3)
    grid = np.linspace(0.0, 1.0, MONOTONIC_GRID)
    slope = np.stack([np.zeros_like(grid), np.ones_like(grid), 2 * grid, 3 * grid**2], axis=1)  # d/dz per coef
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    if min_slope(coef) >= 0:
        return Polynomial(coef, domain=[lo, hi], window=[0, 1])
    line = np.linalg.lstsq(design[:, :2], y, rcond=None)[0]
    start = np.array([line[0], line[1], 0.0, 0.0]) if line[1] > 0 else np.array([np.mean(y), 0.0, 0.0, 0.0])
    result = optimize.minimize(
        lambda p: float(np.sum((design @ p - y) ** 2)),
        start,
        jac=lambda p: 2 * design.T @ (design @ p - y),
        method="SLSQP",
        constraints=[{"type": "ineq", "fun": lambda p: slope @ p, "jac": lambda p: slope}],
        options={"ftol": 1e-12, "maxiter": 1000},
    )
    coef = result.x + np.array([0.0, max(0.0, -min_slope(result.x)), 0.0, 0.0])
    return Polynomial(coef, domain=[lo, hi], window=[0, 1])


def min_slope(coef: np.ndarray) -> float:
    """Smallest slope over z in [0, 1] of the cubic with coefficients `coef` (a, b, c, d in z).

    The slope b + 2 c z + 3 d z^2 is a parabola: its minimum lies at an end of [0, 1] or at its vertex.
    """
    _, b, c, d = coef
    candidates = [0.0, 1.0]
    if d > 0 and 0 < -c / (3 * d) < 1:
        candidates.append(-c / (3 * d))
    z = np.array(candidates)
    return float(np.min(b + 2 * c * z + 3 * d * z**2))


def prediction_errors(score: np.ndarray, mapped: np.ndarray, ci95: np.ndarray) -> dict[str, float]:
    """P.1401 errors of mapped predictions: rmse, eps_rmse and outlier_ratio, with d = MAPPING_PARAMETERS.

    rmse = sqrt(sum(e_i^2) / (N - d)), e_i = score_i - mapped_i, over all N stimuli.
    eps_rmse = sqrt(sum(max(0, |e_i| - ci95_i)^2) / (N_ci - d)) and outlier_ratio = #{|e_i| > ci95_i} / N_ci
    over the N_ci stimuli with a confidence interval (ci95_i = t(0.975, M_i - 1) * std_i / sqrt(M_i) of
    their M_i >= 2 votes); a stimulus with a single vote has no interval and is left out of both.
    """
    error = score - mapped
    has_ci = np.isfinite(ci95)
    n_ci = int(has_ci.sum())
    row = {"rmse": float(np.sqrt(np.sum(error**2) / (len(error) - MAPPING_PARAMETERS))), "n_ci": n_ci}
    if n_ci < MIN_MAPPING:
        return row | {"eps_rmse": np.nan, "outlier_ratio": np.nan}
    excess = np.maximum(0.0, np.abs(error[has_ci]) - ci95[has_ci])
    row["eps_rmse"] = float(np.sqrt(np.sum(excess**2) / (n_ci - MAPPING_PARAMETERS)))
    row["outlier_ratio"] = float(np.mean(np.abs(error[has_ci]) > ci95[has_ci]))
    return row


def evaluate_metric(metric: np.ndarray, score: np.ndarray, ci95: np.ndarray) -> dict:
    """One metric_evaluation row (without protocol, scale, metric) from the finite (metric, score) pairs."""
    pearson, spearman, note = correlation_pair(metric, score)
    row = {"n": len(metric), "pearson": pearson, "spearman": spearman, "pearson_mapped": np.nan, "rmse": np.nan}
    row |= {"n_ci": int(np.isfinite(ci95).sum()), "eps_rmse": np.nan, "outlier_ratio": np.nan}
    row |= dict.fromkeys(("map_a", "map_b", "map_c", "map_d"), np.nan)
    notes = [note] if note else []
    if MIN_CORRELATION <= len(metric) < MIN_MAPPING:
        notes.append(f"fewer than {MIN_MAPPING} stimuli for the mapping")
    if len(metric) < MIN_MAPPING or _constant(metric):
        return row | {"note": "; ".join(notes)}
    mapping = monotonic_cubic(metric, score)
    mapped = mapping(metric)
    in_metric_units = mapping.convert().coef  # numpy drops zero high-order terms: pad back to 4
    coef = np.pad(in_metric_units, (0, MAPPING_PARAMETERS - len(in_metric_units)))
    row |= dict(zip(("map_a", "map_b", "map_c", "map_d"), coef.tolist(), strict=True))
    row |= prediction_errors(score, mapped, ci95)
    if not _constant(score):  # with constant scores no correlation is defined, as the note says already
        if np.ptp(mapped) > FLAT * float(np.ptp(score)):
            row["pearson_mapped"] = float(stats.pearsonr(mapped, score).statistic)
        else:
            notes.append("the fitted mapping is flat: the scores do not rise with the metric")
    if row["n_ci"] < MIN_MAPPING:
        notes.append(f"fewer than {MIN_MAPPING} stimuli with a confidence interval (2 or more votes)")
    elif row["n_ci"] < len(metric):
        notes.append(f"{len(metric) - row['n_ci']} stimuli with a single vote left out of eps_rmse and outlier_ratio")
    return row | {"note": "; ".join(notes)}


def metric_evaluation(stimuli: pd.DataFrame) -> pd.DataFrame:
    """metric_evaluation.csv: one row per (protocol, scale, metric) over the processed stimuli.

    Columns: n (stimuli with both a score and the metric); pearson, spearman (score against the raw
    metric); pearson_mapped, rmse (after the monotonic cubic mapping fitted on these stimuli; rmse with
    N - 4 in the denominator); n_ci (stimuli with a 95 % interval, i.e. 2 or more votes); eps_rmse,
    outlier_ratio (over those, see prediction_errors); map_a..map_d (the mapping a + b x + c x^2 + d x^3
    in the metric's units); note (why a value is missing, or a caveat).
    """
    rows = []
    for (protocol, scale), group in _processed_groups(stimuli):
        for metric in _metrics_present(group):
            pairs = group[[metric, "score", "score_ci95"]].dropna(subset=[metric, "score"]).to_numpy(float)
            row = evaluate_metric(pairs[:, 0], pairs[:, 1], pairs[:, 2])
            rows.append({"protocol": protocol, "scale": scale, "metric": metric} | row)
    return pd.DataFrame(rows, columns=list(METRIC_EVALUATION_COLUMNS))


def williams_t(r1: np.ndarray, r2: np.ndarray, r12: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Williams' t for H0 rho(y, x1) = rho(y, x2) in one sample of n: r1 = r(y, x1), r2 = r(y, x2), r12 = r(x1, x2).

    Steiger (1980, Psychological Bulletin 87(2), eq. 7), after Williams (1959):
    t = (r1 - r2) sqrt((n - 1)(1 + r12) / (2 (n - 1)/(n - 3) |R| + rbar^2 (1 - r12)^3)), with
    |R| = 1 - r1^2 - r2^2 - r12^2 + 2 r1 r2 r12 and rbar = (r1 + r2) / 2; t has n - 3 degrees of
    freedom. Written here because scipy, statsmodels and pingouin (0.7) have no test of dependent
    correlations. Vectorised over arrays of equal shape.
    """
    r1, r2, r12, n = (np.asarray(v, dtype=float) for v in (r1, r2, r12, n))
    det = 1 - r1**2 - r2**2 - r12**2 + 2 * r1 * r2 * r12
    rbar = (r1 + r2) / 2
    return (r1 - r2) * np.sqrt((n - 1) * (1 + r12) / (2 * (n - 1) / (n - 3) * det + rbar**2 * (1 - r12) ** 3))


def compare_metrics(score: np.ndarray, x1: np.ndarray, x2: np.ndarray) -> dict:
    """One correlation_differences row (without the group and metric names) from jointly finite values.

    The compared coefficients are the raw, signed Pearson correlations (see correlation_differences).
    """
    n = len(score)
    row = {"n": n, "r1": np.nan, "r2": np.nan, "r12": np.nan, "williams_t": np.nan, "df": n - 3, "p_value": np.nan}
    if n < MIN_MAPPING:
        return row | {"note": f"fewer than {MIN_MAPPING} stimuli with both metrics"}
    constant = [name for name, v in (("the scores", score), ("metric_1", x1), ("metric_2", x2)) if _constant(v)]
    if constant:
        return row | {"note": f"constant over these stimuli: {', '.join(constant)}"}
    r1, r2, r12 = (float(stats.pearsonr(a, b).statistic) for a, b in ((score, x1), (score, x2), (x1, x2)))
    row |= {"r1": r1, "r2": r2, "r12": r12}
    if 1 - abs(r12) < 1e-12:
        return row | {"note": "the two metrics are perfectly correlated on these stimuli: no test"}
    t = float(williams_t(r1, r2, r12, n))
    return row | {"williams_t": t, "p_value": float(2 * stats.t.sf(abs(t), n - 3)), "note": ""}


def correlation_differences(stimuli: pd.DataFrame) -> pd.DataFrame:
    """correlation_differences.csv: is one metric's correlation with the scores higher than another's?

    One row per (protocol, scale) and pair of metrics (metric_1 before metric_2 in METRIC_NAMES; every
    pair of the metrics present, si_sdr and si_sdr_i included: they differ by the mixture's SI-SDR, which
    varies per item). Over the processed stimuli where the score and both metrics are defined: n; r1, r2
    (Pearson of score with metric_1, metric_2); r12 (between the metrics); williams_t, df = n - 3,
    p_value (two-sided; williams_t); p_holm (Holm over the pairs of that protocol and scale); note.

    The correlations are the raw, signed Pearson coefficients, not those after the mapping: a mapping
    fitted to the same scores inflates both by an amount Williams' null distribution does not know, and
    a metric whose values fall as listeners' scores rise has a flat mapping and no mapped correlation.
    The sign is kept (all metrics are higher-is-better), so such a metric compares worse, not better.
    """
    rows = []
    for (protocol, scale), group in _processed_groups(stimuli):
        family = []
        for m1, m2 in itertools.combinations(_metrics_present(group), 2):
            values = group[["score", m1, m2]].dropna().to_numpy(float)
            row = compare_metrics(values[:, 0], values[:, 1], values[:, 2])
            family.append({"protocol": protocol, "scale": scale, "metric_1": m1, "metric_2": m2} | row)
        if family:
            table = pd.DataFrame(family)
            table["p_holm"] = holm(table["p_value"])
            rows.append(table)
    if not rows:
        return pd.DataFrame(columns=list(CORRELATION_DIFFERENCE_COLUMNS))
    return pd.concat(rows, ignore_index=True).reindex(columns=list(CORRELATION_DIFFERENCE_COLUMNS))


def condition_correlations(stimuli: pd.DataFrame) -> pd.DataFrame:
    """condition_correlations.csv: Pearson and Spearman of score and metric within each processed condition.

    One row per (protocol, scale, condition, metric present in that condition): n (stimuli with both),
    pearson, spearman, note (NaN and the reason below MIN_CORRELATION stimuli or on constant values).
    """
    rows = []
    for (protocol, scale), group in _processed_groups(stimuli):
        for condition, stimuli_of in group.groupby("condition", sort=True):
            for metric in _metrics_present(stimuli_of):
                pairs = stimuli_of[[metric, "score"]].dropna().to_numpy(float)
                pearson, spearman, note = correlation_pair(pairs[:, 0], pairs[:, 1])
                key = {"protocol": protocol, "scale": scale, "condition": condition, "metric": metric}
                rows.append(key | {"n": len(pairs), "pearson": pearson, "spearman": spearman, "note": note})
    return pd.DataFrame(rows, columns=list(CONDITION_CORRELATION_COLUMNS))
