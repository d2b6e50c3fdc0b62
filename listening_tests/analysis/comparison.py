"""The pairwise protocols (CCR, ITU-T P.808 Annex E, and A/B preference): CMOS, order effect, Bradley-Terry.

A stored answer is raw: the second clip heard against the first (CCR -3..+3; A/B +1 for B, the second,
-1 for A, 0 for no preference). Every statistic here first turns it into b against a, the pair's
declared order, whatever the order heard (`b_vs_a`): the score as is when a was heard first, negated
when b was.

- cmos.csv: per pair, the comparison mean opinion score (the mean of the b-vs-a votes) with a 95 %
  t-interval over the votes and a one-sample t-test against 0 (Holm-corrected over the pairs), plus the
  same mean split by the order heard.
- order_effect.csv: the position bias, the preference for the second clip heard whatever it is, from the
  least-squares fit `raw = bias + sign * cmos_pair` (sign +1 when a was heard first, else -1).
- bradley_terry.csv: a Bradley-Terry ranking of the conditions from the votes as wins (b wins when b-vs-a
  is positive, a when it is negative); ties (0: About the Same, No preference) are dropped. Fitted with
  choix's expectation propagation (a Gaussian prior of variance 1 / BT_ALPHA, weak enough to let the data
  speak, strong enough to keep a condition that wins every comparison finite); the strengths are centred to
  sum to zero and their 95 % intervals are mean +- 1.96 sd of the centred posterior.
- `comparison_gaps`: gaps.csv rows of a comparison study, where mos_delta is the pair's CMOS.
"""

from __future__ import annotations

import choix
import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from ddpmss.metrics import METRIC_NAMES
from listening_tests.analysis.gaps import GAP_COLUMNS, mean_ci
from listening_tests.analysis.inputs import GROUP
from listening_tests.analysis.pairwise import holm
from listening_tests.analysis.summary import MIN_INTERVAL_N, t_interval
from listening_tests.conditions import is_processed, report_order
from listening_tests.protocols import COMPARISON_PROTOCOLS, PROTOCOL_RANGE

PAIR = ["condition_a", "condition_b"]
CMOS_COLUMNS = (
    "protocol",
    "scale",
    "condition_a",
    "condition_b",
    "n_votes",
    "n_raters",
    "n_items",
    "cmos",
    "std",
    "ci95_low",
    "ci95_high",
    "p_value",
    "p_holm",
    "n_a_first",
    "cmos_a_first",
    "n_b_first",
    "cmos_b_first",
    "note",
)
ORDER_EFFECT_COLUMNS = ("protocol", "scale", "n_votes", "bias", "ci95_low", "ci95_high", "p_value", "note")
BT_COLUMNS = (
    "protocol",
    "scale",
    "condition",
    "rank",
    "strength",
    "ci95_low",
    "ci95_high",
    "n_comparisons",
    "n_wins",
    "n_ties_dropped",
)
BT_ALPHA = 0.01  # the prior's precision: strengths ~ N(0, 100), far wider than any realistic difference
Z95 = float(stats.norm.ppf(0.975))


def comparison_votes(retained: pd.DataFrame) -> pd.DataFrame:
    """The retained CCR/A/B votes with condition_b (the rated condition) and `b_vs_a`, the order-corrected score."""
    votes = retained[retained["protocol"].isin(COMPARISON_PROTOCOLS)]
    sign = np.where(votes["order"] == "a_first", 1.0, -1.0)
    return votes.assign(condition_b=votes["condition"], sign=sign, b_vs_a=votes["score"].to_numpy(float) * sign)


def cmos(votes: pd.DataFrame) -> pd.DataFrame:
    """cmos.csv: one row per (protocol, scale, pair) of `comparison_votes`, pairs in report order of a."""
    rows = []
    for (protocol, scale), group in votes.groupby(GROUP, sort=True):
        low, high = PROTOCOL_RANGE[protocol]
        family = [_pair_row(pair, g, (low, high)) for pair, g in group.groupby(PAIR, sort=False)]
        table = pd.DataFrame(family)
        table["p_holm"] = holm(table["p_value"])
        order = {c: i for i, c in enumerate(report_order([*table["condition_a"], *table["condition_b"]]))}
        table = table.sort_values(PAIR, key=lambda col: col.map(order))
        rows.append(table.assign(protocol=protocol, scale=scale))
    if not rows:
        return pd.DataFrame(columns=list(CMOS_COLUMNS))
    return pd.concat(rows, ignore_index=True).reindex(columns=list(CMOS_COLUMNS))


def _pair_row(pair: tuple[str, str], group: pd.DataFrame, bounds: tuple[float, float]) -> dict:
    values = group["b_vs_a"].to_numpy(float)
    first = group["order"] == "a_first"
    low, high = t_interval(values, bounds)
    row = {"condition_a": pair[0], "condition_b": pair[1], "n_votes": len(values)}
    row |= {"n_raters": group["rater_id"].nunique(), "n_items": group["item_id"].nunique()}
    row |= {"cmos": values.mean(), "std": values.std(ddof=1) if len(values) > 1 else np.nan}
    row |= {"ci95_low": low, "ci95_high": high, "p_value": np.nan, "note": ""}
    row |= {"n_a_first": int(first.sum()), "cmos_a_first": values[first.to_numpy()].mean() if first.any() else np.nan}
    row |= {
        "n_b_first": int((~first).sum()),
        "cmos_b_first": values[~first.to_numpy()].mean() if (~first).any() else np.nan,
    }
    if len(values) < MIN_INTERVAL_N:
        row["note"] = f"fewer than {MIN_INTERVAL_N} votes: no interval or test"
    elif np.all(values == values[0]):
        row["note"] = "every vote is the same: no test"
    else:
        row["p_value"] = float(stats.ttest_1samp(values, 0.0).pvalue)
    return row


def order_effect(votes: pd.DataFrame) -> pd.DataFrame:
    """order_effect.csv: per (protocol, scale) the bias towards the second clip heard, net of the pairs' CMOS.

    Ordinary least squares (statsmodels) of the raw answers on an intercept (the bias) and, per pair, the
    order sign; the interval and p are the intercept's (t, two-sided).
    """
    rows = []
    for (protocol, scale), group in votes.groupby(GROUP, sort=True):
        row = {"protocol": protocol, "scale": scale, "n_votes": len(group), "note": ""}
        pairs = pd.get_dummies(group["condition_a"] + " vs " + group["condition_b"], dtype=float)
        design = np.column_stack([np.ones(len(group)), pairs.to_numpy() * group["sign"].to_numpy()[:, None]])
        if len(group) <= design.shape[1] or np.linalg.matrix_rank(design) < design.shape[1]:
            row["note"] = "every pair needs votes in both orders, and more votes than pairs + 1"
            rows.append(row)
            continue
        fit = sm.OLS(group["score"].to_numpy(float), design).fit()
        low, high = fit.conf_int(0.05)[0]
        row |= {"bias": float(fit.params[0]), "ci95_low": float(low), "ci95_high": float(high)}
        row["p_value"] = float(fit.pvalues[0])
        rows.append(row)
    return pd.DataFrame(rows, columns=list(ORDER_EFFECT_COLUMNS))


def bradley_terry(votes: pd.DataFrame) -> pd.DataFrame:
    """bradley_terry.csv: per (protocol, scale) the conditions ranked by their Bradley-Terry strength."""
    rows = []
    for (protocol, scale), group in votes.groupby(GROUP, sort=True):
        conditions = report_order([*group["condition_a"], *group["condition_b"]])
        index = {c: i for i, c in enumerate(conditions)}
        decided = group[group["b_vs_a"] != 0]
        a, b = decided["condition_a"].map(index).to_numpy(), decided["condition_b"].map(index).to_numpy()
        b_wins = decided["b_vs_a"].to_numpy() > 0
        data = [(int(w), int(lo)) for w, lo in zip(np.where(b_wins, b, a), np.where(b_wins, a, b))]
        strength, sd = _bt_fit(len(conditions), data)
        table = pd.DataFrame({"condition": conditions, "strength": strength})
        table["ci95_low"], table["ci95_high"] = strength - Z95 * sd, strength + Z95 * sd
        table["n_comparisons"] = [
            int(((group["condition_a"] == c) | (group["condition_b"] == c)).sum()) for c in conditions
        ]
        table["n_wins"] = [sum(w == index[c] for w, _ in data) for c in conditions]
        table["n_ties_dropped"] = [
            int((((group["condition_a"] == c) | (group["condition_b"] == c)) & (group["b_vs_a"] == 0)).sum())
            for c in conditions
        ]
        table = table.sort_values("strength", ascending=False, kind="stable")
        table["rank"] = np.arange(1, len(table) + 1)
        rows.append(table.assign(protocol=protocol, scale=scale))
    if not rows:
        return pd.DataFrame(columns=list(BT_COLUMNS))
    return pd.concat(rows, ignore_index=True).reindex(columns=list(BT_COLUMNS))


def _bt_fit(n: int, data: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Centred Bradley-Terry strengths and their posterior sd (choix.ep_pairwise); NaN without a decided vote."""
    if n < 2 or not data:
        return np.full(n, np.nan), np.full(n, np.nan)
    mean, cov = choix.ep_pairwise(n, data, alpha=BT_ALPHA)
    centre = np.eye(n) - 1.0 / n  # the strengths are known up to a common shift: report them summing to zero
    return centre @ mean, np.sqrt(np.clip(np.diag(centre @ cov @ centre), 0.0, None))


def comparison_gaps(
    votes: pd.DataFrame, manifest: pd.DataFrame, table: pd.DataFrame, n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """gaps.csv rows of the comparison votes: per compared pair of processed conditions (both directions) and metric.

    Over the items whose two stimuli both have the metric: metric_delta is the mean of metric(b) - metric(a),
    mos_delta the CMOS (the mean over those items of each item's mean b-vs-a vote), its interval a 95 %
    percentile bootstrap over items as for the absolute protocols; p_holm is cmos.csv's. (b, a) mirrors (a, b).
    """
    if votes.empty:
        return pd.DataFrame(columns=list(GAP_COLUMNS))
    rng = np.random.default_rng(seed)
    metrics = manifest.set_index(["item_id", "condition"])
    rows = []
    processed = votes["condition_a"].map(is_processed) & votes["condition_b"].map(is_processed)
    for (protocol, scale, a, b), group in votes[processed].groupby([*GROUP, *PAIR], sort=True):
        low, high = PROTOCOL_RANGE[protocol]
        item_cmos = group.groupby("item_id")["b_vs_a"].mean()
        tests = table[(table["protocol"] == protocol) & (table["scale"] == scale)]
        p_holm = tests.loc[(tests["condition_a"] == a) & (tests["condition_b"] == b), "p_holm"]
        for metric in METRIC_NAMES:
            ma = metrics[metric].reindex([(i, a) for i in item_cmos.index]).to_numpy(float)
            mb = metrics[metric].reindex([(i, b) for i in item_cmos.index]).to_numpy(float)
            items = np.isfinite(ma) & np.isfinite(mb)
            if not items.any():
                continue
            diffs = item_cmos.to_numpy(float)[items]
            ci = mean_ci(diffs, rng, n_boot, high - low)
            for first, second, sign in ((a, b, 1.0), (b, a, -1.0)):
                rows.append(
                    {
                        "protocol": protocol,
                        "scale": scale,
                        "condition_a": first,
                        "condition_b": second,
                        "metric": metric,
                        "n_items": int(items.sum()),
                        "metric_delta": sign * float((mb - ma)[items].mean()),
                        "mos_delta": sign * float(diffs.mean()),
                        "mos_delta_ci95_low": ci[0] if sign > 0 else -ci[1],
                        "mos_delta_ci95_high": ci[1] if sign > 0 else -ci[0],
                        "p_holm": float(p_holm.iloc[0]) if not p_holm.empty else np.nan,
                    }
                )
    return pd.DataFrame(rows, columns=list(GAP_COLUMNS))
