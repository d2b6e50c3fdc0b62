"""listening_tests.report.analyze: files written, plots, report sentences and HTML escaping."""

from __future__ import annotations

import base64
import itertools
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib import image
from scipy import stats
from statsmodels.stats.multitest import multipletests

from listening_tests.analysis import StudyRules
from listening_tests.report import analyze
from tests.listening_tests.test_analysis import (
    CORRELATION_CONTRACT,
    N_BOOT,
    N_ITEMS,
    SUMMARY_CONTRACT,
    TRUE_MEANS,
    make_study,
    retained_votes,
)
from tests.support.paths import ROOT

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EVIL = "<script>alert('$x')</script>"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("report")
    ratings_csv, manifest_csv = make_study(folder)
    result = analyze(ratings_csv, manifest_csv, folder / "out", n_boot=N_BOOT)
    return ratings_csv, manifest_csv, folder / "out", result


def test_analyze_writes_every_output(report) -> None:
    _, _, out, result = report
    names = {path.name for path in result.files}
    assert {
        "summary.csv",
        "correlations.csv",
        "pairwise.csv",
        "gaps.csv",
        "mixed.csv",
        "report.md",
        "report.html",
    } <= names
    assert {"gaps.csv", "agreement.csv", "design.csv", "screening.csv", "metric_evaluation.csv"} <= names
    assert {"correlation_differences.csv", "condition_correlations.csv"} <= names
    for kind in ("gap", "means", "votes", "metrics"):
        assert {f"{kind}_acr_ovrl.png", f"{kind}_mushra_mushra.png"} <= names
    assert all(path.is_file() and path.parent == out for path in result.files)
    assert sorted(p.name for p in out.iterdir()) == sorted(names)


def test_csv_files_have_the_contract_columns(report) -> None:
    _, _, out, result = report
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == SUMMARY_CONTRACT
    correlations = pd.read_csv(out / "correlations.csv")
    assert list(correlations.columns) == CORRELATION_CONTRACT
    assert set(correlations["level"]) == {"stimulus", "system"}
    np.testing.assert_allclose(summary["mean"], result.summary["mean"])
    pairwise, mixed = pd.read_csv(out / "pairwise.csv"), pd.read_csv(out / "mixed.csv")
    assert {"condition_a", "condition_b", "p_value", "p_holm", "rank_biserial", "mean_diff"} <= set(pairwise)
    assert {"condition", "estimate", "ci95_low", "ci95_high", "note"} <= set(mixed)


def test_plots_are_valid_pngs(report) -> None:
    _, _, _, result = report
    plots = [path for path in result.files if path.suffix == ".png"]
    assert len(plots) == 8
    for path in plots:
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        pixels = image.imread(path)
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 100
        assert pixels.std() > 0  # not a blank canvas


def test_report_opens_with_the_gap_in_numbers(report) -> None:
    ratings_csv, manifest_csv, out, result = report
    text = (out / "report.md").read_text()
    first = text.split("\n\n")[1]  # the paragraph after the title
    votes = retained_votes(ratings_csv)
    mos = votes[votes["protocol"] == "acr"].pivot_table(index="item_id", columns="condition", values="score")
    manifest = pd.read_csv(manifest_csv, dtype={"item_id": str})
    sdr = manifest.pivot(index="item_id", columns="condition", values="si_sdr")
    pairs = list(itertools.combinations(mos.columns, 2))
    p_holm = dict(
        zip(pairs, multipletests([stats.wilcoxon(mos[a], mos[b]).pvalue for a, b in pairs], method="holm")[1])
    )
    a, b = "sepformer", "sepformer_diffwave"
    p = p_holm.get((a, b), p_holm.get((b, a)))
    gap = result.gaps.query("protocol == 'acr' and metric == 'si_sdr' and condition_a == @a and condition_b == @b")
    low, high = gap[["mos_delta_ci95_low", "mos_delta_ci95_high"]].iloc[0]
    assert (
        f"- acr / ovrl: {b} against {a}: SI-SDR {(sdr[b] - sdr[a]).mean():+.1f} dB, "
        f"MOS {(mos[b] - mos[a]).mean():+.2f} "
        f"(95 % CI {low:+.2f} to {high:+.2f}, {N_ITEMS} items); listeners: tied, not significant (Holm p = {p:.3f})."
    ) in first
    assert first.count("- acr / ovrl:") == 3 and first.count("- mushra / mushra:") == 3  # every processed pair
    assert "MUSHRA score" in first
    assert "listeners tie 3 of the 3 pairs that SI-SDR orders" in text
    assert "order the 3 processed conditions the same way, every pair" not in text


def test_report_counts_and_notes(report) -> None:
    _, _, out, _ = report
    for name in ("report.md", "report.html"):
        text = (out / name).read_text()
        assert "447 ratings from 9 raters" in text
        assert "12 ratings were excluded by screening (failed trap: 8, low variance: 4)" in text
        assert "withdrawn by the ITU in 2024" in text and "legacy" in text
        assert "n is small" in text


def test_html_is_self_contained(report) -> None:
    _, _, out, _ = report
    page = (out / "report.html").read_text()
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 8
    assert all(base64.b64decode(data)[:8] == PNG_SIGNATURE for data in images)
    # screening, then design, summary, gaps, agreement, mixed, pairwise, correlations and the three tables of
    # metric evaluation per protocol
    assert page.count("<table>") == 1 + 10 * 2


def test_condition_names_are_escaped(tmp_path: Path) -> None:
    ratings_csv, manifest_csv = make_study(tmp_path, conditions={**TRUE_MEANS, EVIL: 3.2})
    result = analyze(ratings_csv, manifest_csv, tmp_path / "out", n_boot=N_BOOT)
    assert EVIL in set(result.summary["condition"])
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;$x&#x27;)&lt;/script&gt;" in page
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown


def test_agreement_is_reported_as_such(tmp_path: Path) -> None:
    agreeing = {**TRUE_MEANS, "sepformer": 4.0, "sepformer_diffwave_fusion": 3.5, "sepformer_diffwave": 2.0}
    ratings_csv, manifest_csv = make_study(tmp_path, conditions=agreeing, n_items=12)  # enough for Holm
    analyze(ratings_csv, manifest_csv, tmp_path / "out", n_boot=N_BOOT)
    text = (tmp_path / "out" / "report.md").read_text()
    assert "Listeners and SI-SDR order the 3 processed conditions the same way, every pair significantly." in text
    assert "tied" not in text.split("\n\n")[1]
    assert "- acr / ovrl: sepformer_diffwave against sepformer_diffwave_fusion: SI-SDR" in text
    assert "listeners: sepformer_diffwave_fusion higher, significant (Holm p" in text


def test_empty_ratings_raise_before_writing(tmp_path: Path) -> None:
    (tmp_path / "ratings.csv").write_text("")
    with pytest.raises(ValueError, match="no ratings to analyse"):
        analyze(tmp_path / "ratings.csv", tmp_path / "manifest.csv", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """`python -W error -m listening_tests ...`: any warning the analysis lets out fails the command."""
    command = [sys.executable, "-W", "error", "-m", "listening_tests", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # a fresh interpreter imports pandas, statsmodels and matplotlib
def test_analyze_prints_no_warning_and_checks_the_study_protocol(tmp_path: Path) -> None:
    ratings_csv, manifest_csv = make_study(tmp_path, n_items=3)
    study = tmp_path / "study.yaml"
    study.write_text(f"id: s\ntitle: S\nprotocol: acr\nstimuli:\n  manifest: {manifest_csv}\n", encoding="utf-8")
    done = run_cli("analyze", str(ratings_csv), "--manifest", str(manifest_csv), "--out", str(tmp_path / "out"))
    assert done.returncode == 0 and done.stderr == ""
    done = run_cli("analyze", str(ratings_csv), "--study", str(study), "--out", str(tmp_path / "again"))
    line = 2 + next(k for k, row in enumerate(pd.read_csv(ratings_csv).itertuples()) if row.protocol == "mushra")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr == (
        f"error: {ratings_csv}, line {line}: protocol must be acr, the protocol of the study study.yaml, "
        "not 'mushra'.\n"
    )


def test_too_few_votes_after_screening_is_a_warning(tmp_path: Path) -> None:
    """8 raters vote on every ACR stimulus; a study asking for 10 votes per stimulus gets a warning."""
    ratings_csv, manifest_csv = make_study(tmp_path)
    study = StudyRules("study.yaml", "acr", min_votes=10)
    ratings = pd.read_csv(ratings_csv)
    ratings[ratings["protocol"] != "mushra"].to_csv(ratings_csv, index=False)
    result = analyze(ratings_csv, manifest_csv, tmp_path / "out", n_boot=N_BOOT, study=study)
    n = N_ITEMS * len(TRUE_MEANS)
    assert result.warnings == [f"acr / ovrl: {n} of {n} stimuli have fewer than 10 retained votes (fewest: 8)."]
    assert result.warnings[0] in (tmp_path / "out" / "report.md").read_text()
    assert (result.design["stimuli_below_min"] == N_ITEMS).all()


def test_the_gap_plot_of_pairs_without_intervals_draws_without_warnings(tmp_path: Path) -> None:
    """Below n = 3 items a pair has no interval (NaN): the gap plot still draws its points, scaled by the
    metric, and raises no numpy warning."""
    from listening_tests.report.plots import plot_gap

    gaps = pd.DataFrame(
        {
            "protocol": "acr",
            "scale": "mos",
            "metric": "si_sdr",
            "condition_a": ["sepformer", "sepformer"],
            "condition_b": ["sepformer_diffwave", "sepformer_diffwave_fusion"],
            "n_items": 2,
            "metric_delta": [-30.0, -2.0],
            "mos_delta": [-0.1, 0.2],
            "mos_delta_ci95_low": np.nan,
            "mos_delta_ci95_high": np.nan,
            "p_holm": np.nan,
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = plot_gap(gaps, "acr", "mos", tmp_path / "gap.png")
    assert path is not None and image.imread(path).shape[0] > 100
