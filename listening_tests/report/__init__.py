"""The analysis report: CSV tables, PNG plots (plots.py), report.md and report.html (text.py, render.py).

Entry point: `analyze(ratings_csv, manifest_csv, out_dir)` writes summary.csv, correlations.csv,
pairwise.csv, gaps.csv, metric_evaluation.csv, correlation_differences.csv, condition_correlations.csv,
mixed.csv, agreement.csv, design.csv, screening.csv, cmos.csv, order_effect.csv, bradley_terry.csv (CCR/A/B),
the plots, report.md and report.html into `out_dir`.
"""

from __future__ import annotations

from pathlib import Path

from listening_tests.analysis import AnalysisResult, StudyRules, run_analysis
from listening_tests.report.plots import make_plots
from listening_tests.report.render import render_html, render_markdown
from listening_tests.report.text import build_report

TABLES = (
    "summary",
    "correlations",
    "pairwise",
    "gaps",
    "metric_evaluation",
    "correlation_differences",
    "condition_correlations",
    "mixed",
    "agreement",
    "design",
    "screening",
    "cmos",
    "order_effect",
    "bradley_terry",
)


def write_tables(result: AnalysisResult, out_dir: Path) -> list[Path]:
    """One CSV file per table of TABLES, named after it."""
    paths = []
    for name in TABLES:
        path = out_dir / f"{name}.csv"
        getattr(result, name).to_csv(path, index=False)
        paths.append(path)
    return paths


def analyze(
    ratings_csv: Path,
    manifest_csv: Path,
    out_dir: Path,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    study: StudyRules | None = None,
) -> AnalysisResult:
    """Analyse ratings.csv against manifest.csv and write every output into out_dir.

    Raises ValueError (one sentence) when there is nothing to analyse or a file is malformed.
    """
    result = run_analysis(Path(ratings_csv), Path(manifest_csv), n_boot=n_boot, seed=seed, study=study)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = write_tables(result, out_dir)
    plots = make_plots(result, out_dir)
    blocks = build_report(result, plots)
    (out_dir / "report.md").write_text(render_markdown(blocks), encoding="utf-8")
    (out_dir / "report.html").write_text(render_html(blocks), encoding="utf-8")
    images = [path for kinds in plots.values() for _, path in kinds.values()]
    result.files = [*files, *images, out_dir / "report.md", out_dir / "report.html"]
    return result
