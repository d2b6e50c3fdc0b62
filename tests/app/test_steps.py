"""The rater's steps without a browser: consent, training, rating pages, resume, idempotency, blindness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app import steps
from app.lab_run import EXAMPLES_CSV
from app.messages import ANSWER_ALL, LISTEN_FIRST, OTHER_TAB
from app.steps import Visit
from tests.support.app import Clock, expected_answer, listen, make_services, run_training, start


@pytest.fixture()
def clock() -> Clock:
    return Clock()


def services_for(tmp_path: Path, clock: Clock, protocol: str = "acr", **settings: object):
    return make_services(tmp_path, protocol, clock=clock, **settings)


def test_acr_session_from_consent_to_completion_code(tmp_path: Path, clock: Clock) -> None:
    services = services_for(tmp_path, clock)
    visit, _ = start(services)
    view = run_training(services, visit, clock)
    assert services.store.list_ratings() == []  # training answers are not stored
    given = 0
    while view.stage == "page":
        assert view.title.startswith("Page ") and view.clips[0].label.startswith("Clip ")
        assert view.progress == (visit.page.index, visit.page.total)
        visit, early = steps.submit(services, visit, [3], [])
        assert early.stage == "notice" and early.notice == LISTEN_FIRST
        assert listen(services, visit, clock)
        visit, blank = steps.submit(services, visit, [None], [])
        assert blank.notice == ANSWER_ALL
        visit, view = steps.submit(services, visit, [expected_answer(services, visit)], [])
        given += 1
    assert view.stage == "done" and "APP-" in view.text
    stored = services.store.list_ratings()
    assert len(stored) == given == 6  # 4 test clips + 1 trap + 1 gold
    assert {r.kind for r in stored} == {"test", "trap", "gold"}
    assert all(r.listen_s == pytest.approx(r.duration_s + 0.05) for r in stored)


def test_a_clip_cut_short_is_refused_on_the_server(tmp_path: Path, clock: Clock) -> None:
    services = services_for(tmp_path, clock)
    visit, _ = start(services)
    run_training(services, visit, clock)
    steps.played(services, visit, 0)
    clock.now += 0.05  # skipped to the end almost at once
    steps.ended(services, visit, 0)
    visit, view = steps.submit(services, visit, [3], [])
    assert view.notice == LISTEN_FIRST
    assert services.store.list_ratings() == []


def test_reload_resumes_the_session_and_keeps_the_completion_code(tmp_path: Path, clock: Clock) -> None:
    services = services_for(tmp_path, clock)
    visit, stored = start(services)
    view = run_training(services, visit, clock)
    for _ in range(2):
        listen(services, visit, clock)
        visit, view = steps.submit(services, visit, [expected_answer(services, visit)], [])
    page_before = visit.page.index
    again, view, kept = steps.open_visit(services, stored, {})  # reload, or the tab closed and reopened
    assert view.stage == "page" and again.page.index == page_before
    assert (again.rater_id, again.session_id) == (visit.rater_id, visit.session_id) and kept == stored
    while view.stage == "page":
        listen(services, again, clock)
        again, view = steps.submit(services, again, [expected_answer(services, again)], [])
    code = services.store.progress(again.session_id).completion_code
    _, view, _ = steps.open_visit(services, stored, {})
    assert view.stage == "done" and code in view.text
    assert len(services.store.list_ratings()) == 6


def test_double_clicks_and_a_second_tab_store_each_rating_once(tmp_path: Path, clock: Clock) -> None:
    services = services_for(tmp_path, clock)
    visit, stored = start(services)
    run_training(services, visit, clock)
    listen(services, visit, clock)
    visit, _ = steps.submit(services, visit, [expected_answer(services, visit)], [])
    second, view, _ = steps.open_visit(services, stored, {})  # the same rater in another tab
    assert second.page.clips[0].assignment_id == visit.page.clips[0].assignment_id
    listen(services, visit, clock)
    listen(services, second, clock)
    stale = Visit(**visit.__dict__)
    answer = expected_answer(services, visit)
    visit, first = steps.submit(services, visit, [answer], [])
    _, repeat = steps.submit(services, stale, [answer], [])  # the same request again (a retry) replays
    _, other = steps.submit(services, second, [6 - answer], [])  # another score from the other tab: the first stays
    assert repeat.stage == "page" and repeat.title == first.title and not repeat.notice
    assert other.notice == OTHER_TAB
    ratings = services.store.list_ratings()
    assert len(ratings) == 2 and ratings[1].score == answer


def test_p835_asks_three_scales_in_the_session_order(tmp_path: Path, clock: Clock) -> None:
    services = services_for(tmp_path, clock, "p835")
    visit, _ = start(services)
    view = run_training(services, visit, clock)
    assert set(view.scales) == {"sig", "bak", "ovrl"} and view.scales[-1] == "ovrl"
    listen(services, visit, clock)
    visit, partial = steps.submit(services, visit, [4, None, 4], [])
    assert partial.notice == ANSWER_ALL
    answer = expected_answer(services, visit)
    visit, view = steps.submit(services, visit, [answer, answer, answer], [])
    assert sorted(r.scale for r in services.store.list_ratings()) == ["bak", "ovrl", "sig"]


def test_mushra_page_needs_every_clip_played_and_saves_one_score_each(tmp_path: Path, clock: Clock) -> None:
    services = services_for(tmp_path, clock, "mushra")
    visit, _ = start(services)
    visit, view = steps.begin(services, visit)
    assert view.training and view.reference is not None
    for slot in range(6):  # training cannot be skipped: every clip is played first
        listen(services, visit, clock, slot, seconds=0.2)
    visit, view = steps.submit(services, visit, [], [50] * 6)
    assert not view.training and len(view.clips) == 6 and view.reference is not None
    assert [c.label for c in view.clips] == list("ABCDEF") and all(c.enabled for c in view.clips)
    for slot in range(5):
        listen(services, visit, clock, slot, seconds=0.2)
    visit, missing = steps.submit(services, visit, [], [70, 60, 50, 40, 30, 20])
    assert missing.stage == "notice" and "F not played" in missing.notice
    steps.played(services, visit, 5)
    clock.now += 0.3
    visit, view = steps.submit(services, visit, [], [70, 60, 50, 40, 30, 20])
    saved = services.store.list_ratings()
    assert sorted(r.score for r in saved) == [20, 30, 40, 50, 60, 70] and {r.scale for r in saved} == {"mushra"}
    assert max(r.listen_s for r in saved) == pytest.approx(0.3)


def test_served_clips_are_blind(tmp_path: Path, clock: Clock) -> None:
    services = services_for(tmp_path, clock, "mushra")
    visit, _ = start(services)
    visit, view = steps.begin(services, visit)
    for slot in range(6):  # training cannot be skipped: every clip is played first
        listen(services, visit, clock, slot, seconds=0.2)
    visit, view = steps.submit(services, visit, [], [50] * 6)
    served = [Path(c.audio) for c in view.clips] + [Path(view.reference)]
    conditions = ("reference", "mixture", "anchor", "sepformer")
    assert not any(c in p.name for p in served for c in conditions)
    hidden = next(Path(c.audio) for c, src in zip(view.clips, visit.page.clips) if src.path == visit.page.reference)
    assert hidden.read_bytes() != Path(view.reference).read_bytes()  # not even the bytes match
    np.testing.assert_array_equal(sf.read(hidden)[0], sf.read(view.reference)[0])


def test_participant_id_comes_from_the_url_when_the_study_asks(tmp_path: Path, clock: Clock) -> None:
    services = services_for(tmp_path, clock, study_fields={"ask_participant_id": True})
    visit, view, _ = steps.open_visit(services, None, {"PROLIFIC_PID": "5f00aa"})
    visit, view = steps.introduced(services, visit)
    assert view.stage == "consent" and not view.ask_participant_id
    visit, view, stored = steps.consent(services, visit)
    assert services.store.get_rater(stored["rater_id"]).participant_id == "5f00aa"
    _, view = steps.introduced(services, steps.open_visit(services, None, {})[0])
    assert view.ask_participant_id  # no id in the URL: the consent page asks for it
    other, view, _ = steps.open_visit(services, stored, {"PROLIFIC_PID": "someone-else"})
    assert view.stage == "intro"  # the stored rater is another participant's: a new visitor


def test_unbuilt_study_shows_a_message(tmp_path: Path, clock: Clock) -> None:
    build = {"dir": str(tmp_path / "unbuilt"), "build": {"mixtures": str(EXAMPLES_CSV)}}
    services = services_for(tmp_path, clock, study_fields={"stimuli": build})
    _, view, _ = steps.open_visit(services, None, {})
    # The app builds a study with a build section itself on first start (app.services.prepare_stimuli).
    assert view.stage == "message" and "being prepared" in view.text and "reload" in view.text


def test_a_clip_skipped_to_its_end_and_restarted_is_not_heard_however_late_the_rating(
    tmp_path: Path, clock: Clock
) -> None:
    services = services_for(tmp_path, clock)
    visit, _ = start(services)
    run_training(services, visit, clock)
    listen(services, visit, clock, seconds=0.0)  # skipped straight to the end
    steps.played(services, visit, 0)  # restarted, and still playing...
    clock.now += 10 * visit.page.clips[0].duration_s  # ...long past the clip's length (a slow server)
    visit, view = steps.submit(services, visit, [expected_answer(services, visit)], [])
    assert view.stage == "notice" and view.notice == LISTEN_FIRST and not services.store.list_ratings()
    steps.paused(services, visit, 0)
    steps.ended(services, visit, 0)
    visit, view = steps.submit(services, visit, [expected_answer(services, visit)], [])
    assert view.stage == "page" and len(services.store.list_ratings()) == 1


def test_a_tab_whose_server_state_is_gone_is_asked_to_reload_and_then_resumes(tmp_path: Path, clock: Clock) -> None:
    """After a restart the page sends no server state (None): no crash, a reload resumes the session."""
    services = services_for(tmp_path, clock)
    visit, stored = start(services)
    run_training(services, visit, clock)
    listen(services, visit, clock)
    visit, view = steps.submit(services, visit, [expected_answer(services, visit)], [])
    assert view.stage == "page" and len(services.store.list_ratings()) == 1
    for event in (steps.played, steps.paused, steps.ended):
        event(services, None, 0)  # players of a stale page: ignored
    _, view = steps.submit(services, None, [3], [])
    assert view.stage == "message" and "reload" in view.text
    _, view = steps.begin(services, None)
    assert view.stage == "message" and "reload" in view.text
    assert len(services.store.list_ratings()) == 1
    resumed, view, _ = steps.open_visit(services, stored, {})
    assert view.stage == "page" and resumed.session_id == visit.session_id and view.progress[0] == visit.page.index
