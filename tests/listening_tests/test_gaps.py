"""gaps.csv and the system-level weighting, checked against direct pandas computations."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ddpmss.metrics import METRIC_NAMES
from listening_tests import analysis
from listening_tests.analysis.gaps import mean_ci
from tests.listening_tests.test_analysis import N_BOOT, N_ITEMS, SI_SDR, rating, retained_votes

GAP_CONTRACT = (
    "protocol scale condition_a condition_b metric n_items metric_delta mos_delta "
    "mos_delta_ci95_low mos_delta_ci95_high p_holm"
).split()
PROCESSED = [c for c in SI_SDR if c != "mixture"]


def test_one_row_per_ordered_pair_and_metric(study) -> None:
    _, _, result = study
    gaps = result.gaps
    assert list(gaps.columns) == GAP_CONTRACT
    for protocol in ("acr", "mushra"):
        rows = gaps[gaps["protocol"] == protocol]
        pairs = set(zip(rows["condition_a"], rows["condition_b"]))
        assert pairs == set(itertools.permutations(PROCESSED, 2))  # reference, anchors and mixture are not systems
        assert len(rows) == len(pairs) * len(METRIC_NAMES)  # every metric is defined on the processed stimuli


def test_deltas_equal_a_direct_computation(study) -> None:
    ratings_csv, manifest_csv, result = study
    votes = retained_votes(ratings_csv)
    manifest = pd.read_csv(manifest_csv, dtype={"item_id": str}).set_index(["item_id", "condition"])
    for protocol in ("acr", "mushra"):
        mos = votes[votes["protocol"] == protocol].pivot_table(
            index="item_id", columns="condition", values="score", aggfunc="mean"
        )
        for a, b in itertools.permutations(PROCESSED, 2):
            for metric in ("si_sdr", "stoi", "dnsmos_ovrl"):
                row = result.gaps.query(
                    "protocol == @protocol and condition_a == @a and condition_b == @b and metric == @metric"
                ).iloc[0]
                metric_b = manifest.xs(b, level="condition")[metric]
                metric_a = manifest.xs(a, level="condition")[metric]
                assert row.n_items == N_ITEMS
                assert row.mos_delta == pytest.approx((mos[b] - mos[a]).mean())
                assert row.metric_delta == pytest.approx((metric_b - metric_a).mean())
    acr = result.gaps.query("protocol == 'acr' and metric == 'si_sdr'")
    diffwave = acr.query("condition_a == 'sepformer' and condition_b == 'sepformer_diffwave'").iloc[0]
    assert diffwave.metric_delta == pytest.approx(SI_SDR["sepformer_diffwave"] - SI_SDR["sepformer"], abs=3)


def test_reversed_pairs_mirror_and_intervals_hold_the_delta(study) -> None:
    _, _, result = study
    gaps = result.gaps.set_index(["protocol", "scale", "metric", "condition_a", "condition_b"])
    pairwise = result.pairwise
    for (protocol, scale, metric, a, b), row in gaps.iterrows():
        mirror = gaps.loc[(protocol, scale, metric, b, a)]
        assert mirror.mos_delta == pytest.approx(-row.mos_delta)
        assert mirror.metric_delta == pytest.approx(-row.metric_delta)
        assert (mirror.mos_delta_ci95_low, mirror.mos_delta_ci95_high) == pytest.approx(
            (-row.mos_delta_ci95_high, -row.mos_delta_ci95_low)
        )
        assert row.mos_delta_ci95_low <= row.mos_delta <= row.mos_delta_ci95_high
        test = pairwise[
            (pairwise["protocol"] == protocol) & (pairwise[["condition_a", "condition_b"]].apply(set, axis=1) == {a, b})
        ]
        assert row.p_holm == pytest.approx(test["p_holm"].iloc[0])
    # the same items give the same interval whatever the metric
    si, stoi = (result.gaps.query("metric == @m").reset_index(drop=True) for m in ("si_sdr", "stoi"))
    np.testing.assert_allclose(si["mos_delta_ci95_low"], stoi["mos_delta_ci95_low"])


def test_bootstrap_interval_over_items() -> None:
    rng = np.random.default_rng(0)
    diffs = rng.normal(-0.1, 0.3, 40)
    low, high = mean_ci(diffs, rng, 4000, bound=4)
    half = 1.96 * diffs.std(ddof=1) / np.sqrt(len(diffs))
    assert (low, high) == pytest.approx((diffs.mean() - half, diffs.mean() + half), abs=0.03)
    assert all(np.isnan(mean_ci(diffs[:2], rng, 100, bound=4)))  # n too small
    assert mean_ci(np.full(5, 0.5), rng, 100, bound=4) == (0.5, 0.5)
    assert mean_ci(np.array([-4.0, -4.0, -3.9, 4.0]), rng, 200, bound=1) >= (-1, -1)


def test_system_points_weigh_each_stimulus_once(tmp_path: Path) -> None:
    """Item 0 of sepformer has 3 votes of 5, item 1 one vote of 1: the system score is (5 + 1) / 2, not 16 / 4."""
    votes = [("0", "sepformer", 5), ("0", "sepformer", 5), ("0", "sepformer", 5), ("1", "sepformer", 1)]
    votes += [("0", "sepformer_diffwave", 3), ("1", "sepformer_diffwave", 3)]
    votes += [("0", "fusion", 4), ("1", "fusion", 2), ("2", "fusion", 5)]
    rows = [
        rating(k, "acr", f"r{k}", item, condition, "ovrl", score) for k, (item, condition, score) in enumerate(votes)
    ]
    ratings_csv = tmp_path / "ratings.csv"
    pd.DataFrame(rows).to_csv(ratings_csv, index=False)
    sdr = {"sepformer": 15.0, "sepformer_diffwave": -20.0, "fusion": 14.0}
    stimuli = sorted({(item, condition) for item, condition, _ in votes})
    manifest = pd.DataFrame(
        [{"item_id": i, "condition": c, "path": "s.wav", "si_sdr": sdr[c] + float(i)} for i, c in stimuli]
    )
    manifest.to_csv(tmp_path / "manifest.csv", index=False)
    result = analysis.run_analysis(ratings_csv, tmp_path / "manifest.csv", n_boot=N_BOOT)
    systems = result.systems.set_index("condition")
    assert systems.loc["sepformer", "score"] == pytest.approx(3.0)
    assert systems.loc["sepformer", "si_sdr"] == pytest.approx(15.5)
    assert systems.loc["fusion", ["score", "si_sdr", "n_stimuli"]].tolist() == pytest.approx([11 / 3, 15.0, 3])
    row = result.correlations.query("level == 'system' and metric == 'si_sdr'").iloc[0]
    x, y = [3.0, 3.0, 11 / 3], [15.5, -19.5, 15.0]
    assert row.pearson == pytest.approx(np.corrcoef(x, y)[0, 1])
    gap = result.gaps.query("metric == 'si_sdr' and condition_a == 'sepformer' and condition_b == 'fusion'").iloc[0]
    assert gap.n_items == 2 and gap.mos_delta == pytest.approx(((4 - 5) + (2 - 1)) / 2)
    assert np.isnan(gap.mos_delta_ci95_low)  # 2 items: n too small for an interval
