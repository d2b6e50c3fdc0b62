"""listening_tests.report.analyze: files written, plots, report sentences and HTML escaping."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib import image
from scipy import stats

from listening_tests.report import analyze
from tests.listening_tests.test_analysis import (
    CORRELATION_CONTRACT,
    N_BOOT,
    SI_SDR,
    SUMMARY_CONTRACT,
    TRUE_MEANS,
    make_study,
    retained_votes,
)

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
        "mixed.csv",
        "report.md",
        "report.html",
    } <= names
    for kind in ("means", "metrics", "ranking"):
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
    assert len(plots) == 6
    for path in plots:
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        pixels = image.imread(path)
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 100
        assert pixels.std() > 0  # not a blank canvas


def expected_system_means(ratings_csv: Path, manifest_csv: Path) -> tuple[pd.Series, pd.Series]:
    """Mean ACR score and mean SI-SDR per processed condition, straight from the CSV files."""
    votes = retained_votes(ratings_csv)
    votes = votes[votes["protocol"] == "acr"]
    manifest = pd.read_csv(manifest_csv, dtype={"item_id": str})
    return votes.groupby("condition")["score"].mean(), manifest.groupby("condition")["si_sdr"].mean()


def test_report_states_the_disagreement_with_numbers(report) -> None:
    ratings_csv, manifest_csv, out, _ = report
    text = (out / "report.md").read_text()
    mos, sdr = expected_system_means(ratings_csv, manifest_csv)
    best, worst = "sepformer", "sepformer_diffwave"
    assert sdr[best] == max(sdr[c] for c in SI_SDR) and sdr[worst] == min(sdr[c] for c in SI_SDR)
    assert (
        f"SI-SDR ranks {best} first ({sdr[best]:.1f} dB) and {worst} last ({sdr[worst]:.1f} dB); "
        f"listeners rank {best} second (MOS {mos[best]:.2f}) and {worst} first (MOS {mos[worst]:.2f})."
    ) in text
    votes = retained_votes(ratings_csv)
    table = votes[votes["protocol"] == "acr"].pivot_table(index="item_id", columns="condition", values="score")
    p = stats.wilcoxon(table[best], table[worst]).pvalue
    assert (
        f"SI-SDR puts {best} above {worst} ({sdr[best]:.1f} vs {sdr[worst]:.1f} dB), listeners put {worst} "
        f"above {best} (MOS {mos[worst]:.2f} vs {mos[best]:.2f}, Wilcoxon p = {p:.3f}"
    ) in text
    assert "MUSHRA score" in text


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
    assert len(images) == 6
    assert all(base64.b64decode(data)[:8] == PNG_SIGNATURE for data in images)
    assert page.count("<table>") == 4


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
    ratings_csv, manifest_csv = make_study(tmp_path, conditions=agreeing)
    analyze(ratings_csv, manifest_csv, tmp_path / "out", n_boot=N_BOOT)
    text = (tmp_path / "out" / "report.md").read_text()
    assert "Listeners and SI-SDR order the 3 processed conditions the same way." in text
    assert "SI-SDR puts" not in text


def test_empty_ratings_raise_before_writing(tmp_path: Path) -> None:
    (tmp_path / "ratings.csv").write_text("")
    with pytest.raises(ValueError, match="no ratings to analyse"):
        analyze(tmp_path / "ratings.csv", tmp_path / "manifest.csv", tmp_path / "out")
    assert not (tmp_path / "out").exists()
