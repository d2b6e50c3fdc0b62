"""Listening-test callbacks without a browser: consent, training, rating pages, resume, idempotency, blindness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app import rater
from app.lab import EXAMPLES_CSV
from app.rater import ANSWER_ALL, LISTEN_FIRST, OTHER_TAB, ListenLog, Visit
from tests.support.app import Clock, expected_answer, listen, make_lab, run_training, start


@pytest.fixture()
def clock() -> Clock:
    return Clock()


def lab_for(tmp_path: Path, clock: Clock, protocol: str = "acr", **settings: object):
    return make_lab(tmp_path, protocol, clock=clock, **settings)


def test_acr_session_from_consent_to_completion_code(tmp_path: Path, clock: Clock) -> None:
    lab = lab_for(tmp_path, clock)
    visit, _ = start(lab)
    view = run_training(lab, visit)
    assert lab.store.list_ratings() == []  # training answers are not stored
    given = 0
    while view.stage == "page":
        assert view.title.startswith("Page ") and view.clips[0].label.startswith("Clip ")
        assert view.progress == (visit.page.index, visit.page.total)
        visit, early = rater.submit(lab, visit, [3], [])
        assert early.stage == "notice" and early.notice == LISTEN_FIRST
        assert listen(lab, visit, clock)
        visit, blank = rater.submit(lab, visit, [None], [])
        assert blank.notice == ANSWER_ALL
        visit, view = rater.submit(lab, visit, [expected_answer(lab, visit)], [])
        given += 1
    assert view.stage == "done" and "APP-" in view.text
    stored = lab.store.list_ratings()
    assert len(stored) == given == 6  # 4 test clips + 1 trap + 1 gold
    assert {r.kind for r in stored} == {"test", "trap", "gold"}
    assert all(r.listen_s == pytest.approx(r.duration_s + 0.05) for r in stored)


def test_a_clip_cut_short_is_refused_on_the_server(tmp_path: Path, clock: Clock) -> None:
    lab = lab_for(tmp_path, clock)
    visit, _ = start(lab)
    run_training(lab, visit)
    rater.played(lab, visit, 0)
    clock.now += 0.05  # skipped to the end almost at once
    rater.ended(lab, visit, 0)
    visit, view = rater.submit(lab, visit, [3], [])
    assert view.notice == LISTEN_FIRST
    assert lab.store.list_ratings() == []


def test_reload_resumes_the_session_and_keeps_the_completion_code(tmp_path: Path, clock: Clock) -> None:
    lab = lab_for(tmp_path, clock)
    visit, stored = start(lab)
    view = run_training(lab, visit)
    for _ in range(2):
        listen(lab, visit, clock)
        visit, view = rater.submit(lab, visit, [expected_answer(lab, visit)], [])
    page_before = visit.page.index
    again, view, kept = rater.open_visit(lab, stored, {})  # reload, or the tab closed and reopened
    assert view.stage == "page" and again.page.index == page_before
    assert (again.rater_id, again.session_id) == (visit.rater_id, visit.session_id) and kept == stored
    while view.stage == "page":
        listen(lab, again, clock)
        again, view = rater.submit(lab, again, [expected_answer(lab, again)], [])
    code = lab.store.progress(again.session_id).completion_code
    _, view, _ = rater.open_visit(lab, stored, {})
    assert view.stage == "done" and code in view.text
    assert len(lab.store.list_ratings()) == 6


def test_double_clicks_and_a_second_tab_store_each_rating_once(tmp_path: Path, clock: Clock) -> None:
    lab = lab_for(tmp_path, clock)
    visit, stored = start(lab)
    run_training(lab, visit)
    listen(lab, visit, clock)
    visit, _ = rater.submit(lab, visit, [expected_answer(lab, visit)], [])
    second, view, _ = rater.open_visit(lab, stored, {})  # the same rater in another tab
    assert second.page.clips[0].assignment_id == visit.page.clips[0].assignment_id
    listen(lab, visit, clock)
    listen(lab, second, clock)
    stale = Visit(**visit.__dict__)
    answer = expected_answer(lab, visit)
    visit, first = rater.submit(lab, visit, [answer], [])
    _, repeat = rater.submit(lab, stale, [answer], [])  # the same request again (a retry) replays
    _, other = rater.submit(lab, second, [6 - answer], [])  # another score from the other tab: the first stays
    assert repeat.stage == "page" and repeat.title == first.title and not repeat.notice
    assert other.notice == OTHER_TAB
    ratings = lab.store.list_ratings()
    assert len(ratings) == 2 and ratings[1].score == answer


def test_p835_asks_three_scales_in_the_session_order(tmp_path: Path, clock: Clock) -> None:
    lab = lab_for(tmp_path, clock, "p835")
    visit, _ = start(lab)
    view = run_training(lab, visit)
    assert set(view.scales) == {"sig", "bak", "ovrl"} and view.scales[-1] == "ovrl"
    listen(lab, visit, clock)
    visit, partial = rater.submit(lab, visit, [4, None, 4], [])
    assert partial.notice == ANSWER_ALL
    answer = expected_answer(lab, visit)
    visit, view = rater.submit(lab, visit, [answer, answer, answer], [])
    assert sorted(r.scale for r in lab.store.list_ratings()) == ["bak", "ovrl", "sig"]


def test_mushra_page_needs_every_clip_played_and_saves_one_score_each(tmp_path: Path, clock: Clock) -> None:
    lab = lab_for(tmp_path, clock, "mushra")
    visit, _ = start(lab)
    visit, view = rater.begin(lab, visit)
    assert view.training and view.reference is not None
    visit, view = rater.submit(lab, visit, [], [50] * 6)
    assert not view.training and len(view.clips) == 6 and view.reference is not None
    assert [c.label for c in view.clips] == list("ABCDEF") and all(c.enabled for c in view.clips)
    for slot in range(5):
        listen(lab, visit, clock, slot, seconds=0.2)
    visit, missing = rater.submit(lab, visit, [], [70, 60, 50, 40, 30, 20])
    assert missing.stage == "notice" and "F not played" in missing.notice
    rater.played(lab, visit, 5)
    clock.now += 0.3
    visit, view = rater.submit(lab, visit, [], [70, 60, 50, 40, 30, 20])
    saved = lab.store.list_ratings()
    assert sorted(r.score for r in saved) == [20, 30, 40, 50, 60, 70] and {r.scale for r in saved} == {"mushra"}
    assert max(r.listen_s for r in saved) == pytest.approx(0.3)


def test_served_clips_are_blind(tmp_path: Path, clock: Clock) -> None:
    lab = lab_for(tmp_path, clock, "mushra")
    visit, _ = start(lab)
    visit, view = rater.begin(lab, visit)
    visit, view = rater.submit(lab, visit, [], [50] * 6)
    served = [Path(c.audio) for c in view.clips] + [Path(view.reference)]
    conditions = ("reference", "mixture", "anchor", "sepformer")
    assert not any(c in p.name for p in served for c in conditions)
    hidden = next(Path(c.audio) for c, src in zip(view.clips, visit.page.clips) if src.path == visit.page.reference)
    assert hidden.read_bytes() != Path(view.reference).read_bytes()  # not even the bytes match
    np.testing.assert_array_equal(sf.read(hidden)[0], sf.read(view.reference)[0])


def test_participant_id_comes_from_the_url_when_the_study_asks(tmp_path: Path, clock: Clock) -> None:
    lab = lab_for(tmp_path, clock, study_fields={"ask_participant_id": True})
    visit, view, _ = rater.open_visit(lab, None, {"PROLIFIC_PID": "5f00aa"})
    assert view.stage == "consent" and not view.ask_participant_id
    visit, view, stored = rater.consent(lab, visit)
    assert lab.store.get_rater(stored["rater_id"]).participant_id == "5f00aa"
    _, view, _ = rater.open_visit(lab, None, {})
    assert view.ask_participant_id  # no id in the URL: the consent page asks for it
    other, view, _ = rater.open_visit(lab, stored, {"PROLIFIC_PID": "someone-else"})
    assert view.stage == "consent"  # the stored rater is another participant's


def test_unbuilt_study_shows_a_message(tmp_path: Path, clock: Clock) -> None:
    build = {"dir": str(tmp_path / "unbuilt"), "build": {"mixtures": str(EXAMPLES_CSV)}}
    lab = lab_for(tmp_path, clock, study_fields={"stimuli": build})
    _, view, _ = rater.open_visit(lab, None, {})
    # The app builds a study with a build section itself on first start (app.context.prepare_stimuli).
    assert view.stage == "message" and "being prepared" in view.text and "reload" in view.text


def test_listen_log_adds_replays_and_accepts_pause_and_end_in_any_order(clock: Clock) -> None:
    log = ListenLog(clock)
    key = ("tab", "a1")
    log.end(key)
    assert log.heard(key) == (0.0, False, False)  # an end without a start proves nothing
    log.play(key)
    clock.now += 1.0
    log.end(key)
    log.pause(key)
    log.play(key)
    log.play(key)  # a repeated start event changes nothing
    clock.now += 0.5
    assert log.heard(key) == (1.5, True, True)
    assert log.heard(("tab", "a2")) == (0.0, False, False)
    assert log.completed_seconds(key) == 1.0  # the replay still running counts once it stops
    log.pause(key)
    assert log.completed_seconds(key) == 1.5


def test_a_clip_skipped_to_its_end_and_restarted_is_not_heard_however_late_the_rating(
    tmp_path: Path, clock: Clock
) -> None:
    lab = lab_for(tmp_path, clock)
    visit, _ = start(lab)
    run_training(lab, visit)
    listen(lab, visit, clock, seconds=0.0)  # skipped straight to the end
    rater.played(lab, visit, 0)  # restarted, and still playing...
    clock.now += 10 * visit.page.clips[0].duration_s  # ...long past the clip's length (a slow server)
    visit, view = rater.submit(lab, visit, [expected_answer(lab, visit)], [])
    assert view.stage == "notice" and view.notice == LISTEN_FIRST and not lab.store.list_ratings()
    rater.paused(lab, visit, 0)
    rater.ended(lab, visit, 0)
    visit, view = rater.submit(lab, visit, [expected_answer(lab, visit)], [])
    assert view.stage == "page" and len(lab.store.list_ratings()) == 1


def test_a_tab_whose_server_state_is_gone_is_asked_to_reload_and_then_resumes(tmp_path: Path, clock: Clock) -> None:
    """After a restart the page sends no server state (None): no crash, a reload resumes the session."""
    lab = lab_for(tmp_path, clock)
    visit, stored = start(lab)
    run_training(lab, visit)
    listen(lab, visit, clock)
    visit, view = rater.submit(lab, visit, [expected_answer(lab, visit)], [])
    assert view.stage == "page" and len(lab.store.list_ratings()) == 1
    for event in (rater.played, rater.paused, rater.ended):
        event(lab, None, 0)  # players of a stale page: ignored
    _, view = rater.submit(lab, None, [3], [])
    assert view.stage == "message" and "reload" in view.text
    _, view = rater.begin(lab, None)
    assert view.stage == "message" and "reload" in view.text
    assert len(lab.store.list_ratings()) == 1
    resumed, view, _ = rater.open_visit(lab, stored, {})
    assert view.stage == "page" and resumed.session_id == visit.session_id and view.progress[0] == visit.page.index
