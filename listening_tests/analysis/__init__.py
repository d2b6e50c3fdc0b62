"""Statistics of a listening test from ratings.csv and manifest.csv (docs/file-formats.md).

`run_analysis` reads both files (inputs.py) and computes every table, each grouped by (protocol,
scale): vote summaries (summary.py), metric correlations (correlations.py), pairwise tests
(pairwise.py), the metric-vs-listener gaps (gaps.py), metric evaluation after ITU-T P.1401
(metric_evaluation.py), a mixed-effects model (mixed.py), and the
listeners' agreement, the design as rated and the screening outcome (reliability.py). The pairwise
protocols (CCR, A/B) are not absolute scores: their votes skip the absolute tables and give CMOS, the
order effect and a Bradley-Terry ranking instead (comparison.py), and their rows of the gaps table.
`listening_tests.report.analyze` writes them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ddpmss.metrics import METRIC_NAMES
from listening_tests.analysis.comparison import (
    bradley_terry,
    cmos,
    comparison_gaps,
    comparison_votes,
    order_effect,
)
from listening_tests.analysis.correlations import CORRELATION_COLUMNS, correlations
from listening_tests.analysis.gaps import GAP_COLUMNS, gaps
from listening_tests.analysis.inputs import (
    GROUP,
    Counts,
    StudyRules,
    check_pairs,
    check_study,
    read_manifest,
    read_ratings,
    retain,
)
from listening_tests.analysis.metric_evaluation import (
    CONDITION_CORRELATION_COLUMNS,
    CORRELATION_DIFFERENCE_COLUMNS,
    METRIC_EVALUATION_COLUMNS,
    condition_correlations,
    correlation_differences,
    metric_evaluation,
)
from listening_tests.analysis.mixed import MIXED_COLUMNS, mixed_effects
from listening_tests.analysis.pairwise import PAIRWISE_COLUMNS, pairwise
from listening_tests.analysis.reliability import (
    AGREEMENT_COLUMNS,
    DESIGN_COLUMNS,
    agreement,
    design_summary,
    screening_outcome,
    too_few_votes,
)
from listening_tests.analysis.summary import SUMMARY_COLUMNS, stimulus_means, summarize, system_means
from listening_tests.protocols import COMPARISON_PROTOCOLS


@dataclass
class AnalysisResult:
    """All tables of one analysis, plus the files `report.analyze` wrote (empty until then)."""

    summary: pd.DataFrame
    correlations: pd.DataFrame
    pairwise: pd.DataFrame
    gaps: pd.DataFrame
    metric_evaluation: pd.DataFrame
    correlation_differences: pd.DataFrame
    condition_correlations: pd.DataFrame
    mixed: pd.DataFrame
    agreement: pd.DataFrame
    design: pd.DataFrame
    screening: pd.DataFrame
    counts: Counts
    votes: pd.DataFrame  # the retained votes
    stimuli: pd.DataFrame
    systems: pd.DataFrame
    cmos: pd.DataFrame  # CCR/A/B: per pair, order-corrected (comparison.py)
    order_effect: pd.DataFrame
    bradley_terry: pd.DataFrame
    warnings: list[str] = field(default_factory=list)  # one sentence each: what makes a number less trustworthy
    files: list[Path] = field(default_factory=list)


def run_analysis(
    ratings_csv: Path, manifest_csv: Path, n_boot: int = 2000, seed: int = 0, study: StudyRules | None = None
) -> AnalysisResult:
    """Read both CSV files and compute every table (nothing is written); `study` adds the study file's checks."""
    ratings = read_ratings(Path(ratings_csv))
    if study is not None:
        check_study(Path(ratings_csv), ratings, study)
    kept, counts = retain(ratings)
    manifest = read_manifest(Path(manifest_csv))
    check_pairs(Path(ratings_csv), ratings, Path(manifest_csv), manifest)
    compared = comparison_votes(kept)
    retained = kept[~kept["protocol"].isin(COMPARISON_PROTOCOLS)].reset_index(drop=True)  # absolute scores
    min_votes = study.min_votes if study is not None else None
    shown = manifest[manifest["condition"].isin(ratings["condition"])]  # a study may show part of the set
    tables = _absolute(retained, manifest, shown, min_votes, n_boot, seed) if len(retained) else _no_absolute()
    pairs = cmos(compared)
    if not compared.empty:  # a study has one protocol, so one of the two gap tables is empty
        extra = comparison_gaps(compared, manifest, pairs, n_boot, seed)
        tables["gaps"] = extra if tables["gaps"].empty else pd.concat([tables["gaps"], extra], ignore_index=True)
    return AnalysisResult(
        **tables,
        screening=screening_outcome(ratings),
        counts=counts,
        votes=kept,
        cmos=pairs,
        order_effect=order_effect(compared),
        bradley_terry=bradley_terry(compared),
        warnings=too_few_votes(tables["design"], min_votes),
    )


def _absolute(
    retained: pd.DataFrame, manifest: pd.DataFrame, shown: pd.DataFrame, min_votes: int | None, n_boot: int, seed: int
) -> dict[str, pd.DataFrame]:
    """The tables of the absolute protocols (ACR, P.835, MUSHRA), from their retained votes."""
    stimuli = stimulus_means(retained, manifest)
    tests = pairwise(retained)
    return {
        "summary": summarize(retained),
        "correlations": correlations(stimuli, n_boot=n_boot, seed=seed),
        "pairwise": tests,
        "gaps": gaps(stimuli, tests, n_boot=n_boot, seed=seed),
        "metric_evaluation": metric_evaluation(stimuli),
        "correlation_differences": correlation_differences(stimuli),
        "condition_correlations": condition_correlations(stimuli),
        "mixed": mixed_effects(retained),
        "agreement": agreement(retained),
        "design": design_summary(retained, min_votes, shown),
        "stimuli": stimuli,
        "systems": system_means(stimuli),
    }


def _no_absolute() -> dict[str, pd.DataFrame]:
    """The absolute protocols' tables, empty: a comparison study (CCR, A/B) has no absolute votes."""
    stimulus = [*GROUP, "item_id", "condition", "score", "n_votes", "score_std", "score_ci95", *METRIC_NAMES]
    columns = {
        "summary": SUMMARY_COLUMNS,
        "correlations": CORRELATION_COLUMNS,
        "pairwise": PAIRWISE_COLUMNS,
        "gaps": GAP_COLUMNS,
        "metric_evaluation": METRIC_EVALUATION_COLUMNS,
        "correlation_differences": CORRELATION_DIFFERENCE_COLUMNS,
        "condition_correlations": CONDITION_CORRELATION_COLUMNS,
        "mixed": MIXED_COLUMNS,
        "agreement": AGREEMENT_COLUMNS,
        "design": DESIGN_COLUMNS,
        "stimuli": stimulus,
        "systems": [*GROUP, "condition", "score", *METRIC_NAMES, "n_stimuli"],
    }
    return {name: pd.DataFrame(columns=list(names)) for name, names in columns.items()}
