"""The report's section on the pairwise protocols (CCR, A/B): CMOS per pair, the order effect, Bradley-Terry."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from listening_tests.analysis import AnalysisResult

CMOS_NOTE = (
    "Each vote is read as b against a whatever the order heard (the raw answer, the second clip against the "
    "first, is negated when b was heard first). CMOS is the mean of these votes with a 95 % t-interval over the "
    "votes (clipped to the scale) and a one-sample t-test against 0, Holm-corrected over the pairs; "
    "cmos_a_first and cmos_b_first split it by the order heard (cmos.csv). On A/B, +1 is a vote for b, -1 for "
    "a and 0 no preference, so the mean is b's share of the votes minus a's."
)
ORDER_NOTE = (
    "Order effect: the mean preference for the clip heard second, whichever it was, net of each pair's CMOS "
    "(least squares of the raw answers on an intercept and the pairs' order signs), with its 95 % t-interval "
    "(order_effect.csv). A positive bias means raters favour the second clip; balanced orders cancel it in CMOS."
)
BT_NOTE = (
    "Bradley-Terry ranking of the conditions (choix, expectation propagation with a weak Gaussian prior): a "
    "vote with b against a above 0 is a win of b, below 0 a win of a; ties (0: About the Same, No preference) "
    "are dropped and counted. Strengths are log-odds centred to sum to zero, with 95 % intervals "
    "(bradley_terry.csv): P(i beats j) = 1 / (1 + exp(strength_j - strength_i))."
)
Block = tuple[str, object]
PerGroup = Callable[[AnalysisResult, pd.DataFrame], list[Block]]


def comparison_blocks(result: AnalysisResult, per_group: PerGroup) -> list[Block]:
    """The section's blocks; empty when the ratings hold no CCR/A/B votes."""
    if result.cmos.empty:
        return []
    cmos = result.cmos.drop(columns=["std", "p_value"])
    return [
        ("h2", "Pairwise comparisons (CCR, A/B)"),
        ("p", CMOS_NOTE),
        *per_group(result, cmos),
        ("p", ORDER_NOTE),
        *per_group(result, result.order_effect),
        ("h3", "Ranking (Bradley-Terry)"),
        ("p", BT_NOTE),
        *per_group(result, result.bradley_terry),
    ]
