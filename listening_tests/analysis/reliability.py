"""Listener reliability and the design as rated: agreement.csv, design.csv and screening.csv (docs/standards.md).

- `agreement`: Krippendorff's alpha (raters x stimuli) and ICC(2,k) of the condition means, per (protocol, scale).
- `design_summary` and `too_few_votes`: votes, raters and stimuli per condition, and the stimuli that screening
  left below the study's minimum number of votes.
- `screening_outcome`: how many ratings, sessions and raters each screening rule removed.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import krippendorff
import numpy as np
import pandas as pd
import pingouin

from listening_tests.analysis.inputs import GROUP
from listening_tests.conditions import is_check, report_order
from listening_tests.protocols import DEMO_PROTOCOL, INTEGER_SCORES

STIMULUS = ["item_id", "condition"]
AGREEMENT_COLUMNS = (
    "protocol",
    "scale",
    "alpha",
    "alpha_level",
    "alpha_n_raters",
    "alpha_n_stimuli",
    "icc2k",
    "icc2k_ci95_low",
    "icc2k_ci95_high",
    "icc_n_raters",
    "icc_n_targets",
    "icc_targets",
    "note",
)
DESIGN_COLUMNS = (
    "protocol",
    "scale",
    "condition",
    "n_votes",
    "n_raters",
    "n_stimuli",
    "votes_per_stimulus_min",
    "votes_per_stimulus_median",
    "votes_per_stimulus_max",
    "stimuli_below_min",
)
SCREENING_COLUMNS = ("reason", "n_ratings", "n_sessions", "n_raters")
ICC_TARGETS = "conditions"  # ICC targets: the conditions, each rater's mean score per condition
ICC_TYPE = "ICC(A,k)"  # pingouin's name (McGraw & Wong's absolute agreement, k raters) for Shrout & Fleiss' ICC(2,k)
CI_ROUNDING = "round.column.CI95"
RETAINED = "retained"
REASON_SEPARATOR = "; "  # listening_tests.screening.screen joins a rating's reasons with it
# A MUSHRA reason carries the listener's own share ("... on 40% of items (more than 15%)"); the rule is the rest.
SHARE_RE = re.compile(r" on [0-9]+% of items")


def agreement(retained: pd.DataFrame) -> pd.DataFrame:
    """agreement.csv: Krippendorff's alpha and ICC(2,k) per (protocol, scale); NaN with a note where undefined."""
    rows = []
    for (protocol, scale), group in retained.groupby(GROUP, sort=True):
        level = "ordinal" if INTEGER_SCORES[protocol] else "interval"
        alpha, alpha_raters, alpha_stimuli, alpha_note = krippendorff_alpha(group, level)
        icc, low, high, icc_raters, icc_targets, icc_note = icc2k_of_conditions(group)
        rows.append(
            {
                "protocol": protocol,
                "scale": scale,
                "alpha": alpha,
                "alpha_level": level,
                "alpha_n_raters": alpha_raters,
                "alpha_n_stimuli": alpha_stimuli,
                "icc2k": icc,
                "icc2k_ci95_low": low,
                "icc2k_ci95_high": high,
                "icc_n_raters": icc_raters,
                "icc_n_targets": icc_targets,
                "icc_targets": ICC_TARGETS,
                "note": "; ".join(n for n in (alpha_note, icc_note) if n),
            }
        )
    return pd.DataFrame(rows, columns=list(AGREEMENT_COLUMNS))


def reliability_matrix(votes: pd.DataFrame) -> pd.DataFrame:
    """Raters x stimuli ((item_id, condition)): a rater's mean vote on the stimulus (over sessions), NaN if none."""
    return votes.pivot_table(index="rater_id", columns=STIMULUS, values="score", aggfunc="mean")


def krippendorff_alpha(votes: pd.DataFrame, level: str) -> tuple[float, int, int, str]:
    """(alpha, raters, stimuli, note) over the stimuli that at least two raters voted on (alpha uses only those)."""
    matrix = reliability_matrix(votes)
    pairable = matrix.loc[:, matrix.notna().sum(axis=0) >= 2]
    pairable = pairable.loc[pairable.notna().any(axis=1)]
    n_raters, n_stimuli = pairable.shape
    if n_stimuli == 0:
        return np.nan, n_raters, n_stimuli, "alpha: no stimulus was voted on by two raters"
    values = pairable.to_numpy(float)
    if len(np.unique(values[~np.isnan(values)])) < 2:
        return np.nan, n_raters, n_stimuli, "alpha: every vote on the shared stimuli is the same (no variation)"
    alpha = krippendorff.alpha(reliability_data=values, level_of_measurement=level)
    return float(alpha), n_raters, n_stimuli, ""


def icc2k_of_conditions(votes: pd.DataFrame) -> tuple[float, float, float, int, int, str]:
    """(ICC(2,k), CI low, CI high, raters, targets, note): targets are the conditions, over raters who voted on all.

    Each rater's mean score per condition; ICC(2,k) is then the reliability of the condition means
    (two-way random effects, absolute agreement, mean of k raters; Shrout & Fleiss 1979).
    """
    means = votes.pivot_table(index="condition", columns="rater_id", values="score", aggfunc="mean")
    complete = means.dropna(axis=1)
    n_targets, n_raters = complete.shape
    if n_targets < 2:
        return np.nan, np.nan, np.nan, n_raters, n_targets, "icc: fewer than 2 conditions"
    if n_raters < 2:
        return np.nan, np.nan, np.nan, n_raters, n_targets, "icc: fewer than 2 raters voted on every condition"
    if np.ptp(complete.to_numpy(float)) == 0:
        return np.nan, np.nan, np.nan, n_raters, n_targets, "icc: every condition mean is the same (no variation)"
    long = complete.rename_axis(columns="rater_id").reset_index().melt(id_vars="condition", value_name="score")
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        # pingouin's ANOVA calls DataFrame.dropna(inplace=True), which pandas 3.1 deprecates; the result is unaffected.
        # Perfect consistency (no residual variance) divides by zero: the ICC stays defined, its interval NaN.
        warnings.filterwarnings("ignore", message="The inplace keyword", category=DeprecationWarning)
        with unrounded_intervals():
            table = pingouin.intraclass_corr(long, targets="condition", raters="rater_id", ratings="score")
    row = table.set_index("Type").loc[ICC_TYPE]
    low, high = (float(v) if np.isfinite(v) else np.nan for v in row["CI95"])
    note = "" if np.isfinite([low, high]).all() else "icc: no interval (no residual variance)"
    return float(row["ICC"]), low, high, n_raters, n_targets, note


@contextmanager
def unrounded_intervals() -> Iterator[None]:
    """pingouin rounds its CI95 column to 2 decimals by default (pingouin.options); keep full precision here."""
    saved = dict(pingouin.options)
    pingouin.options[CI_ROUNDING] = None
    try:
        yield
    finally:
        pingouin.options.clear()
        pingouin.options.update(saved)


def votes_per_stimulus(retained: pd.DataFrame, manifest: pd.DataFrame | None = None) -> pd.DataFrame:
    """Retained votes per (protocol, scale, item_id, condition); with a manifest, its unvoted stimuli count 0."""
    counts = retained.groupby([*GROUP, *STIMULUS]).size().rename("votes").reset_index()
    if manifest is None:
        return counts
    listed = manifest.loc[~manifest["condition"].map(is_check), STIMULUS].drop_duplicates()
    every = retained[GROUP].drop_duplicates().merge(listed, how="cross")
    return every.merge(counts, on=[*GROUP, *STIMULUS], how="outer").fillna({"votes": 0}).astype({"votes": int})


def design_summary(retained: pd.DataFrame, min_votes: int | None, manifest: pd.DataFrame | None = None) -> pd.DataFrame:
    """design.csv: votes, raters and stimuli per (protocol, scale, condition), and the stimuli below `min_votes`.

    With `manifest` (analysis.inputs.read_manifest), a stimulus whose votes were all screened out counts with 0.
    """
    per_stimulus = votes_per_stimulus(retained, manifest)
    rows = []
    for (protocol, scale), group in per_stimulus.groupby(GROUP, sort=True):
        for condition in report_order(group["condition"]):
            votes = group.loc[group["condition"] == condition, "votes"]
            raters = retained.loc[
                (retained["protocol"] == protocol)
                & (retained["scale"] == scale)
                & (retained["condition"] == condition),
                "rater_id",
            ]
            rows.append(
                {
                    "protocol": protocol,
                    "scale": scale,
                    "condition": condition,
                    "n_votes": int(votes.sum()),
                    "n_raters": raters.nunique(),
                    "n_stimuli": len(votes),
                    "votes_per_stimulus_min": int(votes.min()),
                    "votes_per_stimulus_median": float(votes.median()),
                    "votes_per_stimulus_max": int(votes.max()),
                    "stimuli_below_min": np.nan if min_votes is None else int((votes < min_votes).sum()),
                }
            )
    return pd.DataFrame(rows, columns=list(DESIGN_COLUMNS))


def too_few_votes(design: pd.DataFrame, min_votes: int | None) -> list[str]:
    """One sentence per (protocol, scale) where stimuli have fewer retained votes than `min_votes` (the design's)."""
    if min_votes is None:
        return []
    sentences = []
    for (protocol, scale), group in design.groupby(GROUP, sort=True):
        below = int(group["stimuli_below_min"].sum())
        if below:
            sentences.append(
                f"{protocol} / {scale}: {below} of {int(group['n_stimuli'].sum())} stimuli have fewer than "
                f"{min_votes} retained votes (fewest: {int(group['votes_per_stimulus_min'].min())})."
            )
    return sentences


def screening_outcome(ratings: pd.DataFrame) -> pd.DataFrame:
    """screening.csv from all ratings: ratings, sessions and raters per exclusion rule, then the retained ones.

    A rating excluded for several reasons counts under each; `retained` is what enters the statistics
    (as analysis.inputs.retain: not excluded, not demo, not a trap/gold clip).
    """
    excluded = ratings[ratings["excluded"]]
    rules = excluded["exclusion_reason"].replace("", "unspecified").map(rules_of)
    per_rule = excluded.assign(reason=rules).explode("reason")
    rows = [counted(str(reason), votes) for reason, votes in per_rule.groupby("reason", sort=False)]
    rows.sort(key=lambda row: -row["n_ratings"])
    kept = ratings[~ratings["excluded"] & (ratings["protocol"] != DEMO_PROTOCOL) & ~ratings["condition"].map(is_check)]
    rows.append(counted(RETAINED, kept))
    return pd.DataFrame(rows, columns=list(SCREENING_COLUMNS))


def rules_of(reasons: str) -> list[str]:
    """The distinct rules in a rating's exclusion reason, each without the listener's own share."""
    return list(dict.fromkeys(SHARE_RE.sub("", r.strip()) for r in reasons.split(REASON_SEPARATOR)))


def counted(reason: str, votes: pd.DataFrame) -> dict:
    """One screening.csv row."""
    return {
        "reason": reason,
        "n_ratings": len(votes),
        "n_sessions": votes["session_id"].nunique(),
        "n_raters": votes["rater_id"].nunique(),
    }
