"""The report's text: counts, notes, and the sentences on where listeners and SI-SDR disagree.

The report is a list of blocks (h1-h3, p, ul, table, img) that render.py turns into Markdown and HTML.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from listening_tests.analysis import AnalysisResult
from listening_tests.analysis.inputs import GROUP
from listening_tests.report.plots import of_group, rankable

ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
PESQ_NOTE = (
    "PESQ (ITU-T P.862) was withdrawn by the ITU in 2024 in favour of P.863; it is shown here as a "
    "legacy metric only, for comparison with older work."
)
MIXED_NOTE = (
    "score ~ condition with crossed random intercepts for rater and item (statsmodels MixedLM, REML); "
    "estimates are model-based mean scores with normal 95 % intervals (mixed.csv)."
)
PAIRWISE_NOTE = (
    "Wilcoxon signed-rank tests on per-item mean scores, Holm-corrected per protocol and scale; "
    "rank_biserial is the matched-pairs rank-biserial correlation, positive when condition_a scores "
    "higher (pairwise.csv)."
)
CORRELATION_NOTE = (
    "Correlation of listener scores with each metric over the processed conditions (all but reference, "
    "anchors and mixture), with 95 % percentile bootstrap intervals (correlations.csv)."
)
SYSTEM_NOTE = (
    "System-level correlations have one point per processed condition, so n is small: read them as "
    "descriptive, their bootstrap intervals are wide (or undefined) by construction."
)
Block = tuple[str, object]


def score_name(protocol: str, scale: str) -> str:
    """What a mean score is called in sentences: MOS, SIG MOS, MUSHRA score."""
    if scale == "mushra" or protocol == "mushra":
        return "MUSHRA score"
    return "MOS" if scale == "ovrl" and protocol == "acr" else f"{scale.upper()} MOS"


def ordinal(rank: int) -> str:
    """1 -> 'first', ..., 11 -> '11th'."""
    return ORDINALS[rank - 1] if rank <= len(ORDINALS) else f"{rank}th"


def format_p(p: float) -> str:
    """A p-value as written in the report."""
    if not np.isfinite(p):
        return "p not available"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def pair_test(pairwise: pd.DataFrame, protocol: str, scale: str, a: str, b: str) -> str:
    """'Wilcoxon p = ..., Holm-corrected p = ..., (not) significant' for conditions a and b (either order)."""
    rows = of_group(pairwise, protocol, scale)
    match = rows[
        ((rows["condition_a"] == a) & (rows["condition_b"] == b))
        | ((rows["condition_a"] == b) & (rows["condition_b"] == a))
    ]
    if match.empty:
        return "no paired test"
    row = match.iloc[0]
    text = f"Wilcoxon {format_p(row['p_value'])}, Holm-corrected {format_p(row['p_holm'])}"
    if not np.isfinite(row["p_holm"]):
        return text
    return text + (", significant" if row["p_holm"] < 0.05 else ", not significant") + " at the 5 % level"


def disagreement_sentences(systems: pd.DataFrame, pairwise: pd.DataFrame, protocol: str, scale: str) -> list[str]:
    """Where the SI-SDR ranking of the processed conditions and the listeners' ranking differ."""
    table = rankable(systems)
    if len(table) < 2:
        return []
    what = score_name(protocol, scale)
    sdr_order = table["si_sdr"].sort_values(ascending=False, kind="stable").index.tolist()
    ear_order = table["score"].sort_values(ascending=False, kind="stable").index.tolist()
    first, last = sdr_order[0], sdr_order[-1]

    def heard(c: str) -> str:
        return f"{ordinal(ear_order.index(c) + 1)} ({what} {table.at[c, 'score']:.2f})"

    headline = (
        f"SI-SDR ranks {first} first ({table.at[first, 'si_sdr']:.1f} dB) and {last} last "
        f"({table.at[last, 'si_sdr']:.1f} dB); listeners rank {first} {heard(first)} and {last} {heard(last)}."
    )
    sentences = [headline]
    for a, b in ((a, b) for k, a in enumerate(sdr_order) for b in sdr_order[k + 1 :]):
        if ear_order.index(b) < ear_order.index(a):
            sentences.append(
                f"SI-SDR puts {a} above {b} ({table.at[a, 'si_sdr']:.1f} vs {table.at[b, 'si_sdr']:.1f} dB), "
                f"listeners put {b} above {a} ({what} {table.at[b, 'score']:.2f} vs {table.at[a, 'score']:.2f}, "
                f"{pair_test(pairwise, protocol, scale, a, b)})."
            )
    if len(sentences) == 1:
        sentences.append(f"Listeners and SI-SDR order the {len(table)} processed conditions the same way.")
    return sentences


def disagreements(result: AnalysisResult) -> list[Block]:
    """A heading and the disagreement sentences for every (protocol, scale), generated from the data."""
    blocks = []
    for (protocol, scale), systems in result.systems.groupby(GROUP, sort=True):
        sentences = disagreement_sentences(systems, result.pairwise, protocol, scale)
        if sentences:
            blocks += [("h3", f"{protocol} / {scale}"), ("ul", sentences)]
    return blocks


def count_lines(result: AnalysisResult) -> list[str]:
    """The data section: how many ratings, raters and items, and what was left out."""
    c = result.counts
    reasons = ", ".join(f"{reason}: {n}" for reason, n in c.exclusion_reasons.items()) or "none"
    return [
        f"{c.ratings} ratings from {c.raters} raters in ratings.csv.",
        f"{c.retained} ratings from {c.raters_retained} raters on {c.items} items enter the statistics.",
        f"{c.excluded} ratings were excluded by screening ({reasons}).",
        f"Left out of the statistics as well: demo protocol {c.demo}, trap/gold clips {c.trap_gold}.",
    ]


def build_report(result: AnalysisResult, plots: list[tuple[str, Path]]) -> list[Block]:
    """The report as blocks (h1-h3, p, ul, table, img), rendered to Markdown and to HTML."""
    no_ranking = ("p", "No protocol has two processed conditions with both SI-SDR values and scores.")
    mixed = result.mixed[[*GROUP, "condition", "estimate", "ci95_low", "ci95_high", "converged", "note"]]
    return [
        ("h1", "Listening test report"),
        ("h2", "Data"),
        ("ul", count_lines(result)),
        ("h2", "Where listeners and SI-SDR disagree"),
        *(disagreements(result) or [no_ranking]),
        ("h2", "Mean scores"),
        ("p", "Mean of the retained votes with a 95 % t-interval (summary.csv)."),
        ("table", result.summary),
        *[("img", plot) for plot in plots if plot[1].name.startswith("means_")],
        ("h2", "Mixed-effects model"),
        ("p", MIXED_NOTE),
        ("table", mixed),
        ("h2", "Pairwise comparisons"),
        ("p", PAIRWISE_NOTE),
        ("table", result.pairwise),
        ("h2", "Objective metrics and listeners"),
        ("p", CORRELATION_NOTE),
        ("p", SYSTEM_NOTE),
        ("p", PESQ_NOTE),
        ("table", result.correlations),
        *[("img", plot) for plot in plots if not plot[1].name.startswith("means_")],
    ]
