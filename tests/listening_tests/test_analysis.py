"""Statistics of listening_tests.analysis checked against scipy/statsmodels on synthetic ratings."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from ddpmss.metrics import METRIC_NAMES
from listening_tests import analysis
from listening_tests.analysis.correlations import KENDALL_VECTOR_MAX, kendall_rows
from listening_tests.analysis.pairwise import rank_biserial
from listening_tests.export import RATINGS_COLUMNS
from tests.support.paths import ROOT

# Known effects: true mean score per condition (ACR, 1-5) and mean SI-SDR per condition.
TRUE_MEANS = {
    "reference": 4.6,
    "anchor_lp2000": 1.5,
    "mixture": 2.0,
    "sepformer": 3.5,
    "sepformer_diffwave": 4.0,
    "sepformer_diffwave_fusion": 3.0,
}
SI_SDR = {"mixture": 0.0, "sepformer": 16.0, "sepformer_diffwave": -20.0, "sepformer_diffwave_fusion": 15.0}
N_RATERS, N_ITEMS, N_EXCLUDED = 8, 6, 12
N_BOOT = 200
# The columns docs/file-formats.md promises, spelled out here rather than read from the code under test.
SUMMARY_CONTRACT = "protocol scale condition n_ratings n_raters mean std ci95_low ci95_high median".split()
CORRELATION_CONTRACT = (
    "protocol scale metric level n pearson spearman kendall".split()
    + [f"{c}_ci_{end}" for c in ("pearson", "spearman", "kendall") for end in ("low", "high")]
    + ["note"]
)


def manifest_rows(item_offsets: np.ndarray, rng: np.random.Generator, conditions: dict = TRUE_MEANS) -> list[dict]:
    """One row per stimulus; within sepformer_diffwave, SI-SDR falls as the item gets better."""
    rows = []
    for (i, offset), condition in itertools.product(enumerate(item_offsets), conditions):
        row = {"item_id": f"{i:03d}", "condition": condition, "path": f"s/{i}_{condition}.wav", "sha256": "0"}
        if condition in SI_SDR:
            sign = -1 if condition == "sepformer_diffwave" else 1
            sdr = SI_SDR[condition] + sign * 4 * offset + rng.normal(0, 0.5)
            quality = conditions[condition] + offset
            row |= {
                "si_sdr": sdr,
                "si_sdr_i": sdr - 0.5,
                "pesq_nb": quality * 0.8,
                "pesq_wb": quality * 0.9,
                "stoi": 0.5 + quality / 10,
                "estoi": 0.4 + quality / 10,
            }
        if condition != "anchor_lp2000":
            row |= {
                "dnsmos_sig": 3 + rng.normal(0, 0.3),
                "dnsmos_bak": 3.5,
                "dnsmos_ovrl": 2.5 + rng.normal(0, 0.3),
            }
        rows.append(row)
    return rows


def rating(
    n: int,
    protocol: str,
    rater: str,
    item: str,
    condition: str,
    scale: str,
    score: float,
    excluded: bool = False,
    reason: str = "",
) -> dict:
    """One ratings.csv row."""
    return {
        "rating_id": str(n),
        "rater_id": rater,
        "session_id": f"s-{rater}",
        "protocol": protocol,
        "item_id": item,
        "condition": condition,
        "scale": scale,
        "score": score,
        "listen_s": 5.0,
        "created_at": "2025-01-01T00:00:00Z",
        "excluded": "true" if excluded else "false",
        "exclusion_reason": reason,
    }


def make_study(
    tmp_path: Path, seed: int = 0, conditions: dict | None = None, n_items: int = N_ITEMS
) -> tuple[Path, Path]:
    """ratings.csv and manifest.csv with known condition means, rater and item offsets.

    ACR votes (the latent score rounded to a category) from every rater on every stimulus; MUSHRA votes from
    4 raters (latent scores x 20);
    plus excluded votes (all 1.0), trap/gold clips and demo ratings that must not count.
    """
    rng = np.random.default_rng(seed)
    conditions = conditions or TRUE_MEANS
    rater_offsets = rng.normal(0, 0.3, N_RATERS)
    item_offsets = rng.normal(0, 0.3, n_items)
    rows = []
    for r, i, condition in itertools.product(range(N_RATERS), range(n_items), conditions):
        score = conditions[condition] + rater_offsets[r] + item_offsets[i] + rng.normal(0, 0.25)
        vote = float(np.clip(np.rint(score), 1, 5))  # an ACR vote is one of the five categories
        rows.append(rating(len(rows), "acr", f"r{r}", f"{i:03d}", condition, "ovrl", vote))
        if r < 4:
            mushra = float(np.clip(20 * score, 0, 100))
            rows.append(rating(len(rows), "mushra", f"r{r}", f"{i:03d}", condition, "mushra", mushra))
    for k in range(N_EXCLUDED):
        reason = "failed trap" if k % 3 else "low variance"
        excluded = rating(len(rows), "acr", "bad", f"{k % n_items:03d}", "sepformer", "ovrl", 1.0, True, reason)
        rows.append(excluded | {"session_id": f"s-bad-{k // n_items}"})  # a session per pass over the items
    rows.append(rating(len(rows), "acr", "r0", "trap1", "trap_3", "ovrl", 3.0))
    rows.append(rating(len(rows), "acr", "r0", "gold1", "gold_excellent", "ovrl", 5.0))
    rows.append(rating(len(rows), "demo", "r0", "000", "sepformer", "ovrl", 1.0))
    ratings_csv, manifest_csv = tmp_path / "ratings.csv", tmp_path / "manifest.csv"
    pd.DataFrame(rows, columns=list(RATINGS_COLUMNS)).to_csv(ratings_csv, index=False)
    pd.DataFrame(manifest_rows(item_offsets, rng, conditions)).to_csv(manifest_csv, index=False)
    return ratings_csv, manifest_csv


def retained_votes(ratings_csv: Path) -> pd.DataFrame:
    """The votes that should count, selected independently of the code under test."""
    df = pd.read_csv(ratings_csv, dtype={"item_id": str})
    keep = (~df["excluded"]) & (df["protocol"] != "demo") & ~df["condition"].str.match("trap|gold")
    return df[keep]


def test_summary_schema_and_values_match_scipy(study) -> None:
    ratings_csv, _, result = study
    summary = result.summary
    assert list(summary.columns) == SUMMARY_CONTRACT
    votes = retained_votes(ratings_csv)
    assert len(summary) == votes.groupby(["protocol", "scale", "condition"]).ngroups == 2 * len(TRUE_MEANS)
    for row in summary.itertuples():
        scores = votes.loc[(votes["protocol"] == row.protocol) & (votes["condition"] == row.condition), "score"]
        low, high = stats.t.interval(0.95, len(scores) - 1, loc=scores.mean(), scale=stats.sem(scores))
        low, high = (max(low, 0), min(high, 100)) if row.protocol == "mushra" else (max(low, 1), min(high, 5))
        assert row.n_ratings == len(scores)
        assert row.n_raters == (N_RATERS if row.protocol == "acr" else 4)
        assert row.mean == pytest.approx(scores.mean())
        assert row.std == pytest.approx(scores.std(ddof=1))
        assert (row.ci95_low, row.ci95_high) == pytest.approx((low, high))
        assert row.median == pytest.approx(scores.median())
    acr = summary[summary["protocol"] == "acr"].set_index("condition")
    assert list(acr.index[:3]) == ["reference", "anchor_lp2000", "mixture"]
    assert acr.loc["reference", "mean"] == pytest.approx(4.6, abs=0.4)


def test_excluded_demo_trap_and_gold_ratings_are_left_out(study) -> None:
    _, _, result = study
    counts = result.counts
    assert counts.excluded == N_EXCLUDED
    assert counts.exclusion_reasons == {"failed trap": 8, "low variance": 4}
    assert (counts.demo, counts.trap_gold) == (1, 2)
    assert counts.retained == N_RATERS * N_ITEMS * len(TRUE_MEANS) + 4 * N_ITEMS * len(TRUE_MEANS)
    assert result.summary["n_ratings"].sum() == counts.retained
    assert not result.summary["condition"].str.match("trap|gold").any()
    assert set(result.summary["protocol"]) == {"acr", "mushra"}
    assert counts.raters_retained == N_RATERS and counts.items == N_ITEMS
    sepformer = result.summary.query("protocol == 'acr' and condition == 'sepformer'").iloc[0]
    assert sepformer.n_ratings == N_RATERS * N_ITEMS and sepformer.n_raters == N_RATERS


def expected_correlations(ratings_csv: Path, manifest_csv: Path, protocol: str) -> dict:
    """Stimulus- and system-level (x, y) pairs for si_sdr, built directly with pandas.

    A system point is the mean over the condition's stimuli of their mean score, and of their SI-SDR.
    """
    votes = retained_votes(ratings_csv)
    votes = votes[(votes["protocol"] == protocol) & votes["condition"].isin(SI_SDR) & (votes["condition"] != "mixture")]
    manifest = pd.read_csv(manifest_csv, dtype={"item_id": str})
    stimuli = votes.groupby(["item_id", "condition"], as_index=False)["score"].mean().merge(manifest)
    systems = stimuli.groupby("condition")[["score", "si_sdr"]].mean()
    return {"stimulus": stimuli, "system": systems}


def check_si_sdr_row(table: pd.DataFrame, protocol: str, level: str, data: pd.DataFrame) -> None:
    """The si_sdr row of one protocol and level equals scipy on the expected pairs."""
    row = table.query("protocol == @protocol and metric == 'si_sdr' and level == @level").iloc[0]
    x, y = data["score"].to_numpy(), data["si_sdr"].to_numpy()
    assert row.n == len(x) == (3 * N_ITEMS if level == "stimulus" else 3)
    assert row.pearson == pytest.approx(stats.pearsonr(x, y).statistic)
    assert row.spearman == pytest.approx(stats.spearmanr(x, y).statistic)
    assert row.kendall == pytest.approx(stats.kendalltau(x, y).statistic)


def test_correlations_schema_and_values_match_scipy(study) -> None:
    ratings_csv, manifest_csv, result = study
    table = result.correlations
    assert list(table.columns) == CORRELATION_CONTRACT
    for protocol in ("acr", "mushra"):
        for level, data in expected_correlations(ratings_csv, manifest_csv, protocol).items():
            check_si_sdr_row(table, protocol, level, data)
    constant = table["metric"] == "dnsmos_bak"  # the same value for every stimulus: undefined
    assert table.loc[constant, ["pearson", "spearman", "kendall"]].isna().all().all()
    stimulus = table[(table["level"] == "stimulus") & ~constant]
    for name in ("pearson", "spearman", "kendall"):
        low, high, point = stimulus[f"{name}_ci_low"], stimulus[f"{name}_ci_high"], stimulus[name]
        assert ((low <= high) & (low >= -1) & (high <= 1)).all()
        assert ((low - 0.05 <= point) & (point <= high + 0.05)).all()
    system = table[table["level"] == "system"]  # 3 systems: too few for a bootstrap interval, and said so
    assert system.filter(like="_ci_").isna().all().all()
    assert system["note"].str.contains("fewer than 5 systems").all() and stimulus["note"].eq("").all()
    # dnsmos is undefined for the anchor only, which is not a processed condition anyway.
    assert set(table["metric"]) == set(METRIC_NAMES)


def test_negative_si_sdr_correlation_within_one_condition(study) -> None:
    _, _, result = study
    diffwave = result.stimuli.query("protocol == 'acr' and condition == 'sepformer_diffwave'")
    assert stats.pearsonr(diffwave["score"], diffwave["si_sdr"]).statistic < -0.5
    system = result.correlations.query("protocol == 'acr' and metric == 'si_sdr' and level == 'system'").iloc[0]
    assert system.pearson < 0  # the best-heard system has by far the lowest SI-SDR


def test_bootstrap_is_seeded(study) -> None:
    ratings_csv, manifest_csv, result = study
    again = analysis.run_analysis(ratings_csv, manifest_csv, n_boot=N_BOOT)
    pd.testing.assert_frame_equal(result.correlations, again.correlations)
    other = analysis.run_analysis(ratings_csv, manifest_csv, n_boot=N_BOOT, seed=1)
    assert not np.allclose(result.correlations["pearson_ci_low"], other.correlations["pearson_ci_low"])


@pytest.mark.parametrize("n", [2, 12, KENDALL_VECTOR_MAX + 1])
def test_kendall_rows_equal_scipy_with_ties(n: int) -> None:
    rng = np.random.default_rng(n)
    x, y = rng.integers(0, 4, (30, n)).astype(float), rng.integers(0, 5, (30, n)).astype(float)
    x[0] = 1.0  # constant row: undefined
    expected = [stats.kendalltau(a, b).statistic for a, b in zip(x, y)]
    np.testing.assert_allclose(kendall_rows(x, y), expected, equal_nan=True)


def test_pairwise_matches_scipy_wilcoxon_and_holm(study) -> None:
    ratings_csv, _, result = study
    votes = retained_votes(ratings_csv)
    acr = votes[votes["protocol"] == "acr"].pivot_table(index="item_id", columns="condition", values="score")
    table = result.pairwise[result.pairwise["protocol"] == "acr"]
    assert len(table) == len(TRUE_MEANS) * (len(TRUE_MEANS) - 1) // 2
    for row in table.itertuples():
        a, b = acr[row.condition_a], acr[row.condition_b]
        test = stats.wilcoxon(a, b)
        assert row.n_items == N_ITEMS
        assert row.p_value == pytest.approx(test.pvalue)
        assert row.wilcoxon_stat == pytest.approx(test.statistic)
        assert row.mean_diff == pytest.approx((a - b).mean())
        assert np.sign(row.rank_biserial) == np.sign(TRUE_MEANS[row.condition_a] - TRUE_MEANS[row.condition_b])
    np.testing.assert_allclose(table["p_holm"], multipletests(table["p_value"], method="holm")[1])


def test_rank_biserial_by_hand() -> None:
    # |d| ranks: 1 -> 1, -2 -> 2, 3 -> 3, 4 -> 4; W+ = 8, W- = 2; zeros are dropped.
    assert rank_biserial(np.array([1.0, -2.0, 3.0, 4.0, 0.0])) == pytest.approx(0.6)
    assert np.isnan(rank_biserial(np.zeros(3)))


def test_mixed_model_recovers_condition_effects(study) -> None:
    """In this balanced design (every rater votes every stimulus) the fixed effects equal the differences of
    the condition means of the votes; the votes are categories, so those are what can be recovered."""
    ratings_csv, _, result = study
    mixed = result.mixed[result.mixed["protocol"] == "acr"].set_index("condition")
    assert mixed["converged"].all()
    votes = retained_votes(ratings_csv)
    means = votes[votes["protocol"] == "acr"].groupby("condition")["score"].mean()
    reference = mixed.loc["reference", "estimate"]
    for condition, mean in TRUE_MEANS.items():
        contrast = mixed.loc[condition, "estimate"] - reference
        assert contrast == pytest.approx(means[condition] - means["reference"], abs=0.02)
        assert contrast == pytest.approx(mean - TRUE_MEANS["reference"], abs=0.5)  # rounding and the scale's ends
        assert mixed.loc[condition, "ci95_low"] < mixed.loc[condition, "estimate"] < mixed.loc[condition, "ci95_high"]
    assert 0.01 < mixed["residual_var"].iloc[0] < 0.2  # true 0.0625
    assert mixed["rater_var"].iloc[0] > 0


def test_single_rater_and_single_rating_condition(tmp_path: Path) -> None:
    rows = [
        rating(k, "acr", "only", f"{k % 4}", c, "ovrl", s)
        for k, (c, s) in enumerate(
            [
                ("sepformer", 4),
                ("sepformer", 3),
                ("mixture", 2),
                ("mixture", 1),
                ("sepformer", 5),
                ("mixture", 2),
                ("sepformer", 4),
                ("mixture", 1),
            ]
        )
    ]
    for k, row in enumerate(rows):
        row["session_id"] = f"s-only-{k // 4}"  # one rater, two sessions over the same four items
    rows.append(rating(99, "acr", "only", "0", "sepformer_diffwave", "ovrl", 4.0))
    ratings_csv = tmp_path / "ratings.csv"
    pd.DataFrame(rows).to_csv(ratings_csv, index=False)
    stimuli = pd.DataFrame(rows)[["item_id", "condition"]].drop_duplicates().assign(path="s.wav")
    stimuli.assign(
        si_sdr=np.where(stimuli["condition"].eq("sepformer") & stimuli["item_id"].eq("0"), 10.0, np.nan)
    ).to_csv(tmp_path / "m.csv", index=False)
    result = analysis.run_analysis(ratings_csv, tmp_path / "m.csv", n_boot=N_BOOT)
    lone = result.summary.set_index("condition").loc["sepformer_diffwave"]
    assert lone["n_ratings"] == 1 and lone["mean"] == 4.0
    assert np.isnan(lone["std"]) and np.isnan(lone["ci95_low"]) and np.isnan(lone["ci95_high"])
    assert result.summary["n_raters"].eq(1).all()
    assert result.mixed["note"].str.contains("one rater only").all()
    assert result.correlations.empty  # fewer than 3 finite pairs
    assert (
        result.pairwise.set_index("condition_b").loc["sepformer_diffwave", "note"]
        == "fewer than 2 items rated in both conditions"
    ).all()


def test_mixed_model_that_cannot_be_fitted_gives_a_note(tmp_path: Path) -> None:
    rows = [rating(k, "acr", "r", "0", c, "ovrl", s) for k, (c, s) in enumerate([("a", 1), ("b", 2)])]
    pd.DataFrame(rows).to_csv(tmp_path / "ratings.csv", index=False)
    pd.DataFrame({"item_id": ["0", "0"], "condition": ["a", "b"], "path": ["a.wav", "b.wav"]}).to_csv(
        tmp_path / "m.csv", index=False
    )
    mixed = analysis.run_analysis(tmp_path / "ratings.csv", tmp_path / "m.csv").mixed
    assert list(mixed["condition"]) == ["a", "b"]
    assert mixed["estimate"].isna().all()
    assert mixed["note"].str.startswith("cannot fit a mixed model").all()


@pytest.mark.parametrize("content", ["", ",".join(RATINGS_COLUMNS) + "\n"])
def test_empty_ratings_file_is_a_clear_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "ratings.csv").write_text(content)
    (tmp_path / "m.csv").write_text("item_id,condition\n")
    with pytest.raises(ValueError, match="no ratings"):
        analysis.run_analysis(tmp_path / "ratings.csv", tmp_path / "m.csv")


def test_all_ratings_excluded_is_a_clear_error(tmp_path: Path) -> None:
    rows = [
        rating(0, "acr", "r", "0", "sepformer", "ovrl", 3, True, "failed gold"),
        rating(1, "acr", "r", "0", "trap_1", "ovrl", 3),
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "ratings.csv", index=False)
    (tmp_path / "m.csv").write_text("item_id,condition\n")
    with pytest.raises(ValueError, match="No rating is left to analyse"):
        analysis.run_analysis(tmp_path / "ratings.csv", tmp_path / "m.csv")


def test_missing_column_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "ratings.csv").write_text("rating_id,score\n1,3\n")
    with pytest.raises(ValueError, match="lacks the column"):
        analysis.run_analysis(tmp_path / "ratings.csv", tmp_path / "m.csv")


@pytest.mark.slow  # a fresh interpreter imports pandas, statsmodels and matplotlib
@pytest.mark.parametrize(
    ("column", "value", "wanted"), [("excluded", "maybe", "true or false"), ("score", "good", "a number")]
)
def test_analyze_cli_names_the_file_line_and_bad_value(tmp_path: Path, column: str, value: str, wanted: str) -> None:
    rows = [rating(k, "acr", f"r{k}", "0", "sepformer", "ovrl", 3) for k in range(3)]
    rows[1][column] = value  # the second rating: line 3 of the file
    ratings_csv, manifest_csv = tmp_path / "ratings.csv", tmp_path / "manifest.csv"
    pd.DataFrame(rows, columns=list(RATINGS_COLUMNS)).to_csv(ratings_csv, index=False)
    manifest_csv.write_text("item_id,condition\n0,sepformer\n", encoding="utf-8")
    command = [sys.executable, "-m", "listening_tests", "analyze", str(ratings_csv)]
    command += ["--manifest", str(manifest_csv), "--out", str(tmp_path / "out")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr == f"error: {ratings_csv}, line 3: {column} must be {wanted}, not '{value}'.\n"
    assert not (tmp_path / "out").exists()


def write_inputs(tmp_path: Path, rows: list[dict], manifest: str = "item_id,condition,path\n0,sepformer,s.wav\n"):
    """ratings.csv from `rows` and a manifest.csv text; returns both paths."""
    ratings_csv, manifest_csv = tmp_path / "ratings.csv", tmp_path / "manifest.csv"
    pd.DataFrame(rows, columns=list(RATINGS_COLUMNS)).to_csv(ratings_csv, index=False)
    manifest_csv.write_text(manifest, encoding="utf-8")
    return ratings_csv, manifest_csv


@pytest.mark.parametrize(
    ("protocol", "scale", "column", "value", "wanted"),
    [
        ("acr", "ovrl", "score", "7", "a whole number from 1 to 5 on the acr scale"),
        ("acr", "ovrl", "score", "0", "a whole number from 1 to 5 on the acr scale"),
        ("acr", "ovrl", "score", "-3", "a whole number from 1 to 5 on the acr scale"),
        ("acr", "ovrl", "score", "3.5", "a whole number from 1 to 5 on the acr scale"),
        ("mushra", "mushra", "score", "150", "a number from 0 to 100 on the mushra scale"),
        ("mushra", "mushra", "score", "-20", "a number from 0 to 100 on the mushra scale"),
        ("acr", "ovrl", "score", "inf", "a number"),
        ("acr", "ovrl", "score", "nan", "a number"),
        ("acr", "ovrl", "protocol", "pc", "one of acr, mushra, p835, ccr, ab, demo"),
        ("acr", "ovrl", "scale", "sig", "a scale of acr (ovrl)"),
    ],
)
def test_scores_off_the_protocols_scale_are_refused_with_file_line_and_value(
    tmp_path: Path, protocol: str, scale: str, column: str, value: str, wanted: str
) -> None:
    rows = [rating(k, protocol, f"r{k}", "0", "sepformer", scale, 3) for k in range(3)]
    rows[1][column] = value  # the second rating: line 3 of the file
    ratings_csv, manifest_csv = write_inputs(tmp_path, rows)
    with pytest.raises(ValueError) as refused:
        analysis.run_analysis(ratings_csv, manifest_csv)
    assert str(refused.value) == f"{ratings_csv}, line 3: {column} must be {wanted}, not '{value}'."


def test_a_repeated_rating_id_or_vote_is_refused(tmp_path: Path) -> None:
    rows = [rating(k, "acr", f"r{k}", "0", "sepformer", "ovrl", 3) for k in range(3)]
    rows[2]["rating_id"] = rows[0]["rating_id"]
    ratings_csv, manifest_csv = write_inputs(tmp_path, rows)
    with pytest.raises(ValueError, match=r"line 4: rating_id must be unique \(it repeats an earlier line's id\)"):
        analysis.run_analysis(ratings_csv, manifest_csv)
    rows[2] = {**rows[0], "rating_id": "other"}  # the same rater, session, stimulus and scale again
    ratings_csv, manifest_csv = write_inputs(tmp_path, rows)
    with pytest.raises(ValueError) as refused:
        analysis.run_analysis(ratings_csv, manifest_csv)
    assert str(refused.value).startswith(f"{ratings_csv}, line 4 repeats the vote of line 2 (same rater, session,")


def test_ratings_of_stimuli_outside_the_manifest_are_refused(tmp_path: Path) -> None:
    rows = [rating(k, "acr", f"r{k}", "0", "sepformer", "ovrl", 3) for k in range(3)]
    rows[2]["condition"] = "sepformer_diffwave"
    rows.append({**rating(3, "acr", "r3", "0", "trap_1", "ovrl", 2)})  # control clips need no manifest row
    ratings_csv, manifest_csv = write_inputs(tmp_path, rows)
    with pytest.raises(ValueError) as refused:
        analysis.run_analysis(ratings_csv, manifest_csv)
    assert str(refused.value) == (
        f"{ratings_csv}, line 4: the stimulus (item '0', condition 'sepformer_diffwave') is not in {manifest_csv}; "
        "ratings and manifest must come from the same study."
    )


def test_a_ratings_file_or_an_empty_file_as_manifest_is_refused_by_name(tmp_path: Path) -> None:
    rows = [rating(k, "acr", f"r{k}", "0", "sepformer", "ovrl", 3) for k in range(3)]
    ratings_csv, manifest_csv = write_inputs(tmp_path, rows)
    with pytest.raises(ValueError, match=r"ratings\.csv lacks the column\(s\) path of manifest\.csv"):
        analysis.run_analysis(ratings_csv, ratings_csv)
    manifest_csv.write_text("item_id,condition,path\n", encoding="utf-8")
    with pytest.raises(ValueError) as refused:
        analysis.run_analysis(ratings_csv, manifest_csv)
    assert str(refused.value).startswith(f"{manifest_csv} holds a header but no stimuli")
