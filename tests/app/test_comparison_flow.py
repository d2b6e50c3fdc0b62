"""A CCR and an A/B session through app.steps and the store: both clips must be heard, the answer goes to
condition b's clip, and ratings.csv says what it was compared against and which clip came first."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import messages, steps
from app.rater import scale_choices
from listening_tests.export import rating_rows
from tests.support.app import Clock, listen, make_services, run_training, start

PAIRS = [["reference", "sepformer"], ["mixture", "sepformer"]]
FIELDS = {"conditions": ["reference", "mixture", "sepformer"], "pairs": PAIRS, "trapping": 0, "gold": 0}


def test_a_ccr_session_stores_the_raw_answer_with_the_pair_and_the_order(tmp_path: Path) -> None:
    clock = Clock()
    services = make_services(tmp_path, "ccr", clock=clock, study_fields={**FIELDS, "items_per_session": 4})
    visit, _ = start(services)
    view = run_training(services, visit, clock)
    answers = {}
    while view.stage == "page":
        assert [c.label for c in view.clips] == ["A", "B"] and view.scales == ("ccr",)
        assert not listen(services, visit, clock, 0)  # A alone does not open the answers
        visit, refused = steps.submit(services, visit, [2], [])
        assert refused.notice == messages.LISTEN_BOTH
        assert listen(services, visit, clock, 1)
        answer = -3 + view.progress[0]
        paths = [c.path for c in visit.page.clips]
        heard = [next(s for s in services.stimuli.stimuli.values() if s.path == p) for p in paths]
        answers[(heard[0].item_id, heard[0].condition, heard[1].condition)] = answer  # item, first, second: answer
        visit, view = steps.submit(services, visit, [answer], [])
    assert view.stage == "done" and len(answers) == 4
    rows = rating_rows(services.store.list_ratings())
    assert len(rows) == 4
    for row in rows:
        a, b = row["condition_a"], row["condition"]
        assert [a, b] in PAIRS and row["protocol"] == "ccr" and row["scale"] == "ccr"
        heard = (row["item_id"], a, b) if row["order"] == "a_first" else (row["item_id"], b, a)
        assert int(row["score"]) == answers[heard] and row["excluded"] == "false"


def test_an_ab_study_refuses_no_preference_unless_it_offers_it(tmp_path: Path) -> None:
    clock = Clock()
    services = make_services(tmp_path, "ab", clock=clock, study_fields=FIELDS)
    visit, _ = start(services)
    run_training(services, visit, clock)
    listen(services, visit, clock, 0)
    listen(services, visit, clock, 1)
    visit, view = steps.submit(services, visit, [0], [])
    assert view.notice == "This study asks for A or B: it has no 'no preference' answer."
    visit, view = steps.submit(services, visit, [1], [])
    assert view.notice == "" and view.progress[0] == 1
    assert [row["score"] for row in rating_rows(services.store.list_ratings())] == ["1"]


@pytest.mark.parametrize(
    ("scale", "no_preference", "choices"),
    [
        ("pref", False, [("A", -1), ("B", 1)]),
        ("pref", True, [("A", -1), ("B", 1), ("No preference", 0)]),
        ("ccr", False, [("+3 Much Better", 3), ("+2 Better", 2), ("+1 Slightly Better", 1), ("0 About the Same", 0)]),
    ],
)
def test_the_answers_follow_p808_annex_e_and_the_study(scale: str, no_preference: bool, choices: list) -> None:
    shown = scale_choices(scale, no_preference)
    assert shown[: len(choices)] == choices
    if scale == "ccr":
        assert shown[-1] == ("-3 Much Worse", -3) and len(shown) == 7
