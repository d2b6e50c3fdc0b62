"""Reading the analysis inputs (ratings.csv, manifest.csv; docs/file-formats.md) and choosing what counts.

Only retained ratings enter the statistics: not excluded, not the `demo` protocol, not trap or gold
clips (listening_tests.conditions). A malformed file is refused with one sentence naming the file,
the line and the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ddpmss.metrics import METRIC_NAMES
from listening_tests.conditions import is_check
from listening_tests.export import COMPARISON_COLUMNS, RATINGS_COLUMNS
from listening_tests.protocols import (
    COMPARISON_PROTOCOLS,
    DEMO_PROTOCOL,
    PROTOCOL_INTEGER,
    PROTOCOL_RANGE,
    PROTOCOL_SCALES,
)
from listening_tests.stimuli.manifest import BuildError
from listening_tests.stimuli.manifest import read_manifest as read_manifest_rows

GROUP = ["protocol", "scale"]  # every table is computed per protocol and scale
# one vote per stimulus (CCR/A/B: per pair, condition_a being the other clip) and scale
VOTE = ["rater_id", "session_id", "protocol", "item_id", "condition", "condition_a", "scale"]
ORDERS = ("a_first", "b_first")  # CCR/A/B: which clip of the pair was heard first
MANIFEST_REQUIRED = ("item_id", "condition", "path")

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


def read_ratings(path: Path) -> pd.DataFrame:
    """Read ratings.csv, check its columns and parse `excluded` (true/false) and `score` (a number).

    condition_a and order (CCR/A/B) may be absent, as in a ratings.csv of the absolute protocols written
    before they existed: they read as empty.
    """
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty: there are no ratings to analyse.") from None
    df = df.assign(**{c: "" for c in COMPARISON_COLUMNS if c not in df.columns})
    missing = [c for c in RATINGS_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {', '.join(missing)} of ratings.csv.")
    if df.empty:
        raise ValueError(f"{path} holds a header but no ratings: there is nothing to analyse.")
    words = df["excluded"].str.strip().str.lower()
    _refuse_first(path, df, "excluded", ~words.isin(BOOLEAN_WORDS), "true or false")
    scores = pd.to_numeric(df["score"], errors="coerce")
    _refuse_first(path, df, "score", ~np.isfinite(scores.to_numpy(float)), "a number")
    _check_scales(path, df, scores)
    _check_pairs_columns(path, df)
    _check_unique(path, df)
    return df.assign(excluded=words.map(BOOLEAN_WORDS).astype(bool), score=scores)


def _check_scales(path: Path, df: pd.DataFrame, scores: pd.Series) -> None:
    """Each row's protocol is known, its scale is one of the protocol's and its score lies on that scale."""
    known = list(PROTOCOL_SCALES)
    _refuse_first(path, df, "protocol", ~df["protocol"].isin(known), f"one of {', '.join(known)}")
    scale_ok = np.array([s in PROTOCOL_SCALES[p] for p, s in zip(df["protocol"], df["scale"])], dtype=bool)
    if not scale_ok.all():
        protocol = df["protocol"].iloc[int(np.flatnonzero(~scale_ok)[0])]
        _refuse_first(path, df, "scale", ~scale_ok, f"a scale of {protocol} ({', '.join(PROTOCOL_SCALES[protocol])})")
    low = df["protocol"].map(lambda p: PROTOCOL_RANGE[p][0])
    high = df["protocol"].map(lambda p: PROTOCOL_RANGE[p][1])
    whole = df["protocol"].map(PROTOCOL_INTEGER)
    bad = (scores < low) | (scores > high) | (whole & (scores != scores.round()))
    if bad.any():
        protocol = df["protocol"].iloc[int(np.flatnonzero(bad.to_numpy())[0])]
        kind = "a whole number" if PROTOCOL_INTEGER[protocol] else "a number"
        lo, hi = PROTOCOL_RANGE[protocol]
        _refuse_first(path, df, "score", bad, f"{kind} from {lo} to {hi} on the {protocol} scale")


def _check_pairs_columns(path: Path, df: pd.DataFrame) -> None:
    """A CCR/A/B row names the condition compared against and the order heard; other rows leave both empty."""
    comparison = df["protocol"].isin(COMPARISON_PROTOCOLS)
    bad_order = comparison & ~df["order"].isin(ORDERS)
    _refuse_first(path, df, "order", bad_order, f"{' or '.join(ORDERS)} for a {'/'.join(COMPARISON_PROTOCOLS)} rating")
    bad_a = comparison & ((df["condition_a"] == "") | (df["condition_a"] == df["condition"]))
    _refuse_first(path, df, "condition_a", bad_a, "the other condition of the pair, not empty or the same condition")
    _refuse_first(path, df, "condition_a", ~comparison & (df["condition_a"] != ""), "empty outside CCR/A/B ratings")
    _refuse_first(path, df, "order", ~comparison & (df["order"] != ""), "empty outside CCR/A/B ratings")


def _check_unique(path: Path, df: pd.DataFrame) -> None:
    """No rating id twice, and no second vote of a rater in one session for the same stimulus and scale."""
    _refuse_first(path, df, "rating_id", df["rating_id"].duplicated(), "unique (it repeats an earlier line's id)")
    repeated = df.duplicated(VOTE)
    if repeated.any():
        row = int(np.flatnonzero(repeated.to_numpy())[0])
        first = int(np.flatnonzero((df[VOTE] == df[VOTE].iloc[row]).all(axis=1).to_numpy())[0])
        raise ValueError(
            f"{path}, line {row + 2} repeats the vote of line {first + 2} (same rater, session, protocol, item, "
            "condition and scale): a rater votes once per stimulus and scale in a session."
        )


@dataclass(frozen=True)
class StudyRules:
    """What the study file adds to the checks: its protocol and the retained votes each stimulus needs."""

    name: str  # how the study is named in a sentence (its file name)
    protocol: str
    min_votes: int


def check_study(path: Path, ratings: pd.DataFrame, rules: StudyRules) -> None:
    """Every study rating (the lab's demo ratings aside) is of the study's protocol."""
    counted = ratings["protocol"] != DEMO_PROTOCOL
    wanted = f"{rules.protocol}, the protocol of the study {rules.name}"
    _refuse_first(path, ratings, "protocol", counted & (ratings["protocol"] != rules.protocol), wanted)


def check_pairs(ratings_path: Path, ratings: pd.DataFrame, manifest_path: Path, manifest: pd.DataFrame) -> None:
    """Every rated stimulus of a study (not the lab's demo ratings, not trap/gold clips) is in the manifest,
    and so is the stimulus a CCR/A/B rating compared it against."""
    listed = pd.MultiIndex.from_frame(manifest[["item_id", "condition"]])
    rated = pd.MultiIndex.from_frame(ratings[["item_id", "condition"]])
    other = pd.MultiIndex.from_arrays([ratings["item_id"], ratings["condition_a"]])
    counted = ((ratings["protocol"] != DEMO_PROTOCOL) & ~ratings["condition"].map(is_check)).to_numpy()
    comparison = ratings["protocol"].isin(COMPARISON_PROTOCOLS).to_numpy()
    missing = counted & ~rated.isin(listed)
    missing_a = comparison & ~other.isin(listed)
    if missing.any() or missing_a.any():
        row = int(np.flatnonzero(missing | missing_a)[0])
        column = "condition" if missing[row] else "condition_a"
        item, condition = ratings["item_id"].iloc[row], ratings[column].iloc[row]
        raise ValueError(
            f"{ratings_path}, line {row + 2}: the stimulus (item {item!r}, condition {condition!r}) is not in "
            f"{manifest_path}; ratings and manifest must come from the same study."
        )


def _refuse_first(path: Path, df: pd.DataFrame, column: str, bad: pd.Series | np.ndarray, wanted: str) -> None:
    """ValueError naming the first bad value of `column` by its line in the file (the header is line 1)."""
    if np.any(bad):
        row = int(np.flatnonzero(np.asarray(bad))[0])
        value = df[column].iloc[row]
        raise ValueError(f"{path}, line {row + 2}: {column} must be {wanted}, not {value!r}.")


def read_manifest(path: Path) -> pd.DataFrame:
    """manifest.csv as a table: metrics as floats (NaN where empty or absent), one row per stimulus."""
    try:
        rows = read_manifest_rows(path, required=MANIFEST_REQUIRED)
    except BuildError as exc:
        raise ValueError(str(exc)) from None
    if not rows:
        raise ValueError(f"{path} holds a header but no stimuli: it is not the manifest of a built stimulus set.")
    df = pd.DataFrame(rows, columns=list(rows[0]), dtype=str)
    for metric in METRIC_NAMES:
        df[metric] = pd.to_numeric(df[metric], errors="coerce") if metric in df else np.nan
    return df.drop_duplicates(["item_id", "condition"], keep="last")


def retain(ratings: pd.DataFrame) -> tuple[pd.DataFrame, Counts]:
    """Ratings that enter the statistics, and the counts of those that do not."""
    demo = ratings["protocol"] == DEMO_PROTOCOL
    check = ratings["condition"].map(is_check)
    kept = ratings[~ratings["excluded"] & ~demo & ~check]
    if kept.empty:
        raise ValueError(
            f"No rating is left to analyse: all {len(ratings)} ratings are excluded, demo ratings or trap/gold clips."
        )
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
