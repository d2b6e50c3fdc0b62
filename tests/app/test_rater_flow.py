"""The rater's path around the rating pages, without a browser: introduction, training, locked choices,
crowdsourcing (participant link, completion link, quota)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import messages, steps
from tests.support.app import Clock, expected_answer, listen, make_services, run_training, start


@pytest.fixture()
def clock() -> Clock:
    return Clock()


def test_a_new_visitor_reads_the_introduction_with_trials_and_duration_before_consent(
    tmp_path: Path, clock: Clock
) -> None:
    services = make_services(tmp_path, clock=clock, study_fields={"purpose": "We compare two separators."})
    visit, view, stored = steps.open_visit(services, None, {})
    assert view.stage == "intro" and stored == {}
    assert "We compare two separators." in view.text
    assert "6 clips, one per page, after 3 practice pages" in view.text and "about 2 minutes" in view.text
    visit, view = steps.introduced(services, visit)
    assert view.stage == "consent" and services.store.study_ids() == ["app-acr"]
    assert services.store.list_ratings() == []  # reading the introduction creates nothing


def test_the_introduction_of_a_mushra_study_counts_pages_and_uses_the_default_purpose(
    tmp_path: Path, clock: Clock
) -> None:
    services = make_services(tmp_path, "mushra", clock=clock)
    _, view, _ = steps.open_visit(services, None, {})
    assert messages.PURPOSE in view.text and "2 pages of 6 clips each, after 1 practice page" in view.text


def test_training_cannot_be_skipped_and_shows_the_best_and_worst_ends_of_the_scale_first(
    tmp_path: Path, clock: Clock
) -> None:
    services = make_services(tmp_path, clock=clock)
    visit, _ = start(services)
    visit, view = steps.begin(services, visit)
    examples = []
    while view.stage == "page" and view.training:
        title = view.title
        visit, skipped = steps.submit(services, visit, [3], [])  # not played: refused, the page stays
        assert skipped.stage == "notice" and skipped.notice == messages.LISTEN_FIRST
        listen(services, visit, clock, seconds=0.1)  # cut short: still refused
        assert steps.submit(services, visit, [3], [])[1].notice == messages.LISTEN_FIRST
        examples.append((view.example, condition_of(services, visit)))
        listen(services, visit, clock)
        visit, view = steps.submit(services, visit, [None], [])  # practice: played is enough, no answer needed
        assert view.title != title
    assert examples == [("best", "reference"), ("worst", "mixture"), ("", "sepformer")]
    assert view.stage == "page" and not view.training and services.store.list_ratings() == []


def test_a_training_example_is_announced_over_its_clip(tmp_path: Path, clock: Clock) -> None:
    services = make_services(
        tmp_path, clock=clock, study_fields={"conditions": ["reference", "anchor_lp3500", "sepformer"]}
    )
    visit, _ = start(services)
    visit, best = steps.begin(services, visit)
    listen(services, visit, clock)
    visit, worst = steps.submit(services, visit, [None], [])
    assert (best.example, worst.example) == ("best", "worst")
    assert condition_of(services, visit) == "anchor_lp3500"  # the lowest anchor, not the mixture
    assert messages.training_example("best") != messages.training_example("worst")


def test_mushra_training_needs_every_clip_played(tmp_path: Path, clock: Clock) -> None:
    services = make_services(tmp_path, "mushra", clock=clock)
    visit, _ = start(services)
    visit, view = steps.begin(services, visit)
    for slot in range(5):
        listen(services, visit, clock, slot, seconds=0.2)
    visit, refused = steps.submit(services, visit, [], [50] * 6)
    assert refused.stage == "notice" and "F not played" in refused.notice and view.example == ""
    listen(services, visit, clock, 5, seconds=0.2)
    visit, view = steps.submit(services, visit, [], [50] * 6)
    assert view.stage == "page" and not view.training


def condition_of(services, visit: steps.Visit) -> str:
    """The condition of the clip on screen (the test may look behind the blind label)."""
    path = visit.page.clips[0].path
    return next(s.condition for s in services.stimuli.stimuli.values() if s.path == path)


@pytest.mark.parametrize("protocol, answers", [("acr", [None]), ("p835", [None, None, None]), ("p835", [4, None, 4])])
def test_locked_choices_ask_to_play_the_clip_not_to_answer(
    tmp_path: Path, clock: Clock, protocol: str, answers: list
) -> None:
    services = make_services(tmp_path, protocol, clock=clock)
    visit, _ = start(services)
    view = run_training(services, visit, clock)
    assert not view.clips[0].enabled  # the choices are locked: nothing answered yet
    visit, locked = steps.submit(services, visit, answers, [])
    assert locked.stage == "notice" and locked.notice == messages.LISTEN_FIRST
    listen(services, visit, clock)
    visit, open_ = steps.submit(services, visit, answers, [])
    assert open_.notice == messages.ANSWER_ALL  # played: now the missing answers are what is wrong
    assert services.store.list_ratings() == []


CROWD = {
    "ask_participant_id": True,
    "completion_url": "https://app.prolific.com/submissions/complete?cc={code}",
    "quota": 1,
}


def finish(services, visit: steps.Visit, clock: Clock) -> steps.View:
    """Training and every rating page of the visit's session, answering as expected."""
    view = run_training(services, visit, clock)
    while view.stage == "page":
        listen(services, visit, clock)
        visit, view = steps.submit(services, visit, [expected_answer(services, visit)], [])
    return view


def test_a_crowdsourced_visit_takes_the_id_from_the_url_and_ends_with_the_code_and_its_return_link(
    tmp_path: Path, clock: Clock
) -> None:
    services = make_services(tmp_path, clock=clock, study_fields=CROWD)
    visit, stored = start(services, {"workerId": " w-17 "})  # MTurk's parameter, one of the defaults
    assert services.store.get_rater(stored["rater_id"]).participant_id == "w-17"
    done = finish(services, visit, clock)
    assert done.stage == "done" and done.code.startswith("APP-") and done.code in done.text
    assert done.link == f"https://app.prolific.com/submissions/complete?cc={done.code}"
    assert f'href="{done.link}"' in messages.return_link(done.link)
    _, again, _ = steps.open_visit(services, stored, {"workerId": "w-17"})  # back later: the same code and link
    assert (again.stage, again.code, again.link) == ("done", done.code, done.link)


def test_only_the_study_s_url_parameters_name_the_participant(tmp_path: Path, clock: Clock) -> None:
    services = make_services(tmp_path, clock=clock, study_fields={**CROWD, "participant_params": ["PID"]})
    visit, _, _ = steps.open_visit(services, None, {"PROLIFIC_PID": "ignored", "PID": "p-1"})
    assert visit.participant_id == "p-1"
    visit, view, _ = steps.open_visit(services, None, {"PROLIFIC_PID": "ignored"})
    assert visit.participant_id is None and steps.introduced(services, visit)[1].ask_participant_id


def test_once_the_quota_of_completed_sessions_is_reached_new_visitors_are_told_the_study_is_full(
    tmp_path: Path, clock: Clock
) -> None:
    services = make_services(tmp_path, clock=clock, study_fields=CROWD)
    first, _ = start(services, {"PROLIFIC_PID": "a"})
    second, _ = start(services, {"PROLIFIC_PID": "b"})  # started before the quota was reached
    late, view, _ = steps.open_visit(services, None, {"PROLIFIC_PID": "c"})
    assert view.stage == "intro"  # still open: nobody has finished yet
    assert finish(services, first, clock).stage == "done"
    _, full, _ = steps.open_visit(services, None, {"PROLIFIC_PID": "d"})
    assert full.stage == "message" and full.text == messages.STUDY_FULL
    _, refused, _ = steps.consent(services, late)  # read the introduction before the quota was reached
    assert refused.stage == "message" and refused.text == messages.STUDY_FULL
    assert finish(services, second, clock).stage == "done"  # a session already started is finished
    assert services.store.study_full("app-acr")


def test_without_a_completion_url_the_done_page_has_the_code_and_no_link(tmp_path: Path, clock: Clock) -> None:
    services = make_services(tmp_path, clock=clock)
    visit, _ = start(services)
    done = finish(services, visit, clock)
    assert done.code and done.link == "" and messages.return_link("") == ""
    assert not services.store.study_full("app-acr")  # no quota: never full


def test_the_page_before_the_test_asks_p808s_questions_and_the_headphone_check_once(
    tmp_path: Path, clock: Clock
) -> None:
    import numpy as np
    import soundfile as sf

    before = {"questions": True, "headphone_check": True}
    services = make_services(tmp_path, clock=clock, study_fields={"before_test": before})
    visit, view, _ = steps.open_visit(services, None, {})
    visit, view = steps.introduced(services, visit)
    visit, view, stored = steps.consent(services, visit)
    assert view.stage == "before" and view.questions and len(view.check_clips) == 6
    assert "Put on your headphones" in view.text
    assert steps.open_visit(services, stored, {})[1].stage == "before"  # a reload before answering: asked again
    picks = []
    for clip in view.check_clips:  # a listener on headphones: the tone of least energy in one ear
        audio, sr = sf.read(clip, always_2d=True)
        step, n = int(1.5 * sr), sr
        picks.append(int(np.argmin([np.sum(audio[k * step : k * step + n, 0] ** 2) for k in range(3)])))
    answers = {"device": "over_ear", "environment": "quiet", "hearing": "normal", "last_test": "never"}
    visit, refused = steps.qualify(services, visit, answers, picks)  # one question left unanswered
    assert refused.stage == "notice" and "answer every question" in refused.notice
    visit, view = steps.qualify(services, visit, {**answers, "expert": "no"}, picks)
    assert view.stage == "instructions"
    assert services.store.qualification(visit.rater_id).headphone_correct == 6
    _, again, _ = steps.open_visit(services, stored, {})  # a reload after answering: not asked again
    assert again.stage == "instructions"
