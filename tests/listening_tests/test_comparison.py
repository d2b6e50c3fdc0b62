"""CCR and A/B preference: study loading, pair assignment, order correction, CMOS, order effect, Bradley-Terry."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import choix
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from listening_tests import analysis
from listening_tests.analysis.comparison import bradley_terry, cmos, comparison_votes, order_effect
from listening_tests.assignment import COMPARED, plan_session
from listening_tests.export import RATINGS_COLUMNS
from listening_tests.stimuli import load_stimulus_set
from listening_tests.study import StudyError, load_study
from tests.support.app import make_stimuli

PROCESSED = ["sepformer", "sepformer_diffwave"]


def write(tmp_path: Path, manifest: Path, **fields: object) -> Path:
    study = {
        "id": "ccr-test",
        "title": "CCR test",
        "protocol": "ccr",
        "stimuli": {"manifest": str(manifest)},
        "conditions": ["reference", "mixture", *PROCESSED],
        **fields,
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_stimuli(tmp_path_factory.mktemp("ccr") / "stimuli", n_items=4)


def test_a_ccr_study_compares_every_processed_pair_by_default_and_has_no_trap_or_gold(tmp_path, manifest) -> None:
    study = load_study(write(tmp_path, manifest))
    assert (study.protocol, study.pairs, study.trapping, study.gold, study.scales) == ("ccr", None, 0, 0, ("ccr",))
    study = load_study(write(tmp_path, manifest, pairs=[["reference", "sepformer"]], protocol="ab", no_preference=True))
    assert (study.pairs, study.no_preference) == ((("reference", "sepformer"),), True)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"pairs": [["sepformer", "sepformer"]]}, "pairs compares a condition with itself"),
        ({"pairs": [["sepformer", "mixture"], ["mixture", "sepformer"]]}, "pairs lists a pair twice"),
        ({"pairs": [["sepformer", "anchor_lp3500"]]}, "which the study does not show"),
        ({"pairs": "sepformer"}, "pairs must be a list of 1 to 100 pairs"),
        ({"trapping": 1}, "CCR pages have no trapping or gold clips"),
        ({"no_preference": True}, "no_preference applies to protocol ab only"),
        ({"protocol": "acr", "pairs": [["sepformer", "mixture"]]}, "pairs applies to the protocols ccr, ab only"),
        ({"conditions": ["reference", "sepformer"]}, "a comparison study needs at least two processed conditions"),
    ],
)
def test_a_wrong_comparison_study_is_refused_in_one_sentence(tmp_path, manifest, fields, problem) -> None:
    with pytest.raises(StudyError) as refused:
        load_study(write(tmp_path, manifest, **fields))
    assert problem in str(refused.value)


def test_pairs_are_balanced_over_items_and_the_order_is_drawn_per_page(tmp_path, manifest) -> None:
    pairs = [["reference", "sepformer"], ["sepformer", "sepformer_diffwave"]]
    study = load_study(write(tmp_path, manifest, pairs=pairs, items_per_session=3, votes_per_stimulus=50))
    stimuli = load_stimulus_set(manifest)
    votes: Counter = Counter()
    first_a = 0
    for seed in range(40):  # 40 sessions of 3 pages over 4 items x 2 pairs
        plan = plan_session(study, stimuli, study.conditions, votes, seed)
        assert len(plan) == 6
        for page in range(3):
            first, second = [t for t in plan if t.page == page]
            assert (first.slot, second.slot, first.item_id) == (0, 1, second.item_id)
            a, b = (first, second) if first.kind == COMPARED else (second, first)
            assert (a.kind, b.kind) == (COMPARED, "test") and [a.condition, b.condition] in pairs
            votes[(a.item_id, a.condition, b.condition)] += 1
            first_a += first.kind == COMPARED
    assert len(votes) == 8 and max(votes.values()) - min(votes.values()) <= 1  # fewest votes first
    assert 40 <= first_a <= 80  # of 120 pages, about half play a first (binomial, p = 0.5)


def rows_of(votes: list[tuple[str, str, str, str, int]]) -> list[dict]:
    """ratings.csv rows from (rater, item, a, b, order, raw score) votes."""
    return [
        {
            "rating_id": str(k),
            "rater_id": rater,
            "session_id": f"s-{rater}",
            "protocol": "ccr",
            "item_id": item,
            "condition": b,
            "scale": "ccr",
            "score": score,
            "listen_s": 1.0,
            "created_at": "2025-01-01T00:00:00.000Z",
            "excluded": "false",
            "exclusion_reason": "",
            "condition_a": a,
            "order": order,
        }
        for k, (rater, item, a, b, order, score) in enumerate(votes)
    ]


HAND = [  # (rater, item, a, b, order, raw answer: the second heard against the first)
    ("r1", "i1", "x", "y", "a_first", 2),  # y against x: +2
    ("r1", "i2", "x", "y", "b_first", -1),  # x (second) against y: -1, so y against x: +1
    ("r2", "i1", "x", "y", "b_first", -3),  # +3
    ("r2", "i2", "x", "y", "a_first", 0),  # 0
    ("r3", "i1", "x", "y", "a_first", 1),  # +1
    ("r3", "i2", "x", "y", "b_first", 1),  # -1
]


def test_cmos_corrects_the_order_and_matches_a_hand_computation() -> None:
    votes = comparison_votes(pd.DataFrame(rows_of(HAND)).assign(score=lambda d: d["score"].astype(float)))
    assert votes["b_vs_a"].tolist() == [2, 1, 3, 0, 1, -1]
    row = cmos(votes).iloc[0]
    corrected = np.array([2, 1, 3, 0, 1, -1], float)  # mean 1.0, sample sd sqrt(10/5) = 1.414
    half = stats.t.ppf(0.975, 5) * np.sqrt(2.0) / np.sqrt(6)  # 1.484
    assert (row["condition_a"], row["condition_b"], row["n_votes"], row["n_raters"]) == ("x", "y", 6, 3)
    assert row["cmos"] == pytest.approx(1.0) and row["std"] == pytest.approx(np.sqrt(2.0))
    assert (row["ci95_low"], row["ci95_high"]) == pytest.approx((1.0 - half, 1.0 + half))
    assert row["p_value"] == pytest.approx(stats.ttest_1samp(corrected, 0).pvalue)
    assert (row["n_a_first"], row["cmos_a_first"]) == (3, pytest.approx(1.0))  # 2, 0, 1
    assert (row["n_b_first"], row["cmos_b_first"]) == (3, pytest.approx(1.0))  # 1, 3, -1


def test_the_order_effect_recovers_a_bias_towards_the_second_clip() -> None:
    rng = np.random.default_rng(1)
    quality = {"x": 0.0, "y": 1.0, "z": 2.0}
    votes = []
    for k, (a, b) in enumerate(itertools.product(quality, repeat=2)):
        if a >= b:
            continue
        for n in range(200):
            order = "a_first" if n % 2 else "b_first"
            first, second = (a, b) if order == "a_first" else (b, a)
            votes.append(("r", f"i{k}{n}", a, b, order, quality[second] - quality[first] + 0.5 + rng.normal(0, 0.3)))
    table = comparison_votes(pd.DataFrame(rows_of(votes)))
    effect = order_effect(table).iloc[0]
    assert effect["ci95_low"] < 0.5 < effect["ci95_high"] and effect["bias"] == pytest.approx(0.5, abs=0.05)
    assert cmos(table).set_index("condition_b").loc["z", "cmos"].mean() == pytest.approx(1.5, abs=0.1)


def test_bradley_terry_ranks_a_known_order_as_choix_does() -> None:
    strength = {"a": 1.0, "b": 0.0, "c": -1.0}  # a beats c with p = 1 / (1 + e^-2) = 0.88
    rng = np.random.default_rng(2)
    votes = []
    for a, b in itertools.combinations(strength, 2):
        p_b = 1 / (1 + np.exp(strength[a] - strength[b]))
        for n in range(300):
            votes.append(("r", f"{a}{b}{n}", a, b, "a_first", 1 if rng.random() < p_b else -1))
    votes += [("r", "tie", "a", "b", "a_first", 0)]  # a tie is dropped
    table = bradley_terry(comparison_votes(pd.DataFrame(rows_of(votes)).assign(score=lambda d: d["score"] * 1.0)))
    assert table["condition"].tolist() == ["a", "b", "c"] and table["rank"].tolist() == [1, 2, 3]
    assert table.set_index("condition").loc["a", "n_ties_dropped"] == 1
    index = {"a": 0, "b": 1, "c": 2}
    data = [
        (index[b], index[a]) if s > 0 else (index[a], index[b]) for _, _, a, b, _, s in votes if s
    ]  # (winner, loser)
    mle = choix.ilsr_pairwise(3, data)
    assert table["strength"].to_numpy() == pytest.approx(mle - mle.mean(), abs=0.05)
    assert (table["ci95_low"] < list(strength.values())).all() and (table["ci95_high"] > list(strength.values())).all()


def test_analysis_of_a_ccr_ratings_csv_writes_cmos_and_gaps_from_it(tmp_path) -> None:
    ratings = pd.DataFrame(rows_of(HAND), columns=list(RATINGS_COLUMNS))
    ratings.to_csv(tmp_path / "ratings.csv", index=False)
    manifest = [
        {"item_id": i, "condition": c, "path": f"{i}{c}.wav", "si_sdr": s}
        for i in ("i1", "i2")
        for c, s in (("x", 10), ("y", 4))
    ]
    pd.DataFrame(manifest).to_csv(tmp_path / "manifest.csv", index=False)
    result = analysis.run_analysis(tmp_path / "ratings.csv", tmp_path / "manifest.csv", n_boot=100)
    assert result.summary.empty and result.cmos["cmos"].tolist() == [1.0]
    gap = result.gaps[(result.gaps["metric"] == "si_sdr") & (result.gaps["condition_a"] == "x")].iloc[0]
    assert (gap["metric_delta"], gap["mos_delta"], gap["n_items"]) == (-6.0, 1.0, 2)  # items: (2+3+1)/3, (1+0-1)/3


def test_a_ccr_row_without_its_order_is_refused(tmp_path) -> None:
    rows = rows_of(HAND)
    rows[1]["order"] = ""
    pd.DataFrame(rows).to_csv(tmp_path / "ratings.csv", index=False)
    pd.DataFrame([{"item_id": "i1", "condition": "x", "path": "p"}]).to_csv(tmp_path / "manifest.csv", index=False)
    with pytest.raises(ValueError, match=r"line 3: order must be a_first or b_first"):
        analysis.run_analysis(tmp_path / "ratings.csv", tmp_path / "manifest.csv")
