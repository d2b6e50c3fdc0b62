"""Statistics of a listening test from ratings.csv and manifest.csv (docs/file-formats.md).

`run_analysis` reads both files (inputs.py) and computes every table, each grouped by (protocol,
scale): vote summaries (summary.py), metric correlations (correlations.py), pairwise tests
(pairwise.py), the metric-vs-listener gaps (gaps.py), metric evaluation after ITU-T P.1401
(metric_evaluation.py), a mixed-effects model (mixed.py), and the
listeners' agreement, the design as rated and the screening outcome (reliability.py).
`listening_tests.report.analyze` writes them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from listening_tests.analysis.correlations import correlations
from listening_tests.analysis.gaps import gaps
from listening_tests.analysis.inputs import (
    Counts,
    StudyRules,
    check_pairs,
    check_study,
    read_manifest,
    read_ratings,
    retain,
)
from listening_tests.analysis.metric_evaluation import (
    condition_correlations,
    correlation_differences,
    metric_evaluation,
)
from listening_tests.analysis.mixed import mixed_effects
from listening_tests.analysis.pairwise import pairwise
from listening_tests.analysis.reliability import agreement, design_summary, screening_outcome, too_few_votes
from listening_tests.analysis.summary import stimulus_means, summarize, system_means


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
    warnings: list[str] = field(default_factory=list)  # one sentence each: what makes a number less trustworthy
    files: list[Path] = field(default_factory=list)


def run_analysis(
    ratings_csv: Path, manifest_csv: Path, n_boot: int = 2000, seed: int = 0, study: StudyRules | None = None
) -> AnalysisResult:
    """Read both CSV files and compute every table (nothing is written); `study` adds the study file's checks."""
    ratings = read_ratings(Path(ratings_csv))
    if study is not None:
        check_study(Path(ratings_csv), ratings, study)
    retained, counts = retain(ratings)
    manifest = read_manifest(Path(manifest_csv))
    check_pairs(Path(ratings_csv), ratings, Path(manifest_csv), manifest)
    stimuli = stimulus_means(retained, manifest)
    tests = pairwise(retained)
    min_votes = study.min_votes if study is not None else None
    shown = manifest[manifest["condition"].isin(ratings["condition"])]  # a study may show part of the set
    design = design_summary(retained, min_votes, shown)
    return AnalysisResult(
        summary=summarize(retained),
        correlations=correlations(stimuli, n_boot=n_boot, seed=seed),
        pairwise=tests,
        gaps=gaps(stimuli, tests, n_boot=n_boot, seed=seed),
        metric_evaluation=metric_evaluation(stimuli),
        correlation_differences=correlation_differences(stimuli),
        condition_correlations=condition_correlations(stimuli),
        mixed=mixed_effects(retained),
        agreement=agreement(retained),
        design=design,
        screening=screening_outcome(ratings),
        counts=counts,
        votes=retained,
        stimuli=stimuli,
        systems=system_means(stimuli),
        warnings=too_few_votes(design, min_votes),
    )
