"""Listener reliability, design and screening tables (listening_tests.analysis.reliability) and the vote histograms.

Agreement is checked against the krippendorff package and published worked examples (Krippendorff 2011,
Shrout & Fleiss 1979); counts against direct counts of hand-built votes.
"""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from listening_tests.analysis import reliability
from listening_tests.report.histograms import plot_histograms, scale_bins
from tests.listening_tests.test_analysis import rating

NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers x 12 units, values 1-5,
# NaN where an observer coded nothing. His results: ordinal alpha 0.815, interval alpha 0.849.
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
)
# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges; their ICC(2,4) is 0.62.
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])


def vote(rater: str, item: str, condition: str, score: float, protocol: str = "acr", scale: str = "ovrl", **extra):
    """One row of ratings.csv as analysis.inputs.read_ratings returns it (score a float, excluded a bool)."""
    return rating(0, protocol, rater, item, condition, scale, float(score)) | {"excluded": False} | extra


def votes_of(matrix: np.ndarray, protocol: str = "acr", scale: str = "ovrl") -> pd.DataFrame:
    """Votes from a raters x stimuli matrix (NaN: no vote); stimulus j is item j of condition `c`."""
    rows = [
        vote(f"r{i}", f"{j:03d}", "c", matrix[i, j], protocol, scale)
        for i, j in itertools.product(*map(range, matrix.shape))
        if not np.isnan(matrix[i, j])
    ]
    return pd.DataFrame(rows)


def condition_votes(table: np.ndarray, protocol: str = "mushra") -> pd.DataFrame:
    """Votes from a conditions x raters table: one vote per cell, on item 000."""
    scale = "mushra" if protocol == "mushra" else "ovrl"
    rows = [vote(f"j{j}", "000", f"t{t}", table[t, j], protocol, scale) for t, j in np.ndindex(table.shape)]
    return pd.DataFrame(rows)


def agreement_row(votes: pd.DataFrame) -> pd.Series:
    """The one agreement row of a single (protocol, scale), computed with every warning an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = reliability.agreement(votes)
    assert list(table.columns) == list(reliability.AGREEMENT_COLUMNS) and len(table) == 1
    return table.iloc[0]


def test_alpha_reproduces_krippendorff_2011() -> None:
    ordinal = agreement_row(votes_of(KRIPPENDORFF_2011, "acr", "ovrl"))
    interval = agreement_row(votes_of(KRIPPENDORFF_2011, "mushra", "mushra"))
    assert (ordinal.alpha_level, interval.alpha_level) == ("ordinal", "interval")
    assert round(ordinal.alpha, 3) == 0.815
    assert round(interval.alpha, 3) == 0.849
    # unit 12 has a single value: it cannot be paired and does not count
    assert (interval.alpha_n_raters, interval.alpha_n_stimuli) == (4, 11)


def test_alpha_equals_the_package_on_a_hand_built_matrix_with_a_repeated_vote() -> None:
    rng = np.random.default_rng(3)
    matrix = rng.integers(1, 6, size=(5, 8)).astype(float)
    matrix[rng.random(matrix.shape) < 0.3] = NAN
    matrix[0, 0], matrix[1, 0] = 2.0, 4.0
    votes = votes_of(matrix)
    # rater r0 votes on stimulus 000 again in a second session: alpha sees the mean of their two votes
    votes = pd.concat([votes, pd.DataFrame([vote("r0", "000", "c", 5.0, session_id="s-r0-2")])], ignore_index=True)
    by_hand = matrix.copy()
    by_hand[0, 0] = (2.0 + 5.0) / 2
    pairable = by_hand[:, (~np.isnan(by_hand)).sum(axis=0) >= 2]
    expected = krippendorff.alpha(reliability_data=pairable, level_of_measurement="ordinal")
    assert agreement_row(votes).alpha == pytest.approx(expected)


def test_icc2k_reproduces_shrout_and_fleiss_1979() -> None:
    row = agreement_row(condition_votes(SHROUT_FLEISS.astype(float)))
    # the two-way ANOVA mean squares, then ICC(2,k) = (BMS - EMS) / (BMS + (JMS - EMS) / n)
    n, k = SHROUT_FLEISS.shape
    grand = SHROUT_FLEISS.mean()
    bms = k * ((SHROUT_FLEISS.mean(axis=1) - grand) ** 2).sum() / (n - 1)
    jms = n * ((SHROUT_FLEISS.mean(axis=0) - grand) ** 2).sum() / (k - 1)
    ems = ((SHROUT_FLEISS - grand) ** 2).sum() - (n - 1) * bms - (k - 1) * jms
    ems /= (n - 1) * (k - 1)
    assert row.icc2k == pytest.approx((bms - ems) / (bms + (jms - ems) / n))
    assert round(row.icc2k, 2) == 0.62
    # McGraw & Wong's (1996) interval, as R's psych::ICC prints it for this table: 0.071 to 0.93
    assert (round(row.icc2k_ci95_low, 3), round(row.icc2k_ci95_high, 2)) == (0.071, 0.93)
    assert (row.icc_n_raters, row.icc_n_targets, row.icc_targets) == (4, 6, "conditions")
    assert row.note == ""


def test_icc_takes_each_raters_mean_per_condition_over_raters_who_voted_on_every_condition() -> None:
    votes = condition_votes(SHROUT_FLEISS.astype(float), "acr")
    extra = [
        vote("j0", "001", "t0", 9.0),  # a second item: j0's mean on t0 stays 9
        vote("late", "000", "t0", 3.0),  # voted on one condition only: left out of the ICC, in alpha
    ]
    row = agreement_row(pd.concat([votes, pd.DataFrame(extra)], ignore_index=True))
    assert (row.icc_n_raters, row.icc_n_targets) == (4, 6)
    assert round(row.icc2k, 2) == 0.62
    assert row.alpha_n_raters == 5


@pytest.mark.parametrize(
    ("votes", "nan_columns", "note"),
    [
        (
            [vote("r0", "000", "a", 3), vote("r0", "000", "b", 4)],
            ("alpha", "icc2k"),
            "alpha: no stimulus was voted on by two raters; icc: fewer than 2 raters voted on every condition",
        ),
        ([vote("r0", "000", "a", 3), vote("r1", "000", "a", 4)], ("icc2k",), "icc: fewer than 2 conditions"),
        (
            [vote(r, "000", c, 3) for r in ("r0", "r1") for c in ("a", "b")],
            ("alpha", "icc2k"),
            "alpha: every vote on the shared stimuli is the same (no variation); "
            "icc: every condition mean is the same (no variation)",
        ),
    ],
    ids=["one rater", "one condition", "no variation"],
)
def test_too_little_data_gives_nan_and_a_note_without_warnings(votes, nan_columns, note) -> None:
    row = agreement_row(pd.DataFrame(votes))
    assert all(np.isnan(row[c]) for c in nan_columns)
    assert all(np.isfinite(row[c]) for c in ("alpha", "icc2k") if c not in nan_columns)
    assert row.note == note


def test_perfectly_consistent_raters_give_an_icc_without_an_interval_or_warnings() -> None:
    table = np.array([[1.0, 2.0], [3.0, 4.0], [4.0, 5.0]])  # rater j1 = j0 + 1: no residual variance
    row = agreement_row(condition_votes(table, "acr"))
    assert 0 < row.icc2k < 1 and np.isnan(row.icc2k_ci95_low) and np.isnan(row.icc2k_ci95_high)
    assert row.note == "icc: no interval (no residual variance)"


def design_votes() -> pd.DataFrame:
    """Uneven votes: item 000 of `a` has 3 votes, 001 has 1 (a rater's second session counts), `b` 2 and 2."""
    rows = [
        vote("r0", "000", "a", 3),
        vote("r1", "000", "a", 4),
        vote("r1", "000", "a", 5, session_id="s-r1-2"),
        vote("r2", "001", "a", 2),
        vote("r0", "000", "reference", 5),
        vote("r1", "000", "reference", 5),
        vote("r0", "001", "reference", 4),
        vote("r2", "001", "reference", 5),
        vote("r0", "000", "a", 60, "mushra", "mushra"),
    ]
    return pd.DataFrame(rows)


def test_design_counts_equal_a_direct_count() -> None:
    votes = design_votes()
    design = reliability.design_summary(votes, min_votes=2)
    assert list(design.columns) == list(reliability.DESIGN_COLUMNS)
    acr = design[design["protocol"] == "acr"].set_index("condition")
    assert list(acr.index) == ["reference", "a"]  # report order
    for condition, row in acr.iterrows():
        own = votes[(votes["protocol"] == "acr") & (votes["condition"] == condition)]
        per_stimulus = own.groupby("item_id").size()
        assert row.n_votes == len(own)
        assert row.n_raters == own["rater_id"].nunique()
        assert row.n_stimuli == len(per_stimulus)
        assert (row.votes_per_stimulus_min, row.votes_per_stimulus_max) == (per_stimulus.min(), per_stimulus.max())
        assert row.votes_per_stimulus_median == per_stimulus.median()
        assert row.stimuli_below_min == (per_stimulus < 2).sum()
    assert (acr.loc["a", "votes_per_stimulus_min"], acr.loc["a", "stimuli_below_min"]) == (1, 1)
    assert np.isnan(reliability.design_summary(votes, min_votes=None)["stimuli_below_min"]).all()


def test_a_manifest_stimulus_without_retained_votes_counts_zero() -> None:
    manifest = pd.DataFrame(
        {
            "item_id": ["000", "001", "002", "002", "t1"],
            "condition": ["a", "a", "a", "reference", "trap_3"],
        }
    )
    design = reliability.design_summary(design_votes(), min_votes=2, manifest=manifest)
    acr = design[design["protocol"] == "acr"].set_index("condition")
    assert acr.loc["a", ["n_stimuli", "votes_per_stimulus_min", "stimuli_below_min"]].tolist() == [3, 0, 2]
    assert acr.loc["reference", ["n_stimuli", "n_votes", "stimuli_below_min"]].tolist() == [3, 4, 1]
    assert "trap_3" not in set(design["condition"])


def test_too_few_votes_says_how_many_stimuli_per_protocol_and_scale() -> None:
    design = reliability.design_summary(design_votes(), min_votes=3)
    assert reliability.too_few_votes(design, 3) == [
        "acr / ovrl: 3 of 4 stimuli have fewer than 3 retained votes (fewest: 1).",
        "mushra / mushra: 1 of 1 stimuli have fewer than 3 retained votes (fewest: 1).",
    ]
    assert reliability.too_few_votes(reliability.design_summary(design_votes(), 1), 1) == []
    assert reliability.too_few_votes(reliability.design_summary(design_votes(), None), None) == []


def test_screening_outcome_counts_each_rule_once_per_rating() -> None:
    hidden = "hidden reference rated below 90 on {}% of items (more than 15%)"
    control = "control clip (trapping or gold), not a stimulus"
    rows = [
        # session s1 of r1 fails two rules at once: each rating carries both reasons
        *[vote("r1", f"{i:03d}", "a", 3, excluded=True, exclusion_reason="failed a trapping clip; session not finished",
               session_id="s1") for i in range(3)],
        vote("r1", "t1", "trap_3", 1, excluded=True, session_id="s1",
             exclusion_reason=f"{control}; failed a trapping clip; session not finished"),
        vote("r2", "000", "a", 3, excluded=True, exclusion_reason="session not finished"),
        # two MUSHRA listeners fail the same rule at different shares: one rule
        vote("m1", "000", "reference", 50, "mushra", "mushra", excluded=True, exclusion_reason=hidden.format(40)),
        vote("m2", "000", "reference", 60, "mushra", "mushra", excluded=True, exclusion_reason=hidden.format(20)),
        vote("r3", "000", "a", 4),
        vote("r3", "001", "a", 5),
        vote("r3", "g1", "gold_excellent", 5),  # a passed gold clip is not a stimulus: not retained
        vote("r3", "000", "a", 2, "demo"),  # the lab's demo ratings are never screened and never retained
    ]  # fmt: skip
    table = reliability.screening_outcome(pd.DataFrame(rows)).set_index("reason")
    assert list(table.columns) == list(reliability.SCREENING_COLUMNS)[1:]
    assert table.to_dict("index") == {
        "session not finished": {"n_ratings": 5, "n_sessions": 2, "n_raters": 2},
        "failed a trapping clip": {"n_ratings": 4, "n_sessions": 1, "n_raters": 1},
        "hidden reference rated below 90 (more than 15%)": {"n_ratings": 2, "n_sessions": 2, "n_raters": 2},
        control: {"n_ratings": 1, "n_sessions": 1, "n_raters": 1},
        "retained": {"n_ratings": 2, "n_sessions": 1, "n_raters": 1},
    }
    assert list(table.index)[-1] == "retained"


def test_screening_outcome_without_exclusions_has_only_the_retained_row() -> None:
    table = reliability.screening_outcome(pd.DataFrame([vote("r0", "000", "a", 3), vote("r1", "000", "a", 4)]))
    assert table.to_dict("records") == [{"reason": "retained", "n_ratings": 2, "n_sessions": 2, "n_raters": 2}]


@pytest.mark.parametrize(
    ("protocol", "scale", "conditions", "height"),
    [("acr", "ovrl", 6, 560), ("mushra", "mushra", 3, 320)],
)
def test_histogram_is_a_png_1280_px_wide(tmp_path: Path, protocol, scale, conditions, height) -> None:
    rng = np.random.default_rng(0)
    high = 5 if protocol == "acr" else 100
    rows = [
        vote(f"r{r}", "000", f"sys{c}", rng.integers(1, high + 1), protocol, scale)
        for r, c in itertools.product(range(10), range(conditions))
    ]
    path = tmp_path / "hist.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert plot_histograms(pd.DataFrame(rows), f"{protocol} / {scale}", path) == path
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        assert image.size == (1280, height)


def test_every_category_of_a_categorical_scale_has_a_bin() -> None:
    edges, centres, _ = scale_bins("acr")
    counts, _ = np.histogram([1, 1, 5], bins=edges)
    assert centres.tolist() == [1, 2, 3, 4, 5] and counts.tolist() == [2, 0, 0, 0, 1]
    edges, centres, _ = scale_bins("mushra")
    counts, _ = np.histogram([0, 9.9, 10, 100], bins=edges)
    assert len(centres) == 10 and counts.tolist() == [2, 1, 0, 0, 0, 0, 0, 0, 0, 1]
