"""Statistics of a listening test: vote summaries, metric correlations, pairwise tests, mixed model.

Inputs are the `ratings.csv` and `manifest.csv` of docs/file-formats.md. Only retained ratings enter
the statistics: not excluded, not the `demo` protocol, not trap or gold clips (listening_tests.conditions).
Every table is grouped by (protocol, scale). `listening_tests.report.analyze` turns these tables into
CSV files, plots and the report.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.multitest import multipletests

from ddpmss.metrics import METRIC_NAMES
from listening_tests.conditions import is_check, is_processed, report_order
from listening_tests.export import RATINGS_COLUMNS

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
)
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
MIXED_COLUMNS = (
    "protocol",
    "scale",
    "condition",
    "estimate",
    "se",
    "ci95_low",
    "ci95_high",
    "n_ratings",
    "n_raters",
    "n_items",
    "rater_var",
    "item_var",
    "residual_var",
    "converged",
    "note",
)
GROUP = ["protocol", "scale"]
STRING_COLUMNS = ("rating_id", "rater_id", "session_id", "protocol", "item_id", "condition", "scale")
KENDALL_VECTOR_MAX = 80  # beyond this sample size scipy per resample beats the O(n^2) vectorised form
BOOLEAN_WORDS = {"true": True, "false": False, "1": True, "0": False}


@dataclass
class Counts:
    """How many ratings there were, and why some did not enter the statistics."""

    ratings: int
    retained: int
    excluded: int
    exclusion_reasons: dict[str, int]
    demo: int
    trap_gold: int
    raters: int
    raters_retained: int
    items: int


@dataclass
class AnalysisResult:
    """All tables of one analysis, plus the files `report.analyze` wrote (empty until then)."""

    summary: pd.DataFrame
    correlations: pd.DataFrame
    pairwise: pd.DataFrame
    mixed: pd.DataFrame
    counts: Counts
    stimuli: pd.DataFrame
    systems: pd.DataFrame
    files: list[Path] = field(default_factory=list)


def read_ratings(path: Path) -> pd.DataFrame:
    """Read ratings.csv, check its columns and parse `excluded` and `score`."""
    try:
        df = pd.read_csv(path, dtype={c: str for c in STRING_COLUMNS}, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty: there are no ratings to analyse.") from None
    missing = [c for c in RATINGS_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {', '.join(missing)} of ratings.csv.")
    if df.empty:
        raise ValueError(f"{path} holds a header but no ratings: there is nothing to analyse.")
    words = df["excluded"].astype(str).str.strip().str.lower()
    unknown = sorted(set(words) - set(BOOLEAN_WORDS))
    if unknown:
        raise ValueError(f"{path}: column excluded must be true or false, found {unknown[:3]}.")
    df["excluded"] = words.map(BOOLEAN_WORDS).astype(bool)
    df["score"] = pd.to_numeric(df["score"], errors="coerce")
    return df


def read_manifest(path: Path) -> pd.DataFrame:
    """Read manifest.csv (metrics as floats, NaN where empty); absent metric columns become NaN."""
    df = pd.read_csv(path, dtype={"item_id": str, "condition": str})
    missing = [c for c in ("item_id", "condition") if c not in df.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {', '.join(missing)} of manifest.csv.")
    for metric in METRIC_NAMES:
        df[metric] = pd.to_numeric(df[metric], errors="coerce") if metric in df else np.nan
    return df.drop_duplicates(["item_id", "condition"], keep="last")


def retain(ratings: pd.DataFrame) -> tuple[pd.DataFrame, Counts]:
    """Ratings that enter the statistics, and the counts of those that do not."""
    demo = ratings["protocol"] == "demo"
    check = ratings["condition"].map(is_check)
    kept = ratings[~ratings["excluded"] & ~demo & ~check]
    if kept.empty:
        raise ValueError(
            f"No rating is left to analyse: all {len(ratings)} ratings are excluded, demo ratings or trap/gold clips."
        )
    if kept["score"].isna().any():
        bad = kept.loc[kept["score"].isna(), "rating_id"].head(3).tolist()
        raise ValueError(f"Retained ratings without a numeric score (rating_id {bad}).")
    reasons = ratings.loc[ratings["excluded"], "exclusion_reason"].replace("", "unspecified")
    counts = Counts(
        ratings=len(ratings),
        retained=len(kept),
        excluded=int(ratings["excluded"].sum()),
        exclusion_reasons={str(k): int(v) for k, v in reasons.value_counts().items()},
        demo=int(demo.sum()),
        trap_gold=int(check.sum()),
        raters=ratings["rater_id"].nunique(),
        raters_retained=kept["rater_id"].nunique(),
        items=kept["item_id"].nunique(),
    )
    return kept.reset_index(drop=True), counts


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


def _percentile_ci(replicates: np.ndarray) -> tuple[float, float]:
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return np.nan, np.nan
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def bootstrap_cis(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, n_boot: int = 2000
) -> dict[str, tuple[float, float]]:
    """95 % percentile bootstrap intervals of pearson/spearman/kendall, resampling (x, y) pairs.

    Resamples where a coefficient is undefined (constant values) are left out of its interval.
    """
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    xb, yb = x[idx], y[idx]
    replicates = {
        "pearson": _pearson_rows(xb, yb),
        "spearman": _pearson_rows(stats.rankdata(xb, axis=1), stats.rankdata(yb, axis=1)),
        "kendall": kendall_rows(xb, yb),
    }
    return {name: _percentile_ci(values) for name, values in replicates.items()}


def correlate(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, n_boot: int) -> dict:
    """Pearson, Spearman and Kendall (tau-b) of finite pairs, with bootstrap intervals."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        row = {
            "n": len(x),
            "pearson": stats.pearsonr(x, y).statistic,
            "spearman": stats.spearmanr(x, y).statistic,
            "kendall": stats.kendalltau(x, y).statistic,
        }
    for name, (low, high) in bootstrap_cis(x, y, rng, n_boot).items():
        row[f"{name}_ci_low"], row[f"{name}_ci_high"] = low, high
    return row


def correlations(stimuli: pd.DataFrame, systems: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """correlations.csv: listener scores against each objective metric, over processed conditions.

    Stimulus level: one point per rated stimulus (mean score vs its metric). System level: one point
    per processed condition (mean of the votes vs mean metric); n is the number of systems, so it
    is small and its intervals are wide. A metric with fewer than 3 finite pairs is skipped.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for level, table in (("stimulus", stimuli), ("system", systems)):
        table = table[table["condition"].map(is_processed)]
        for (protocol, scale), group in table.groupby(GROUP, sort=True):
            for metric in METRIC_NAMES:
                pairs = group[["score", metric]].dropna().to_numpy(float)
                if len(pairs) < 3:
                    continue
                row = correlate(pairs[:, 0], pairs[:, 1], rng, n_boot)
                rows.append({"protocol": protocol, "scale": scale, "metric": metric, "level": level} | row)
    return pd.DataFrame(rows, columns=list(CORRELATION_COLUMNS))


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


def _mixed_rows(group: pd.DataFrame, conditions: list[str], note: str) -> list[dict]:
    """Rows of one (protocol, scale) where the model could not be fitted."""
    sizes = group["condition"].value_counts()
    return [{"condition": c, "n_ratings": int(sizes[c]), "note": note} for c in conditions]


def fit_mixed(group: pd.DataFrame) -> list[dict]:
    """Fit score ~ 0 + C(condition) with rater and item as crossed random intercepts.

    statsmodels expresses crossed effects as variance components of a single group. A factor with
    one level is left out of the random part (noted). The estimate of a condition is its fixed
    effect: the model's mean score of that condition, with a normal 95 % interval.
    """
    conditions = report_order(group["condition"])
    data = pd.DataFrame(
        {
            "score": group["score"].to_numpy(float),
            "cond": pd.Categorical(group["condition"], categories=conditions),
            "rater": group["rater_id"].to_numpy(),
            "item": group["item_id"].to_numpy(),
            "one": 0,
        }
    )
    vc = {name: f"0 + C({name})" for name in ("rater", "item") if data[name].nunique() > 1}
    notes = [f"one {name} only: no {name} variance" for name in ("rater", "item") if name not in vc]
    if not vc:
        return _mixed_rows(group, conditions, "cannot fit a mixed model: one rater and one item")
    if len(data) <= len(conditions) + len(vc) + 1:
        return _mixed_rows(group, conditions, f"cannot fit a mixed model: only {len(data)} ratings")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = smf.mixedlm("score ~ 0 + C(cond)", data, groups="one", re_formula="0", vc_formula=vc)
            fit = model.fit(reml=True, method=["lbfgs", "powell"])  # powell when lbfgs does not converge
    except ValueError as exc:  # numpy's LinAlgError (singular matrix) is a ValueError too
        return _mixed_rows(group, conditions, f"cannot fit a mixed model: {exc}")
    relevant = [w for w in caught if issubclass(w.category, (UserWarning, RuntimeWarning))]
    notes += dict.fromkeys(str(w.message).splitlines()[0] for w in relevant)  # unique, in order
    variances = dict(zip(model.exog_vc.names, fit.vcomp))
    low, high = fit.conf_int().iloc[: len(conditions)].to_numpy().T
    return [
        {
            "condition": c,
            "estimate": fit.fe_params.iloc[k],
            "se": fit.bse_fe.iloc[k],
            "ci95_low": low[k],
            "ci95_high": high[k],
            "n_ratings": int((data["cond"] == c).sum()),
            "rater_var": variances.get("rater", np.nan),
            "item_var": variances.get("item", np.nan),
            "residual_var": fit.scale,
            "converged": bool(fit.converged),
            "note": "; ".join(notes),
        }
        for k, c in enumerate(conditions)
    ]


def mixed_effects(retained: pd.DataFrame) -> pd.DataFrame:
    """mixed.csv: the mixed-model mean score of each condition per (protocol, scale).

    Where a model cannot be fitted the rows keep NaN estimates and `note` says why.
    """
    rows = []
    for (protocol, scale), group in retained.groupby(GROUP, sort=True):
        sizes = {"n_raters": group["rater_id"].nunique(), "n_items": group["item_id"].nunique()}
        rows += [{"protocol": protocol, "scale": scale, **sizes, **r} for r in fit_mixed(group)]
    return pd.DataFrame(rows).reindex(columns=list(MIXED_COLUMNS))


def run_analysis(ratings_csv: Path, manifest_csv: Path, n_boot: int = 2000, seed: int = 0) -> AnalysisResult:
    """Read both CSV files and compute every table (nothing is written)."""
    retained, counts = retain(read_ratings(Path(ratings_csv)))
    manifest = read_manifest(Path(manifest_csv))
    summary = summarize(retained)
    stimuli = stimulus_means(retained, manifest)
    systems = system_means(stimuli, summary)
    return AnalysisResult(
        summary=summary,
        correlations=correlations(stimuli, systems, n_boot=n_boot, seed=seed),
        pairwise=pairwise(retained),
        mixed=mixed_effects(retained),
        counts=counts,
        stimuli=stimuli,
        systems=systems,
    )
