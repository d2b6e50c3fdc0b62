"""The condition pairs of a comparison study (CCR, ITU-T P.808 Annex E, and A/B preference).

A pair (a, b) is shown as two clips of one item, in an order drawn per trial; the analysis reports b
against a whatever the order. A study lists its pairs in `pairs:` (each `[a, b]`), or compares every
pair of its processed conditions (listening_tests.conditions), in the order the conditions are listed.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from listening_tests.conditions import is_check, is_processed
from listening_tests.protocols import COMPARISON_PROTOCOLS

Pair = tuple[str, str]  # (condition a, condition b): the answer is read as b against a
MAX_PAIRS = 100


def parse_pairs(value: object, protocol: str, problems: list[str]) -> tuple[Pair, ...] | None:
    """The study's `pairs` list (None when absent: every pair of processed conditions); wrong values add problems."""
    if value is None:
        return None
    if protocol and protocol not in COMPARISON_PROTOCOLS:
        problems.append(
            f"pairs applies to the protocols {', '.join(COMPARISON_PROTOCOLS)} only (this study is {protocol})"
        )
        return None
    valid = isinstance(value, list) and 0 < len(value) <= MAX_PAIRS
    valid = valid and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(c, str) and c and not is_check(c) for c in p)
        for p in value
    )
    if not valid:
        problems.append(
            f"pairs must be a list of 1 to {MAX_PAIRS} pairs of condition names, e.g. [[sepformer, sepformer_diffwave]]"
        )
        return None
    pairs = tuple((a, b) for a, b in value)
    if any(a == b for a, b in pairs):
        problems.append("pairs compares a condition with itself")
    if len({frozenset(p) for p in pairs}) != len(pairs):
        problems.append("pairs lists a pair twice (in either order)")
    return pairs


def study_pairs(pairs: tuple[Pair, ...] | None, conditions: Sequence[str]) -> tuple[Pair, ...]:
    """The pairs compared: the study's list, else every pair of the processed ones among `conditions`."""
    if pairs is not None:
        return pairs
    return tuple(itertools.combinations([c for c in dict.fromkeys(conditions) if is_processed(c)], 2))


def pair_problems(protocol: str, pairs: tuple[Pair, ...] | None, conditions: Sequence[str]) -> list[str]:
    """Why the pairs of a comparison study cannot be shown with `conditions` (empty when they can)."""
    if protocol not in COMPARISON_PROTOCOLS:
        return []
    compared = study_pairs(pairs, conditions)
    if not compared:
        return [
            "a comparison study needs at least two processed conditions, or a pairs list (e.g. [[reference, mixture]])"
        ]
    missing = sorted({c for pair in compared for c in pair if c not in conditions})
    return [f"pairs name the condition(s) {', '.join(missing)}, which the study does not show"] if missing else []
