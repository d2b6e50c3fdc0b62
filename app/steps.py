"""The rater's steps through a listening test: introduction, consent, instructions, training, rating pages,
completion code.

Plain functions over a per-tab `Visit`, free of Gradio; each returns a `View` that `app.rater` renders.
Every rating is saved through the listening_tests Store the moment its page is submitted, with a submission
key derived from (session, clip, scale), so double clicks and a second tab replay instead of duplicating.
Listening is checked on the server: the audio players report play/pause/end events to the
`app.playback.ListenLog`, and an ACR/P.835 clip is accepted only after it was heard to the end (CCR and A/B:
both clips of the pair); the MUSHRA panel reports every switch of what is heard, so each condition's time
counts only while it was the one heard.
"""

from __future__ import annotations

import secrets
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from app import messages
from app.mushra import read_answer
from app.services import Services
from listening_tests.assignment import Page
from listening_tests.estimate import estimate_session
from listening_tests.headphones import write_check_clips
from listening_tests.protocols import COMPARISON_PROTOCOLS
from listening_tests.storage import MAX_LISTEN_S, RatingError, StoreError, StudyFullError
from listening_tests.study import CODE_FIELD, check_conditions

CHECK_RATE = 16000  # sample rate of the headphone check's tones
LISTEN_TOLERANCE_S = 0.25  # event timing jitter allowed between "played to the end" and the clip duration


@dataclass
class ClipView:
    """One clip as shown: its blind label, the served file and whether its rating controls are usable."""

    label: str
    audio: str
    enabled: bool


@dataclass
class View:
    """What the listening-test tab shows.

    stage: message | intro | consent | before | instructions | page | done, or notice (keep the page, show
    `notice`).
    """

    stage: str
    text: str = ""
    notice: str = ""
    title: str = ""
    protocol: str = ""
    scales: tuple[str, ...] = ()
    clips: tuple[ClipView, ...] = ()
    reference: str | None = None
    progress: tuple[int, int] = (0, 0)
    training: bool = False
    example: str = ""  # a training page showing one end of the scale: best | worst
    ask_participant_id: bool = False
    code: str = ""  # the completion code (done)
    link: str = ""  # the study's completion address with the code (done; '' without a completion_url)
    page_key: str = ""  # names the page on screen, so an answer meant for another page is not saved on this one
    questions: bool = False  # before: P.808's questions are asked
    check_clips: tuple[str, ...] = ()  # before: the headphone check's trials, in the rater's order


@dataclass
class Visit:
    """Server-side state of one browser tab."""

    tab: str = field(default_factory=lambda: secrets.token_hex(8))
    rater_id: str | None = None
    session_id: str | None = None
    participant_id: str | None = None
    training: list[Page] = field(default_factory=list)
    training_index: int = 0
    page: Page | None = None  # the page on screen
    layout: tuple | None = None  # what the tab's boxes and scales show (kept by app.rater to send only changes)


def open_visit(services: Services, stored: Mapping | None, query: Mapping[str, str]) -> tuple[Visit, View, dict]:
    """A tab opens: resume the rater kept in browser storage, or show a new visitor the introduction."""
    visit = Visit()
    stored = dict(stored or {})
    if services.study_problem or services.study is None:
        return visit, View("message", text=messages.unavailable(services.study_problem)), stored
    study = services.study
    visit.participant_id = _participant(query, study.participant_params) if study.ask_participant_id else None
    rater = services.store.get_rater(str(stored["rater_id"])) if stored.get("rater_id") else None
    if (
        rater is None
        or rater.study_id != services.study.id
        or (visit.participant_id and rater.participant_id != visit.participant_id)
    ):
        if services.store.study_full(study.id):  # the quota of completed sessions is reached
            return visit, View("message", text=messages.STUDY_FULL), {}
        return visit, _intro_view(services), {}
    visit.rater_id = rater.id
    session = services.store.get_session(str(stored.get("session_id") or ""))
    if session is not None and session.rater_id == rater.id and session.finished:
        visit.session_id = session.id
        return visit, _done_view(services, visit), stored
    try:
        session = services.store.start_session(rater.id)
    except StudyFullError:
        return visit, View("message", text=messages.STUDY_FULL), stored
    except StoreError as exc:
        return visit, View("message", text=str(exc)), stored
    visit.session_id = session.id
    stored = {"rater_id": rater.id, "session_id": session.id}
    if services.store.progress(session.id).ratings_done == 0:
        return visit, _after_consent_view(services, visit), stored
    return visit, _rating_view(services, visit), stored


def introduced(services: Services, visit: Visit | None) -> tuple[Visit, View]:
    """The rater has read the introduction: the consent page."""
    visit = visit or Visit()
    if services.study is None or services.study_problem:
        return visit, View("message", text=messages.unavailable(services.study_problem))
    return visit, _consent_view(services, visit)


def consent(services: Services, visit: Visit | None, participant_text: str = "") -> tuple[Visit, View, dict | None]:
    """The rater agrees: create the pseudonymous rater and the session; browser storage keeps both.

    `visit` is None when the tab's server state is gone (a restart): that tab starts as a new one.
    """
    visit = visit or Visit()
    if services.study is None or services.study_problem:
        return visit, View("message", text=messages.unavailable(services.study_problem)), None
    participant = None
    if services.study.ask_participant_id:
        participant = visit.participant_id or (participant_text or "").strip() or None
    try:
        rater = services.store.create_rater(services.study.id, participant)
        session = services.store.start_session(rater.id)
    except StudyFullError:
        return visit, View("message", text=messages.STUDY_FULL), None
    except StoreError as exc:
        view = _consent_view(services, visit)
        view.notice = str(exc)
        return visit, view, None
    visit.rater_id, visit.session_id, visit.participant_id = rater.id, session.id, participant
    services.store.log_event("consent_given", study_id=services.study.id, rater_id=rater.id, session_id=session.id)
    return visit, _after_consent_view(services, visit), {"rater_id": rater.id, "session_id": session.id}


def qualify(
    services: Services, visit: Visit | None, answers: Mapping[str, str | None], picks: Sequence[int | None]
) -> tuple[Visit, View]:
    """The rater answered the questions and the headphone check (`picks`: the quietest tone per trial, 0-2):
    stored once, scored on the server (listening_tests.qualification); then the instructions."""
    visit = visit or Visit()
    if visit.rater_id is None or services.study is None:
        return visit, View("message", text=messages.RELOAD)
    try:
        services.store.save_qualification(visit.rater_id, answers, picks)
    except StoreError as exc:
        return visit, View("notice", notice=str(exc))
    return visit, _instructions_view(services)


def begin(services: Services, visit: Visit | None) -> tuple[Visit, View]:
    """After the instructions: the training pages, then the rating pages (None: ask for a reload)."""
    visit = visit or Visit()
    if visit.session_id is None or visit.rater_id is None:
        return visit, View("message", text=messages.RELOAD)
    try:
        visit.training = services.store.training_pages(visit.session_id, visit.rater_id)
    except StoreError as exc:
        return visit, View("message", text=str(exc))
    visit.training_index = 0
    return visit, _training_or_rating_view(services, visit)


def played(services: Services, visit: Visit | None, slot: int) -> None:
    """The player of clip `slot` started."""
    key = _listen_key(visit, slot)
    if key is not None:
        services.listens.play(key)


def paused(services: Services, visit: Visit | None, slot: int) -> None:
    """The player of clip `slot` stopped."""
    key = _listen_key(visit, slot)
    if key is not None:
        services.listens.pause(key)


def ended(services: Services, visit: Visit | None, slot: int) -> bool:
    """The player of clip `slot` reached the end; returns whether the page's answers open (every clip heard)."""
    key = _listen_key(visit, slot)
    if key is None:
        return False
    services.listens.end(key)
    return all(services.listens.heard(_key(visit, visit.page, s))[2] for s in range(len(visit.page.clips)))


def switched(services: Services, visit: Visit | None, previous: int, current: int) -> None:
    """The MUSHRA panel switched what is heard from clip `previous` to clip `current` (-1: the reference or
    silence), so each condition's listening time counts only while it was the one heard."""
    if previous >= 0:
        paused(services, visit, previous)
    if current >= 0:
        played(services, visit, current)


def submit_panel(services: Services, visit: Visit | None, data: object) -> tuple[Visit, View]:
    """Save the MUSHRA panel's answer ({page, scores}, `app.mushra.read_answer`); one for another page is ignored."""
    visit = visit or Visit()
    page = visit.page
    if page is None or page.protocol != "mushra":
        return visit, View("message", text=messages.RELOAD)
    answer = read_answer(data, len(page.clips))
    if answer is None:
        return visit, View("notice", notice=messages.RELOAD)
    if answer.page != _page_key(page):  # a second click on a page already saved: the next page stays
        return visit, View("notice")
    return submit(services, visit, [], answer.scores)


def submit(
    services: Services, visit: Visit | None, answers: Sequence[int | None], sliders: Sequence[float | None]
) -> tuple[Visit, View]:
    """Save the page on screen (answers: one per scale in page order; sliders: one per MUSHRA clip).

    A tab whose server state is gone (`visit` None, after a restart) is asked to reload, which resumes it.
    """
    visit = visit or Visit()
    page = visit.page
    if page is None or visit.session_id is None or visit.rater_id is None:
        return visit, View("message", text=messages.RELOAD)
    if page.training:  # practice: nothing is stored, but every clip must be played before going on
        problem = _listening_problem(services, visit, page)
        if problem:
            return visit, View("notice", notice=problem)
        visit.training_index += 1
        return visit, _training_or_rating_view(services, visit)
    # Listening first: the choices stay locked until the clip has been played, so "answer every question"
    # would name a thing the rater cannot do yet.
    problem = _listening_problem(services, visit, page)
    scores, unanswered = _scores(page, answers, sliders)
    problem = problem or unanswered
    if problem:
        return visit, View("notice", notice=problem)
    replayed = False
    try:
        for (slot, scale), score in scores.items():
            clip = page.clips[slot]
            seconds = min(services.listens.heard(_key(visit, page, slot))[0], MAX_LISTEN_S)
            key = f"{visit.session_id}.{clip.assignment_id}.{scale}"
            saved = services.store.save_rating(
                visit.session_id, visit.rater_id, clip.assignment_id, scale, score, seconds, key
            )
            replayed = replayed or saved.score != score
    except RatingError as exc:
        return visit, _rating_view(services, visit, notice=str(exc))
    return visit, _rating_view(services, visit, notice=messages.OTHER_TAB if replayed else "")


def _participant(query: Mapping[str, str], params: Sequence[str]) -> str | None:
    for name in params:
        value = (query.get(name) or "").strip()
        if value:
            return value
    return None


def _key(visit: Visit, page: Page, slot: int) -> tuple[str, str]:
    clip = page.clips[slot]
    token = f"t{page.index}.{slot}" if page.training else f"a{clip.assignment_id}"
    return visit.tab, token


def _page_key(page: Page) -> str:
    return f"{'training' if page.training else 'page'}-{page.index}"


def _listen_key(visit: Visit | None, slot: int) -> tuple[str, str] | None:
    if visit is None or visit.page is None or not 0 <= slot < len(visit.page.clips):
        return None
    return _key(visit, visit.page, slot)


def _scores(
    page: Page, answers: Sequence[int | None], sliders: Sequence[float | None]
) -> tuple[dict[tuple[int, str], float], str]:
    """{(slot, scale): score} still to save on the page, or a problem sentence."""
    scores: dict[tuple[int, str], float] = {}
    if page.protocol == "mushra":
        untouched = []
        for slot, clip in enumerate(page.clips):
            if "mushra" not in clip.rated:
                value = sliders[slot] if slot < len(sliders) else None
                if value is None:
                    untouched.append(clip.label)
                else:
                    scores[(slot, "mushra")] = float(value)
        return ({}, messages.untouched_sliders(untouched)) if untouched else (scores, "")
    clip = page.clips[page.answered]  # ACR/P.835: the one clip; CCR/A/B: condition b's clip
    for index, scale in enumerate(page.scales):
        if scale in clip.rated:
            continue
        value = answers[index] if index < len(answers) else None
        if value is None:
            return {}, messages.ANSWER_ALL
        scores[(page.answered, scale)] = value
    return scores, ""


def _listening_problem(services: Services, visit: Visit, page: Page) -> str:
    """Why the page cannot be saved yet (clips not heard), or ''."""
    if page.protocol == "mushra":
        missing = [c.label for s, c in enumerate(page.clips) if not services.listens.heard(_key(visit, page, s))[1]]
        return messages.play_every_clip(missing) if missing else ""
    for slot, clip in enumerate(page.clips):  # ACR/P.835: one clip; CCR/A/B: both clips of the pair
        key = _key(visit, page, slot)
        finished = services.listens.heard(key)[2]
        if not finished or services.listens.completed_seconds(key) < clip.duration_s - LISTEN_TOLERANCE_S:
            return messages.LISTEN_BOTH if len(page.clips) > 1 else messages.LISTEN_FIRST
    return ""


def _intro_view(services: Services) -> View:
    study = services.study
    estimate = estimate_session(study, services.stimuli, check_conditions(study, services.stimuli.conditions))
    pairs = study.protocol in COMPARISON_PROTOCOLS
    return View("intro", text=messages.introduction(study.purpose, study.protocol == "mushra", estimate, pairs))


def _consent_view(services: Services, visit: Visit) -> View:
    study = services.study
    ask = bool(study.ask_participant_id and not visit.participant_id)
    return View("consent", text=study.consent, ask_participant_id=ask)


def _after_consent_view(services: Services, visit: Visit) -> View:
    """The page before the test when the study asks for one and the rater has not answered it, else the
    instructions."""
    before = services.study.before_test
    if before.asked and services.store.qualification(visit.rater_id) is None:
        trials = services.store.headphone_plan(visit.rater_id)
        clips = write_check_clips(services.runtime_dir / "headphones", CHECK_RATE) if trials else {}
        return View(
            "before",
            title=messages.BEFORE_TITLE,
            text=messages.before_test(before.questions, len(trials)),
            questions=before.questions,
            check_clips=tuple(str(services.blind.copy(clips[trial])) for trial in trials),
        )
    return _instructions_view(services)


def _instructions_view(services: Services) -> View:
    return View("instructions", text=services.study.instructions)


def _done_view(services: Services, visit: Visit) -> View:
    code = services.store.progress(visit.session_id).completion_code or ""
    template = services.study.completion_url
    link = template.replace(CODE_FIELD, urllib.parse.quote(code, safe="")) if template and code else ""
    return View("done", title=messages.FINISHED_TITLE, text=messages.completion(code), code=code, link=link)


def _training_or_rating_view(services: Services, visit: Visit) -> View:
    if visit.training_index < len(visit.training):
        visit.page = visit.training[visit.training_index]
        return _page_view(services, visit, visit.page)
    return _rating_view(services, visit)


def _rating_view(services: Services, visit: Visit, notice: str = "") -> View:
    try:
        page = services.store.next_page(visit.session_id, visit.rater_id)
    except StoreError as exc:
        return View("message", text=str(exc))
    visit.page = page
    if page is None:
        view = _done_view(services, visit)
        view.notice = notice
        return view
    return _page_view(services, visit, page, notice)


def _page_view(services: Services, visit: Visit, page: Page, notice: str = "") -> View:
    clips = tuple(
        ClipView(
            label=clip.label,
            audio=str(services.blind.copy(clip.path)),
            enabled=page.protocol == "mushra" or services.listens.heard(_key(visit, page, slot))[2],
        )
        for slot, clip in enumerate(page.clips)
    )
    return View(
        "page",
        notice=notice,
        title=messages.page_title(page.index, page.total, page.training),
        protocol=page.protocol,
        scales=page.scales,
        clips=clips,
        reference=str(services.blind.copy(page.reference)) if page.reference else None,
        progress=(page.index, page.total),
        training=page.training,
        example=page.example,
        page_key=_page_key(page),
    )
