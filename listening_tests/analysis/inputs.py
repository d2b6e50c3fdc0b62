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
from listening_tests.export import RATINGS_COLUMNS
from listening_tests.protocols import DEMO_PROTOCOL
from listening_tests.stimuli.manifest import BuildError
from listening_tests.stimuli.manifest import read_manifest as read_manifest_rows

GROUP = ["protocol", "scale"]  # every table is computed per protocol and scale

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
    """Read ratings.csv, check its columns and parse `excluded` (true/false) and `score` (a number)."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty: there are no ratings to analyse.") from None
    missing = [c for c in RATINGS_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {', '.join(missing)} of ratings.csv.")
    if df.empty:
        raise ValueError(f"{path} holds a header but no ratings: there is nothing to analyse.")
    words = df["excluded"].str.strip().str.lower()
    _refuse_first(path, df, "excluded", ~words.isin(BOOLEAN_WORDS), "true or false")
    scores = pd.to_numeric(df["score"], errors="coerce")
    _refuse_first(path, df, "score", ~np.isfinite(scores.to_numpy(float)), "a number")
    return df.assign(excluded=words.map(BOOLEAN_WORDS).astype(bool), score=scores)


def _refuse_first(path: Path, df: pd.DataFrame, column: str, bad: pd.Series | np.ndarray, wanted: str) -> None:
    """ValueError naming the first bad value of `column` by its line in the file (the header is line 1)."""
    if np.any(bad):
        row = int(np.flatnonzero(np.asarray(bad))[0])
        value = df[column].iloc[row]
        raise ValueError(f"{path}, line {row + 2}: {column} must be {wanted}, not {value!r}.")


def read_manifest(path: Path) -> pd.DataFrame:
    """manifest.csv as a table: metrics as floats (NaN where empty or absent), one row per stimulus."""
    try:
        rows = read_manifest_rows(path, required=("item_id", "condition"))
    except BuildError as exc:
        raise ValueError(str(exc)) from None
    df = pd.DataFrame(rows, columns=list(rows[0]) if rows else ["item_id", "condition"], dtype=str)
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
