"""listening_tests.analysis.metric_evaluation (ITU-T P.1401) checked against direct computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.polynomial import polynomial as poly
from scipy import optimize, stats
from statsmodels.stats.multitest import multipletests

from ddpmss.metrics import METRIC_NAMES
from listening_tests.analysis.metric_evaluation import (
    CONDITION_CORRELATION_COLUMNS,
    CORRELATION_DIFFERENCE_COLUMNS,
    METRIC_EVALUATION_COLUMNS,
    condition_correlations,
    correlation_differences,
    metric_evaluation,
    williams_t,
)

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # no numpy/scipy warning may escape

# The input contract, spelled out here rather than read from the code under test.
STIMULUS_COLUMNS = ["protocol", "scale", "item_id", "condition", "score", "n_votes", "score_std", "score_ci95"]
PROCESSED = ("sepformer", "sepformer_diffwave", "sepformer_diffwave_fusion")


def stimulus_rows(
    votes: list[np.ndarray], metrics: dict[str, np.ndarray], protocol: str = "acr", scale: str = "ovrl"
) -> pd.DataFrame:
    """One row per stimulus from its votes: mean, sample std and 95 % t half-width (NaN below 2 votes)."""
    rows = []
    for i, v in enumerate(votes):
        n = len(v)
        std = float(np.std(v, ddof=1)) if n > 1 else np.nan
        ci = float(stats.t.ppf(0.975, n - 1) * std / np.sqrt(n)) if n > 1 else np.nan
        row = {"protocol": protocol, "scale": scale, "item_id": f"{i // 3:03d}", "condition": PROCESSED[i % 3]}
        row |= {"score": float(np.mean(v)), "n_votes": n, "score_std": std, "score_ci95": ci}
        row |= {m: float(metrics[m][i]) if m in metrics else np.nan for m in METRIC_NAMES}
        rows.append(row)
    return pd.DataFrame(rows, columns=STIMULUS_COLUMNS + list(METRIC_NAMES))


def noisy_votes(means: np.ndarray, rng: np.random.Generator, n_votes: int | list[int] = 8) -> list[np.ndarray]:
    counts = [n_votes] * len(means) if isinstance(n_votes, int) else n_votes
    return [np.clip(m + rng.normal(0, 0.7, k), 1, 5) for m, k in zip(means, counts)]


def mapped_values(row: pd.Series, x: np.ndarray) -> np.ndarray:
    """The reported mapping a + b x + c x^2 + d x^3 evaluated at x."""
    return poly.polyval(x, row[["map_a", "map_b", "map_c", "map_d"]].to_numpy(float))


def one(table: pd.DataFrame, **key: str) -> pd.Series:
    match = table.loc[(table[list(key)] == pd.Series(key)).all(axis=1)]
    assert len(match) == 1, key
    return match.iloc[0]


def test_columns_are_the_documented_ones() -> None:
    evaluation = "protocol scale metric n pearson spearman pearson_mapped rmse n_ci eps_rmse outlier_ratio"
    evaluation += " map_a map_b map_c map_d note"
    differences = "protocol scale metric_1 metric_2 n r1 r2 r12 williams_t df p_value p_holm note"
    per_condition = "protocol scale condition metric n pearson spearman note"
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 4, 12)
    table = stimulus_rows(noisy_votes(1 + x, rng), {"pesq_wb": x, "stoi": x / 5})
    for function, constant, contract in (
        (metric_evaluation, METRIC_EVALUATION_COLUMNS, evaluation),
        (correlation_differences, CORRELATION_DIFFERENCE_COLUMNS, differences),
        (condition_correlations, CONDITION_CORRELATION_COLUMNS, per_condition),
    ):
        assert list(constant) == list(function(table).columns) == contract.split()
        assert list(function(table.iloc[:0]).columns) == contract.split()  # no stimuli: an empty table


def test_mapping_stays_monotonic_where_an_unconstrained_cubic_does_not() -> None:
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(-20, 25, 40))  # SI-SDR in dB
    means = 3 + np.sin(x / 4)  # rises, falls, rises: no monotonic cubic fits it exactly
    votes = noisy_votes(means, rng)
    table = stimulus_rows(votes, {"si_sdr": x})
    score = table["score"].to_numpy()
    grid = np.linspace(x.min(), x.max(), 20001)
    free = np.polyder(np.polyfit(x, score, 3))
    assert np.polyval(free, grid).min() < 0, "the test data must defeat an unconstrained cubic"

    row = one(metric_evaluation(table), metric="si_sdr")
    assert np.diff(mapped_values(row, grid)).min() >= -1e-9
    # The constrained least squares lies between the best of all non-decreasing functions (isotonic
    # regression) and the best non-decreasing straight line, both computed independently here.
    sse = np.sum((score - mapped_values(row, x)) ** 2)
    isotonic = optimize.isotonic_regression(score).x  # x is sorted
    slope, intercept = np.polyfit(x, score, 1)
    line = intercept + slope * x if slope > 0 else np.full_like(score, score.mean())
    assert np.sum((score - isotonic) ** 2) <= sse + 1e-9
    assert sse <= np.sum((score - line) ** 2) + 1e-9


def test_mapping_recovers_a_monotonic_cubic() -> None:
    x = np.linspace(1.0, 4.5, 15)  # PESQ
    truth = np.array([0.5, 0.4, -0.05, 0.02])  # slope 0.4 - 0.1 x + 0.06 x^2 > 0 everywhere
    scores = poly.polyval(x, truth)
    table = stimulus_rows([np.array([s - 0.1, s + 0.1]) for s in scores], {"pesq_nb": x})
    row = one(metric_evaluation(table), metric="pesq_nb")
    np.testing.assert_allclose(row[["map_a", "map_b", "map_c", "map_d"]].to_numpy(float), truth, atol=1e-8)
    assert row["pearson_mapped"] == pytest.approx(1.0, abs=1e-12)
    assert row["rmse"] == pytest.approx(0.0, abs=1e-9)
    assert row["eps_rmse"] == pytest.approx(0.0, abs=1e-9) and row["outlier_ratio"] == 0.0


def test_errors_equal_the_direct_p1401_formulas() -> None:
    rng = np.random.default_rng(2)
    x = rng.uniform(0.3, 0.95, 30)  # STOI
    counts = [1, 1, 1] + [int(k) for k in rng.integers(2, 12, 27)]  # three stimuli with a single vote
    table = stimulus_rows(noisy_votes(1 + 4 * x, rng, counts), {"stoi": x})
    row = one(metric_evaluation(table), metric="stoi")
    score, ci = table["score"].to_numpy(), table["score_ci95"].to_numpy()
    error = score - mapped_values(row, x)
    has_ci = ~np.isnan(ci)

    assert row["n"] == 30 and row["n_ci"] == 27
    assert row["pearson"] == pytest.approx(stats.pearsonr(x, score).statistic)
    assert row["spearman"] == pytest.approx(stats.spearmanr(x, score).statistic)
    assert row["pearson_mapped"] == pytest.approx(stats.pearsonr(mapped_values(row, x), score).statistic)
    assert row["rmse"] == pytest.approx(np.sqrt(np.sum(error**2) / (30 - 4)))
    excess = np.clip(np.abs(error[has_ci]) - ci[has_ci], 0, None)
    assert row["eps_rmse"] == pytest.approx(np.sqrt(np.sum(excess**2) / (27 - 4)))
    assert row["outlier_ratio"] == pytest.approx(np.count_nonzero(np.abs(error[has_ci]) > ci[has_ci]) / 27)
    assert "3 stimuli with a single vote" in row["note"]


def test_eps_rmse_is_at_most_rmse_when_every_stimulus_has_an_interval() -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        x = rng.uniform(1, 4, 20)
        row = one(metric_evaluation(stimulus_rows(noisy_votes(x, rng), {"dnsmos_ovrl": x})), metric="dnsmos_ovrl")
        assert row["n_ci"] == 20 and 0 <= row["eps_rmse"] <= row["rmse"]
        assert 0 <= row["outlier_ratio"] <= 1


def test_a_metric_that_falls_as_scores_rise_gets_a_flat_mapping() -> None:
    rng = np.random.default_rng(4)
    x = rng.uniform(-10, 20, 20)
    table = stimulus_rows(noisy_votes(4 - 0.1 * x, rng), {"si_sdr": x})
    row = one(metric_evaluation(table), metric="si_sdr")
    assert row["pearson"] < 0
    assert np.isnan(row["pearson_mapped"]) and "flat" in row["note"]
    score = table["score"].to_numpy()
    assert mapped_values(row, x) == pytest.approx(np.full(20, score.mean()))  # the best constant
    assert row["rmse"] == pytest.approx(np.sqrt(np.sum((score - score.mean()) ** 2) / 16))

    same = one(metric_evaluation(table.assign(score=3.0)), metric="si_sdr")  # every stimulus scored 3
    assert np.isnan(same["pearson"]) and np.isnan(same["pearson_mapped"]) and same["rmse"] == pytest.approx(0)
    assert same["note"].startswith("the scores are constant")


def test_small_groups_are_noted_not_computed() -> None:
    rng = np.random.default_rng(5)
    x = rng.uniform(1, 4, 6)
    votes = noisy_votes(x, rng, [1, 1, 3, 3, 3, 3])
    table = pd.concat(
        [
            stimulus_rows(votes, {"pesq_wb": x}),  # 6 stimuli: correlations, no mapping
            stimulus_rows(votes[:2], {"pesq_wb": x[:2]}, scale="sig", protocol="p835"),  # 2: nothing
            stimulus_rows(noisy_votes(np.linspace(1, 4, 10), rng, [1] * 4 + [3] * 6), {"stoi": np.arange(10.0)}),
        ],
        ignore_index=True,
    )
    result = metric_evaluation(table)
    six = one(result, protocol="acr", metric="pesq_wb")
    assert six["n"] == 6 and np.isfinite(six["pearson"]) and np.isnan(six["rmse"])
    assert "fewer than 8 stimuli for the mapping" in six["note"]
    two = one(result, protocol="p835", metric="pesq_wb")
    assert two["n"] == 2 and two[["pearson", "spearman", "rmse"]].isna().all()
    assert two["note"] == "fewer than 3 stimuli"
    ten = one(result, metric="stoi")  # 10 stimuli, 6 with an interval: mapping yes, eps_rmse no
    assert np.isfinite(ten["rmse"]) and ten["n_ci"] == 6 and np.isnan(ten["eps_rmse"])
    assert "fewer than 8 stimuli with a confidence interval" in ten["note"]


def test_nan_metrics_processed_only_and_groups_apart() -> None:
    rng = np.random.default_rng(6)
    x = rng.uniform(0, 4, 24)
    acr = stimulus_rows(noisy_votes(1 + x, rng), {"pesq_nb": x, "stoi": np.where(x > 1, x / 5, np.nan)})
    p835 = stimulus_rows(noisy_votes(5 - x, rng), {"pesq_nb": x}, protocol="p835", scale="bak")
    anchors = acr.head(6).assign(condition=["reference", "mixture", "anchor_lp3500", "trap_3", "gold_bad", "mixture"])
    anchors[["score", "pesq_nb", "stoi"]] = [[5.0, -100.0, 9.0]] * 6
    table = pd.concat([acr, anchors, p835], ignore_index=True)

    result = metric_evaluation(table)
    assert set(result["metric"]) == {"pesq_nb", "stoi"}  # no row for metrics without any value
    assert len(result) == 3 and set(result.loc[result["protocol"] == "p835", "metric"]) == {"pesq_nb"}
    assert one(result, protocol="acr", metric="stoi")["n"] == np.count_nonzero(x > 1)
    alone = metric_evaluation(acr)
    pd.testing.assert_frame_equal(result[result["protocol"] == "acr"].reset_index(drop=True), alone)
    assert one(result, protocol="p835", metric="pesq_nb")["pearson"] < 0 < one(alone, metric="pesq_nb")["pearson"]

    conditions = condition_correlations(table)
    assert set(conditions["condition"]) == set(PROCESSED)
    differences = correlation_differences(table)
    assert list(differences[["protocol", "metric_1", "metric_2"]].itertuples(index=False, name=None)) == [
        ("acr", "pesq_nb", "stoi")
    ]


def test_williams_t_matches_a_documented_example() -> None:
    # bruceR's cor_diff documentation: r1 = .20, r2 = .45, n = 100, r(Y, Z) = .80 gives t(97) = -4.56, p = 1e-05.
    t = float(williams_t(0.20, 0.45, 0.80, 100))
    assert round(t, 2) == -4.56
    assert f"{2 * stats.t.sf(abs(t), 97):.0e}" == "1e-05"


def test_williams_t_by_hand() -> None:
    # Steiger (1980) case A numbers, worked by hand: r1 = .4, r2 = .5, r12 = .1, n = 103.
    det = 1 - 0.16 - 0.25 - 0.01 + 2 * 0.4 * 0.5 * 0.1  # |R| = 0.62
    denominator = 2 * 102 / 100 * det + 0.45**2 * 0.9**3  # 1.2648 + 0.14762...
    assert float(williams_t(0.4, 0.5, 0.1, 103)) == pytest.approx(-0.1 * np.sqrt(102 * 1.1 / denominator))
    assert float(williams_t(0.4, 0.5, 0.1, 103)) == pytest.approx(-0.8913, abs=5e-5)


def test_williams_p_values_are_uniform_under_the_null() -> None:
    rng = np.random.default_rng(7)
    n, reps = 30, 2000
    cov = np.array([[1.0, 0.5, 0.5], [0.5, 1.0, 0.3], [0.5, 0.3, 1.0]])  # rho(y, x1) = rho(y, x2)
    data = rng.multivariate_normal(np.zeros(3), cov, size=(reps, n))
    r = np.array([[np.corrcoef(sample.T)[i, j] for i, j in ((0, 1), (0, 2), (1, 2))] for sample in data])
    p = 2 * stats.t.sf(np.abs(williams_t(r[:, 0], r[:, 1], r[:, 2], n)), n - 3)
    assert 0.035 <= np.mean(p < 0.05) <= 0.065
    assert stats.kstest(p, "uniform").pvalue > 0.01


def test_correlation_differences_against_scipy_and_statsmodels() -> None:
    rng = np.random.default_rng(8)
    quality = rng.uniform(1, 4.5, 24)
    metrics = {
        "si_sdr": 10 * quality + rng.normal(0, 8, 24),
        "si_sdr_i": 10 * quality + rng.normal(0, 8, 24) + 3,
        "pesq_wb": quality + rng.normal(0, 0.3, 24),
        "stoi": 1 - quality / 5 + rng.normal(0, 0.05, 24),  # points the wrong way
        "estoi": np.full(24, 0.7),  # constant
    }
    metrics["pesq_nb"] = 2 * metrics["pesq_wb"] + 1  # a linear copy of pesq_wb
    table = stimulus_rows(noisy_votes(quality, rng), metrics)
    table.loc[:4, "si_sdr_i"] = np.nan
    result = correlation_differences(table)
    score = table["score"].to_numpy()

    present = [m for m in METRIC_NAMES if m in metrics]
    expected_pairs = [(a, b) for i, a in enumerate(present) for b in present[i + 1 :]]
    assert list(result[["metric_1", "metric_2"]].itertuples(index=False, name=None)) == expected_pairs

    row = one(result, metric_1="si_sdr", metric_2="si_sdr_i")
    keep = ~table["si_sdr_i"].isna().to_numpy()
    a, b, s = metrics["si_sdr"][keep], metrics["si_sdr_i"][keep], score[keep]
    assert row["n"] == 19 and row["df"] == 16
    assert row["r1"] == pytest.approx(stats.pearsonr(s, a).statistic)
    assert row["r2"] == pytest.approx(stats.pearsonr(s, b).statistic)
    assert row["r12"] == pytest.approx(stats.pearsonr(a, b).statistic)
    t = williams_t(row["r1"], row["r2"], row["r12"], 19)
    assert row["williams_t"] == pytest.approx(t)
    assert row["p_value"] == pytest.approx(2 * stats.t.sf(abs(t), 16))

    wrong_way = one(result, metric_1="pesq_wb", metric_2="stoi")
    assert wrong_way["r2"] < 0 < wrong_way["r1"] and wrong_way["williams_t"] > 0  # signed, not |r|
    copy = one(result, metric_1="pesq_nb", metric_2="pesq_wb")
    assert np.isnan(copy["williams_t"]) and "perfectly correlated" in copy["note"]
    constant = one(result, metric_1="stoi", metric_2="estoi")
    assert np.isnan(constant["r1"]) and constant["note"] == "constant over these stimuli: metric_2"

    tested = result["p_value"].notna()
    assert tested.sum() == len(expected_pairs) - 1 - 5  # the copy and the 5 pairs with the constant estoi
    np.testing.assert_allclose(
        result.loc[tested, "p_holm"], multipletests(result.loc[tested, "p_value"], method="holm")[1]
    )
    assert result.loc[~tested, "p_holm"].isna().all()


def test_condition_correlations_per_condition() -> None:
    rng = np.random.default_rng(9)
    x = rng.uniform(-5, 25, 30)
    table = stimulus_rows(noisy_votes(1 + x / 8, rng), {"si_sdr": x, "dnsmos_bak": np.full(30, 3.0)})
    table = table[~((table["condition"] == "sepformer_diffwave_fusion") & (table.index > 8))]  # 3 stimuli left
    table = pd.concat([table, table.head(2).assign(condition="reference")], ignore_index=True)
    table.loc[(table["condition"] == "sepformer_diffwave_fusion").to_numpy().nonzero()[0][-1], "si_sdr"] = np.nan
    result = condition_correlations(table)

    assert set(result["condition"]) == set(PROCESSED)
    for condition in ("sepformer", "sepformer_diffwave"):
        rows = table[table["condition"] == condition]
        row = one(result, condition=condition, metric="si_sdr")
        assert row["n"] == len(rows) == 10 and row["note"] == ""
        assert row["pearson"] == pytest.approx(stats.pearsonr(rows["si_sdr"], rows["score"]).statistic)
        assert row["spearman"] == pytest.approx(stats.spearmanr(rows["si_sdr"], rows["score"]).statistic)
        constant = one(result, condition=condition, metric="dnsmos_bak")
        assert np.isnan(constant["pearson"]) and constant["note"] == "the metric is constant over these stimuli"
    few = one(result, condition="sepformer_diffwave_fusion", metric="si_sdr")
    assert few["n"] == 2 and np.isnan(few["spearman"]) and few["note"] == "fewer than 3 stimuli"
