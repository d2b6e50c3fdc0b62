"""Answers before the test are stored once per rater, scored on the server, and screen the rater's ratings."""

from __future__ import annotations

from pathlib import Path

import pytest

from listening_tests.headphones import CheckConfig
from listening_tests.qualification import HEADPHONE_REASON, BeforeTest
from listening_tests.screening import screen
from listening_tests.storage import StoreError
from tests.listening_tests.test_storage import db_url, finish_session, make_stimuli, make_study, open_store  # noqa: F401
from tests.support.pg import postgres_server, postgres_url  # noqa: F401 (fixtures)

GOOD = {"device": "in_ear", "environment": "quiet", "hearing": "normal", "last_test": "month", "expert": "no"}


def test_answers_are_stored_once_scored_here_and_exclude_the_rater(db_url: str, tmp_path: Path) -> None:  # noqa: F811
    section = {"questions": True, "headphone_check": True}
    study = make_study(
        tmp_path,
        trapping=0,
        gold=0,
        before_test=BeforeTest(questions=True, headphone_check=CheckConfig()),
        definition={"id": "test-acr", "before_test": section},
    )
    store = open_store(db_url, study, make_stimuli(tmp_path))
    good, bad = store.create_rater(study.id), store.create_rater(study.id)
    plan = store.headphone_plan(good.id)
    assert len(plan) == 6 and plan == store.headphone_plan(good.id) and store.qualification(good.id) is None
    right = [t.quiet for t in plan]
    with pytest.raises(StoreError, match="answer every question"):
        store.save_qualification(good.id, {**GOOD, "hearing": None}, right)
    with pytest.raises(StoreError, match="answer every headphone check"):
        store.save_qualification(good.id, GOOD, right[:5])
    kept = store.save_qualification(good.id, GOOD, right)
    assert kept.headphone_correct == 6 and kept.headphone_trials == 6 and dict(kept.answers) == GOOD
    wrong = [(t.quiet + 1) % 3 for t in plan]
    assert store.save_qualification(good.id, GOOD, wrong) == kept  # the first answers stay
    bad_plan = store.headphone_plan(bad.id)
    store.save_qualification(bad.id, {**GOOD, "device": "loudspeakers"}, [t.antiphase for t in bad_plan])
    assert store.qualification(bad.id).headphone_correct == 0
    for rater in (good, bad):
        session = store.start_session(rater.id)
        finish_session(store, session.id, rater.id)
    records = store.list_ratings(study.id)
    reasons = screen(records)
    for record in records:
        if record.rater_id == bad.id:
            assert record.qualification_reasons == (HEADPHONE_REASON, "listened without headphones")
            assert HEADPHONE_REASON in reasons[record.rating_id]
        else:
            assert record.qualification_reasons == () and HEADPHONE_REASON not in reasons[record.rating_id]
