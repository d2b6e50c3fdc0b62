"""The report's text: the gap sentences first, then the data, the tables and the notes.

The report is a list of blocks (h1-h3, p, ul, table, img) that render.py turns into Markdown and HTML.
Tables come per protocol and scale, every number at its quantity's precision (formats.py).
"""

from __future__ import annotations

import pandas as pd

import listening_tests.report.formats as formats
from listening_tests.analysis import AnalysisResult
from listening_tests.analysis.inputs import GROUP
from listening_tests.report.comparison import comparison_blocks
from listening_tests.report.headline import HEADLINE_METRIC, agreement_sentence, gap_sentences, headline_pairs

PESQ_NOTE = (
    "PESQ (ITU-T P.862) was withdrawn by the ITU in 2024 in favour of P.863; it is shown here as a "
    "legacy metric only, for comparison with older work."
)
GAP_NOTE = (
    "Each pair is told from the condition with the higher SI-SDR (a) to the other (b): differences are b minus "
    "a, averaged over the items rated in both; a stimulus's score is the mean of its retained votes. The 95 % "
    "interval resamples items (bootstrap), not the votes within an item, and is not corrected for the number "
    "of pairs. Tied: the pair's Wilcoxon signed-rank test is not significant at the 5 % level after Holm's "
    "correction over all pairs, so listeners are not shown to tell the two apart; the verdict follows that "
    "test, not the interval. Every metric's differences are in gaps.csv."
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
SUMMARY_NOTE = (
    "Mean of the retained votes with a 95 % t-interval, clipped to the scale; no interval below 3 votes (summary.csv)."
)
CORRELATION_NOTE = (
    "Correlation of listener scores with each metric over the processed conditions (all but reference, "
    "anchors and mixture), with 95 % percentile bootstrap intervals in brackets (correlations.csv). "
    "Stimulus level: one point per stimulus. System level: one point per condition, the mean of its "
    "stimuli's scores against the mean of the same stimuli's metric."
)
SYSTEM_NOTE = (
    "System-level correlations have one point per processed condition, so n is small: read them as "
    "descriptive. Below 5 conditions they carry no interval, since a bootstrap over so few points "
    "would look precise without being so."
)
WARNINGS_HEAD = "Read the numbers below with these warnings in mind:"
SCREENING_NOTE = (
    "Ratings, sessions and raters each screening rule removed (a rating excluded for several reasons counts "
    "under each), and what was retained (screening.csv)."
)
DESIGN_NOTE = (
    "The design as rated after screening: retained votes, raters and stimuli per condition, and votes per "
    "stimulus (design.csv); stimuli_below_min counts the stimuli below the study's votes_per_stimulus "
    "(given with --study)."
)
RELIABILITY_NOTE = (
    "Agreement between listeners (agreement.csv): Krippendorff's alpha over raters x stimuli (ordinal on the "
    "1-5 scales, interval for MUSHRA; only stimuli voted on by two or more raters), and ICC(2,k) of the "
    "condition means (two-way random effects, absolute agreement, each rater's mean per condition, raters who "
    "voted on every condition) with its 95 % interval. Alpha near 1 means listeners agree on each stimulus; "
    "ICC(2,k) near 1 means the condition means would come out the same with another panel of the same size."
)
P1401_NOTE = (
    "Metric evaluation after ITU-T P.1401, per metric over the processed stimuli (metric_evaluation.csv): "
    "Pearson and Spearman of the raw metric, then after a monotonic cubic mapping fitted to this study's "
    "scores: pearson_mapped, rmse (N - 4 degrees of freedom), eps_rmse (errors within the stimulus's own "
    "95 % interval count as zero) and outlier_ratio (share of stimuli predicted outside their interval). "
    "The mapping only rises: a metric whose values fall as scores rise gets a flat mapping (see note)."
)
DIFFERENCES_NOTE = (
    "Does SI-SDR predict the scores worse than another metric? Williams' test of two dependent Pearson "
    "correlations sharing the scores, Holm-corrected over all pairs of metrics (correlation_differences.csv "
    "has every pair)."
)
CONDITION_NOTE = (
    "SI-SDR against the scores within each processed condition (condition_correlations.csv has every metric)."
)
COMPARISON_GAP_NOTE = (
    "Each pair is told from the condition with the higher SI-SDR (a) to the other (b). On CCR and A/B the listener "
    "difference is the pair's CMOS: each vote read as b against a whatever the order heard, averaged per item, "
    "then over the items with the metric in both conditions. The 95 % interval resamples items (bootstrap). Tied: "
    "the pair's one-sample t-test against 0 is not significant at the 5 % level after Holm's correction over the "
    "pairs (cmos.csv). Every metric's differences are in gaps.csv."
)
NO_GAP = "No protocol has two processed conditions with SI-SDR values and scores, so there is no gap to state."
Block = tuple[str, object]


def groups(result: AnalysisResult) -> list[tuple[str, str]]:
    """Every (protocol, scale) of the retained votes: the absolute ones, then the pairwise ones (CCR, A/B)."""
    found = pd.concat([result.summary[GROUP], result.cmos[GROUP]]).drop_duplicates()
    return list(found.itertuples(index=False, name=None))


def several_groups(result: AnalysisResult) -> bool:
    """More than one (protocol, scale) in the data: sentences and tables then name theirs."""
    return len(groups(result)) > 1


def opening(result: AnalysisResult) -> list[str]:
    """The report's first paragraph: every processed pair's SI-SDR and score differences, CI and significance."""
    sentences = []
    for protocol, scale in groups(result):
        prefix = f"{protocol} / {scale}: " if several_groups(result) else ""
        sentences += [prefix + s for s in gap_sentences(result.gaps, protocol, scale)]
    return sentences


def agreement(result: AnalysisResult, plots: dict) -> list[Block]:
    """The gap plot and the agreement sentence of each (protocol, scale)."""
    blocks: list[Block] = []
    for protocol, scale in groups(result):
        sentence = agreement_sentence(result.gaps, protocol, scale)
        if sentence is None:
            continue
        prefix = f"{protocol} / {scale}: " if several_groups(result) else ""
        blocks.append(("p", prefix + sentence))
        if "gap" in plots.get((protocol, scale), {}):
            blocks.append(("img", plots[(protocol, scale)]["gap"]))
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


def per_group(result: AnalysisResult, frame: pd.DataFrame, view=None) -> list[Block]:
    """One table per (protocol, scale), headed by its name when there are several; view shapes the rows."""
    blocks: list[Block] = []
    for (protocol, scale), rows in frame.groupby(GROUP, sort=True):
        if several_groups(result):
            blocks.append(("h3", f"{protocol} / {scale}"))
        rows = rows.drop(columns=GROUP)
        blocks.append(("table", view(rows, protocol) if view else formats.table(rows, protocol)))
    return blocks


def correlation_view(rows: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """Correlations with their interval in brackets, one column per coefficient."""
    out = rows[["metric", "level", "n"]].astype(str)
    for name in ("pearson", "spearman", "kendall"):
        point = rows[name].map(lambda v: formats.number(v, 2))
        low, high = rows[f"{name}_ci_low"], rows[f"{name}_ci_high"]
        bracket = [
            f" [{formats.number(lo, 2)}, {formats.number(hi, 2)}]" if pd.notna(lo) and pd.notna(hi) else ""
            for lo, hi in zip(low, high)
        ]
        out[name] = point + bracket
    out["note"] = rows["note"]
    return out


def agreement_view(rows: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """Alpha and ICC(2,k) with their sizes, the interval in brackets."""
    icc = [
        formats.number(v, 2) + (f" [{formats.number(lo, 2)}, {formats.number(hi, 2)}]" if pd.notna(lo) else "")
        for v, lo, hi in zip(rows["icc2k"], rows["icc2k_ci95_low"], rows["icc2k_ci95_high"])
    ]
    return pd.DataFrame(
        {
            "alpha": rows["alpha"].map(lambda v: formats.number(v, 2)),
            "alpha level": rows["alpha_level"],
            "alpha raters x stimuli": [f"{r} x {n}" for r, n in zip(rows["alpha_n_raters"], rows["alpha_n_stimuli"])],
            "ICC(2,k)": icc,
            "ICC raters x conditions": [f"{r} x {n}" for r, n in zip(rows["icc_n_raters"], rows["icc_n_targets"])],
            "note": rows["note"],
        }
    )


def p1401_view(rows: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """metric_evaluation.csv without the mapping's coefficients."""
    columns = ["metric", "n", "pearson", "spearman", "pearson_mapped", "rmse", "n_ci", "eps_rmse", "outlier_ratio"]
    return formats.table(rows[[*columns, "note"]], protocol)


def of_metric(frame: pd.DataFrame, metric: str, *columns: str) -> pd.DataFrame:
    """The rows of `frame` where any of `columns` names `metric`."""
    return frame[frame[list(columns)].eq(metric).any(axis=1)]


def headline_gaps(result: AnalysisResult) -> pd.DataFrame:
    """gaps.csv restricted to the direction the opening uses (a: the condition SI-SDR prefers), every metric."""
    keep = []
    for protocol, scale in groups(result):
        for _, pair in headline_pairs(result.gaps, protocol, scale).iterrows():
            keep.append((protocol, scale, pair["condition_a"], pair["condition_b"]))
    key = ["protocol", "scale", "condition_a", "condition_b"]
    return result.gaps.merge(pd.DataFrame(keep, columns=key), on=key)


def build_report(result: AnalysisResult, plots: dict) -> list[Block]:
    """The report as blocks (h1-h3, p, ul, table, img), rendered to Markdown and to HTML."""
    sentences = opening(result)
    mixed = result.mixed[[*GROUP, "condition", "estimate", "ci95_low", "ci95_high", "converged", "note"]]
    absolute = not result.summary.empty
    return [
        ("h1", "Listening test report"),
        ("ul", sentences) if sentences else ("p", NO_GAP),
        *([("p", GAP_NOTE)] if absolute else []),
        *([("p", COMPARISON_GAP_NOTE)] if not result.cmos.empty else []),
        *agreement(result, plots),
        ("h2", "Data"),
        ("ul", count_lines(result)),
        *([("p", WARNINGS_HEAD), ("ul", result.warnings)] if result.warnings else []),
        ("h3", "Screening"),
        ("p", SCREENING_NOTE),
        ("table", formats.table(result.screening, "")),
        *comparison_blocks(result, per_group),
        *(absolute_blocks(result, plots, mixed) if absolute else []),
    ]


def absolute_blocks(result: AnalysisResult, plots: dict, mixed: pd.DataFrame) -> list[Block]:
    """The sections of the absolute protocols (ACR, P.835, MUSHRA)."""
    group_plots = [(key, kinds) for key, kinds in sorted(plots.items())]
    return [
        ("h3", "Design"),
        ("p", DESIGN_NOTE),
        *per_group(result, result.design),
        ("h2", "Mean scores"),
        ("p", SUMMARY_NOTE),
        *per_group(result, result.summary),
        *[("img", kinds[kind]) for _, kinds in group_plots for kind in ("means", "histograms")],
        ("h2", "Listener reliability"),
        ("p", RELIABILITY_NOTE),
        *per_group(result, result.agreement, agreement_view),
        ("h2", "SI-SDR and listener differences per pair"),
        ("p", "Every metric, in the direction of the opening sentences (gaps.csv has both directions)."),
        *per_group(result, headline_gaps(result)),
        ("h2", "Mixed-effects model"),
        ("p", MIXED_NOTE),
        *per_group(result, mixed),
        ("h2", "Pairwise comparisons"),
        ("p", PAIRWISE_NOTE),
        *per_group(result, result.pairwise),
        ("h2", "Objective metrics and listeners"),
        ("p", CORRELATION_NOTE),
        ("p", SYSTEM_NOTE),
        ("p", PESQ_NOTE),
        *per_group(result, result.correlations, correlation_view),
        ("h3", "Metric evaluation (ITU-T P.1401)"),
        ("p", P1401_NOTE),
        *per_group(result, result.metric_evaluation, p1401_view),
        ("p", DIFFERENCES_NOTE),
        *per_group(result, of_metric(result.correlation_differences, HEADLINE_METRIC, "metric_1", "metric_2")),
        ("p", CONDITION_NOTE),
        *per_group(result, of_metric(result.condition_correlations, HEADLINE_METRIC, "metric")),
        *[("img", kinds["metrics"]) for _, kinds in group_plots],
    ]
