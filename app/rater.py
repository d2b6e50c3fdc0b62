"""The rater's path through a listening test: consent, instructions, training, rating pages, completion code.

Plain functions over a per-tab `Visit`; each returns a `View` that `app.ui` renders. Every rating is
saved through the listening_tests Store the moment its page is submitted, with a submission key derived
from (session, clip, scale), so double clicks and a second tab replay instead of duplicating.
Listening is checked on the server: the audio players report play/pause/end events to a `ListenLog`,
and an ACR/P.835 clip is accepted only after it was heard to the end.
"""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import soundfile as sf

from listening_tests.assignment import Page
from listening_tests.storage import MAX_LISTEN_S, RatingError, StoreError, StudyFullError

if TYPE_CHECKING:
    from app.context import Lab

LISTEN_TOLERANCE_S = 0.25  # event timing jitter allowed between "played to the end" and the clip duration
PARTICIPANT_PARAMS = ("PROLIFIC_PID", "participant_id", "pid")
BLIND_MAX_AGE_S = 6 * 3600.0
LISTEN_MAX_AGE_S = 6 * 3600.0
LISTEN_MAX_ENTRIES = 50_000
RELOAD = "This page is out of date: please reload it to continue where you left off."
ANSWER_ALL = "Please answer every question on this page before continuing."
LISTEN_FIRST = "Please listen to the whole clip, to its end, before rating it."
OTHER_TAB = "This page had already been rated in another tab; those ratings were kept."


@dataclass
class ClipView:
    """One clip as shown: its blind label, the served file and whether its rating controls are usable."""

    label: str
    audio: str
    enabled: bool


@dataclass
class View:
    """What the listening-test tab shows.

    stage: message | consent | instructions | page | done, or notice (keep the page, show `notice`).
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
    ask_participant_id: bool = False


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


@dataclass
class _Listen:
    touched: float
    first: float | None = None
    since: float | None = None
    total: float = 0.0
    ended: bool = False


class ListenLog:
    """How long each clip has played in each tab, from the audio players' play/pause/end events.

    Records untouched for LISTEN_MAX_AGE_S are dropped once the log holds more than LISTEN_MAX_ENTRIES.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._clips: dict[tuple[str, str], _Listen] = {}

    def play(self, key: tuple[str, str]) -> None:
        """Playback started (a repeated start while playing changes nothing)."""
        with self._lock:
            entry = self._entry(key)
            entry.first = entry.first if entry.first is not None else entry.touched
            entry.since = entry.since if entry.since is not None else entry.touched

    def pause(self, key: tuple[str, str]) -> None:
        """Playback stopped for any reason."""
        with self._lock:
            self._close(self._entry(key))

    def end(self, key: tuple[str, str]) -> None:
        """Playback reached the end of the clip."""
        with self._lock:
            entry = self._entry(key)
            self._close(entry)
            entry.ended = entry.first is not None

    def heard(self, key: tuple[str, str]) -> tuple[float, bool, bool]:
        """(seconds played so far, whether it ever started, whether it played to the end)."""
        with self._lock:
            entry = self._clips.get(key)
            if entry is None:
                return 0.0, False, False
            running = self._clock() - entry.since if entry.since is not None else 0.0
            return entry.total + running, entry.first is not None, entry.ended

    def completed_seconds(self, key: tuple[str, str]) -> float:
        """Seconds of playback that has stopped: a replay still running does not count yet, so a clip
        skipped to its end and then restarted is not taken as heard however slowly the rating arrives."""
        with self._lock:
            entry = self._clips.get(key)
            return entry.total if entry is not None else 0.0

    def _entry(self, key: tuple[str, str]) -> _Listen:
        now = self._clock()
        if key not in self._clips and len(self._clips) >= LISTEN_MAX_ENTRIES:
            for old in [k for k, e in self._clips.items() if now - e.touched > LISTEN_MAX_AGE_S]:
                del self._clips[old]
        entry = self._clips.setdefault(key, _Listen(now))
        entry.touched = now
        return entry

    def _close(self, entry: _Listen) -> None:
        if entry.since is not None:
            entry.total += entry.touched - entry.since
            entry.since = None


class BlindFiles:
    """Copies of stimuli under random names, tagged with a random WAV comment.

    Neither a clip's URL, file name nor bytes reveal its condition: the open and the hidden MUSHRA
    reference get different files. Copies older than BLIND_MAX_AGE_S are removed.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._last_prune = 0.0

    def copy(self, source: Path) -> Path:
        """A fresh blind copy of the WAV file `source`."""
        token = secrets.token_hex(12)
        dest = self.folder / f"{token}.wav"
        shutil.copyfile(source, dest)
        with sf.SoundFile(dest, "r+") as f:  # metadata only: the samples are untouched
            f.comment = token
        self._prune()
        return dest

    def _prune(self) -> None:
        now = time.time()
        if now - self._last_prune < 600:
            return
        self._last_prune = now
        for path in self.folder.glob("*.wav"):
            try:
                if now - path.stat().st_mtime > BLIND_MAX_AGE_S:
                    path.unlink()
            except OSError:
                continue


# ------------------------------------------------------------------------------------------- flow


def open_visit(lab: Lab, stored: Mapping | None, query: Mapping[str, str]) -> tuple[Visit, View, dict]:
    """A tab opens: resume the rater kept in browser storage, or show the consent page."""
    visit = Visit()
    stored = dict(stored or {})
    if lab.study_problem or lab.study is None:
        return visit, View("message", text=f"The listening test is not available: {lab.study_problem}"), stored
    visit.participant_id = _participant(query) if lab.study.ask_participant_id else None
    rater = lab.store.get_rater(str(stored["rater_id"])) if stored.get("rater_id") else None
    if (
        rater is None
        or rater.study_id != lab.study.id
        or (visit.participant_id and rater.participant_id != visit.participant_id)
    ):
        return visit, _consent_view(lab, visit), {}
    visit.rater_id = rater.id
    session = lab.store.get_session(str(stored.get("session_id") or ""))
    if session is not None and session.rater_id == rater.id and session.finished:
        visit.session_id = session.id
        return visit, _done_view(lab, visit), stored
    try:
        session = lab.store.start_session(rater.id)
    except StoreError as exc:
        return visit, View("message", text=str(exc)), stored
    visit.session_id = session.id
    stored = {"rater_id": rater.id, "session_id": session.id}
    if lab.store.progress(session.id).ratings_done == 0:
        return visit, _instructions_view(lab), stored
    return visit, _rating_view(lab, visit), stored


def consent(lab: Lab, visit: Visit | None, participant_text: str = "") -> tuple[Visit, View, dict | None]:
    """The rater agrees: create the pseudonymous rater and the session; browser storage keeps both.

    `visit` is None when the tab's server state is gone (a restart): that tab starts as a new one.
    """
    visit = visit or Visit()
    if lab.study is None or lab.study_problem:
        return visit, View("message", text=f"The listening test is not available: {lab.study_problem}"), None
    participant = None
    if lab.study.ask_participant_id:
        participant = visit.participant_id or (participant_text or "").strip() or None
    try:
        rater = lab.store.create_rater(lab.study.id, participant)
        session = lab.store.start_session(rater.id)
    except StudyFullError as exc:
        return visit, View("message", text=str(exc)), None
    except StoreError as exc:
        view = _consent_view(lab, visit)
        view.notice = str(exc)
        return visit, view, None
    visit.rater_id, visit.session_id, visit.participant_id = rater.id, session.id, participant
    lab.store.log_event("consent_given", study_id=lab.study.id, rater_id=rater.id, session_id=session.id)
    return visit, _instructions_view(lab), {"rater_id": rater.id, "session_id": session.id}


def begin(lab: Lab, visit: Visit | None) -> tuple[Visit, View]:
    """After the instructions: the training pages, then the rating pages (None: ask for a reload)."""
    visit = visit or Visit()
    if visit.session_id is None or visit.rater_id is None:
        return visit, View("message", text=RELOAD)
    try:
        visit.training = lab.store.training_pages(visit.session_id, visit.rater_id)
    except StoreError as exc:
        return visit, View("message", text=str(exc))
    visit.training_index = 0
    return visit, _training_or_rating_view(lab, visit)


def played(lab: Lab, visit: Visit | None, slot: int) -> None:
    """The player of clip `slot` started."""
    key = _listen_key(visit, slot)
    if key is not None:
        lab.listens.play(key)


def paused(lab: Lab, visit: Visit | None, slot: int) -> None:
    """The player of clip `slot` stopped."""
    key = _listen_key(visit, slot)
    if key is not None:
        lab.listens.pause(key)


def ended(lab: Lab, visit: Visit | None, slot: int) -> bool:
    """The player of clip `slot` reached the end; returns whether the clip's rating controls open."""
    key = _listen_key(visit, slot)
    if key is None:
        return False
    lab.listens.end(key)
    return lab.listens.heard(key)[2]


def submit(
    lab: Lab, visit: Visit | None, answers: Sequence[int | None], sliders: Sequence[float | None]
) -> tuple[Visit, View]:
    """Save the page on screen (answers: one per scale in page order; sliders: one per MUSHRA clip).

    A tab whose server state is gone (`visit` None, after a restart) is asked to reload, which resumes it.
    """
    visit = visit or Visit()
    page = visit.page
    if page is None or visit.session_id is None or visit.rater_id is None:
        return visit, View("message", text=RELOAD)
    if page.training:  # practice: nothing is stored
        visit.training_index += 1
        return visit, _training_or_rating_view(lab, visit)
    scores, problem = _scores(page, answers, sliders)
    problem = problem or _listening_problem(lab, visit, page)
    if problem:
        return visit, View("notice", notice=problem)
    replayed = False
    try:
        for (slot, scale), score in scores.items():
            clip = page.clips[slot]
            seconds = min(lab.listens.heard(_key(visit, page, slot))[0], MAX_LISTEN_S)
            key = f"{visit.session_id}.{clip.assignment_id}.{scale}"
            saved = lab.store.save_rating(
                visit.session_id, visit.rater_id, clip.assignment_id, scale, score, seconds, key
            )
            replayed = replayed or saved.score != score
    except RatingError as exc:
        return visit, _rating_view(lab, visit, notice=str(exc))
    return visit, _rating_view(lab, visit, notice=OTHER_TAB if replayed else "")


# ---------------------------------------------------------------------------------------- helpers


def _participant(query: Mapping[str, str]) -> str | None:
    for name in PARTICIPANT_PARAMS:
        value = (query.get(name) or "").strip()
        if value:
            return value
    return None


def _key(visit: Visit, page: Page, slot: int) -> tuple[str, str]:
    clip = page.clips[slot]
    token = f"t{page.index}.{slot}" if page.training else f"a{clip.assignment_id}"
    return visit.tab, token


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
        for slot, clip in enumerate(page.clips):
            if "mushra" not in clip.rated:
                value = sliders[slot] if slot < len(sliders) else None
                if value is None:
                    return {}, ANSWER_ALL
                scores[(slot, "mushra")] = float(value)
        return scores, ""
    clip = page.clips[0]
    for index, scale in enumerate(page.scales):
        if scale in clip.rated:
            continue
        value = answers[index] if index < len(answers) else None
        if value is None:
            return {}, ANSWER_ALL
        scores[(0, scale)] = value
    return scores, ""


def _listening_problem(lab: Lab, visit: Visit, page: Page) -> str:
    """Why the page cannot be saved yet (clips not heard), or ''."""
    if page.protocol == "mushra":
        missing = [c.label for s, c in enumerate(page.clips) if not lab.listens.heard(_key(visit, page, s))[1]]
        return f"Please play every clip before rating ({', '.join(missing)} not played yet)." if missing else ""
    key = _key(visit, page, 0)
    finished = lab.listens.heard(key)[2]
    if not finished or lab.listens.completed_seconds(key) < page.clips[0].duration_s - LISTEN_TOLERANCE_S:
        return LISTEN_FIRST
    return ""


def _consent_view(lab: Lab, visit: Visit) -> View:
    study = lab.study
    ask = bool(study.ask_participant_id and not visit.participant_id)
    return View("consent", text=study.consent, ask_participant_id=ask)


def _instructions_view(lab: Lab) -> View:
    return View("instructions", text=lab.study.instructions)


def _done_view(lab: Lab, visit: Visit) -> View:
    code = lab.store.progress(visit.session_id).completion_code
    text = f"Thank you, you have rated every clip.\n\nYour completion code is **{code}**"
    return View("done", title="Finished", text=text)


def _training_or_rating_view(lab: Lab, visit: Visit) -> View:
    if visit.training_index < len(visit.training):
        visit.page = visit.training[visit.training_index]
        return _page_view(lab, visit, visit.page)
    return _rating_view(lab, visit)


def _rating_view(lab: Lab, visit: Visit, notice: str = "") -> View:
    try:
        page = lab.store.next_page(visit.session_id, visit.rater_id)
    except StoreError as exc:
        return View("message", text=str(exc))
    visit.page = page
    if page is None:
        view = _done_view(lab, visit)
        view.notice = notice
        return view
    return _page_view(lab, visit, page, notice)


def _page_view(lab: Lab, visit: Visit, page: Page, notice: str = "") -> View:
    clips = tuple(
        ClipView(
            label=clip.label,
            audio=str(lab.blind.copy(clip.path)),
            enabled=page.protocol == "mushra" or lab.listens.heard(_key(visit, page, slot))[2],
        )
        for slot, clip in enumerate(page.clips)
    )
    kind = "Training page" if page.training else "Page"
    return View(
        "page",
        notice=notice,
        title=f"{kind} {page.index + 1} of {page.total}",
        protocol=page.protocol,
        scales=page.scales,
        clips=clips,
        reference=str(lab.blind.copy(page.reference)) if page.reference else None,
        progress=(page.index, page.total),
        training=page.training,
    )
