"""The condition vocabulary: every module reads condition names through listening_tests.conditions."""

from __future__ import annotations

from listening_tests.conditions import (
    anchor_condition,
    anchor_cutoff,
    anchors_by_cutoff,
    is_check,
    is_processed,
    mid_anchor,
    report_order,
)


def test_anchor_names_round_trip_and_nothing_else_parses_as_an_anchor() -> None:
    assert anchor_cutoff(anchor_condition(3500)) == 3500
    assert anchor_cutoff("anchor_lp10000") == 10000
    assert [anchor_cutoff(c) for c in ("anchor_lp", "anchor_lpx", "reference", "sepformer")] == [None] * 4


def test_each_condition_has_one_meaning() -> None:
    assert [is_check(c) for c in ("trap_2", "gold_bad", "golden", "reference")] == [True, True, False, False]
    processed = ["sepformer", "golden"]
    others = ["reference", "mixture", "anchor_lp3500", "trap_1", "gold_excellent"]
    assert all(map(is_processed, processed)) and not any(map(is_processed, others))


def test_report_order_sorts_anchors_by_cut_off_not_by_spelling() -> None:
    conditions = ["zeta", "mixture", "anchor_lp10000", "anchor_lp3500", "reference", "alpha", "alpha"]
    assert report_order(conditions) == ["reference", "anchor_lp3500", "anchor_lp10000", "mixture", "alpha", "zeta"]
    assert anchors_by_cutoff(conditions) == ["anchor_lp3500", "anchor_lp10000"]


def test_mid_anchor_is_the_7khz_low_pass_else_the_mixture() -> None:
    assert mid_anchor(["reference", "mixture", "anchor_lp7000"]) == "anchor_lp7000"
    assert mid_anchor(["reference", "mixture", "anchor_lp2000"]) == "mixture"
    assert mid_anchor(["reference", "sepformer"]) is None
