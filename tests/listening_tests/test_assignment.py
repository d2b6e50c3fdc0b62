"""Balanced, seeded assignment: fewest votes first, controls inserted, MUSHRA pages, P.835 order, training."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from listening_tests.assignment import (
    blind_label,
    plan_session,
    scale_order,
    session_seed,
    training_stimuli,
)
from tests.listening_tests.test_storage import CONDITIONS, make_stimuli, make_study


def test_acr_plan_has_tests_plus_trap_and_gold_one_per_page(tmp_path: Path) -> None:
    stimuli, study = make_stimuli(tmp_path), make_study(tmp_path)
    plan = plan_session(study, stimuli, CONDITIONS, {}, seed=1)
    assert [t.page for t in plan] == list(range(12)) and {t.slot for t in plan} == {0}
    kinds = Counter(t.kind for t in plan)
    assert kinds == {"test": 10, "trap": 1, "gold": 1}
    tests = [(t.item_id, t.condition) for t in plan if t.kind == "test"]
    assert len(set(tests)) == 10 and all(c in CONDITIONS for _, c in tests)
    controls = [t for t in plan if t.kind != "test"]
    assert all(t.expected_score is not None and t.tolerance is not None for t in controls)
    assert all(t.duration_s > 0 for t in plan)
    assert plan == plan_session(study, stimuli, CONDITIONS, {}, seed=1)  # reproducible per seed
    assert plan != plan_session(study, stimuli, CONDITIONS, {}, seed=2)


def test_each_session_draws_its_trap_and_gold_clips_from_the_pool(tmp_path: Path) -> None:
    stimuli, study = make_stimuli(tmp_path), make_study(tmp_path)
    drawn = {
        kind: Counter(
            t.condition
            for rater in range(40)
            for t in plan_session(study, stimuli, CONDITIONS, {}, seed=session_seed(f"r_{rater}", 1))
            if t.kind == kind
        )
        for kind in ("trap", "gold")
    }
    assert set(drawn["trap"]) == {"trap_2", "trap_4"} and min(drawn["trap"].values()) >= 10
    assert set(drawn["gold"]) == {"gold_excellent", "gold_bad"} and min(drawn["gold"].values()) >= 10


def test_fewest_votes_first_and_full_or_seen_stimuli_skipped(tmp_path: Path) -> None:
    stimuli, study = make_stimuli(tmp_path), make_study(tmp_path, trapping=0, gold=0, votes_per_stimulus=3)
    keys = [k for k in stimuli.stimuli if k[1] in CONDITIONS]
    votes = {k: 1 for k in keys[:-12]}  # the last 12 have no vote yet
    chosen = {(t.item_id, t.condition) for t in plan_session(study, stimuli, CONDITIONS, votes, seed=3)}
    assert chosen <= set(keys[-12:])
    full = {k: 3 for k in keys}
    assert plan_session(study, stimuli, CONDITIONS, full, seed=3) == []
    seen = frozenset(keys[:-4])
    rest = plan_session(study, stimuli, CONDITIONS, {}, seed=3, seen=seen)
    assert {(t.item_id, t.condition) for t in rest} == set(keys[-4:])


def test_only_the_shown_conditions_are_planned(tmp_path: Path) -> None:
    stimuli, study = make_stimuli(tmp_path), make_study(tmp_path, trapping=0, gold=0)
    plan = plan_session(study, stimuli, ("reference", "sepformer"), {}, seed=4)
    assert {t.condition for t in plan} == {"reference", "sepformer"} and len(plan) == 10


def test_mushra_pages_have_every_condition_in_a_random_order(tmp_path: Path) -> None:
    stimuli, study = make_stimuli(tmp_path), make_study(tmp_path, "mushra", items_per_session=4)
    plan = plan_session(study, stimuli, CONDITIONS, {}, seed=5)
    pages: dict[int, list] = {}
    for t in plan:
        pages.setdefault(t.page, []).append(t)
    assert len(pages) == 4 and len({p[0].item_id for p in pages.values()}) == 4
    orders = set()
    for trials in pages.values():
        assert sorted(t.condition for t in trials) == sorted(CONDITIONS)
        assert [t.slot for t in trials] == list(range(len(CONDITIONS)))
        assert len({t.item_id for t in trials}) == 1 and all(t.kind == "test" for t in trials)
        orders.add(tuple(t.condition for t in trials))
    assert len(orders) > 1  # the condition order changes from page to page
    busy = {(item, c): 1 for item in stimuli.items[:4] for c in CONDITIONS}
    later = plan_session(study, stimuli, CONDITIONS, busy, seed=5)
    assert set(stimuli.items[4:]) <= {t.item_id for t in later}  # the items without votes come first


def test_seeds_scales_and_labels() -> None:
    assert session_seed("r_a", 0) == session_seed("r_a", 0) != session_seed("r_a", 1) != session_seed("r_b", 0)
    assert 0 <= session_seed("r_a", 0) < 2**31
    assert scale_order("p835", 0, ("sig", "bak", "ovrl")) == ("sig", "bak", "ovrl")
    assert scale_order("p835", 1, ("sig", "bak", "ovrl")) == ("bak", "sig", "ovrl")
    assert scale_order("acr", 1, ("ovrl",)) == ("ovrl",)
    assert blind_label("mushra", 3, 2) == "C" and blind_label("acr", 3, 0) == "Clip 4"


def test_training_spans_the_quality_range(tmp_path: Path) -> None:
    stimuli = make_stimuli(tmp_path)
    pages = training_stimuli(make_study(tmp_path, training_items=2), stimuli, CONDITIONS, seed=6)
    assert len(pages) == 6 and all(len(p) == 1 for p in pages)
    conditions = Counter(p[0].condition for p in pages)
    assert conditions["reference"] == 2 and conditions["anchor_lp3500"] == 2
    mushra = training_stimuli(make_study(tmp_path, "mushra", training_items=1), stimuli, CONDITIONS, seed=6)
    assert len(mushra) == 1 and sorted(s.condition for s in mushra[0]) == sorted(CONDITIONS)
