"""`Store`: every read and write of the listening test, for the app and the command line.

Safe to use from several threads and several processes. Nothing is updated in place without an
event row, and nothing is deleted. Every refusal is a `StoreError` (or `RatingError`, `StudyFullError`)
whose message is one clear sentence.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from listening_tests.assignment import (
    COMPARED,
    Clip,
    Page,
    blind_label,
    plan_session,
    scale_order,
    session_seed,
    training_example,
    training_stimuli,
)
from listening_tests.conditions import REFERENCE
from listening_tests.headphones import CheckTrial, count_correct, plan_check
from listening_tests.protocols import COMPARISON_PROTOCOLS, DEMO_PROTOCOL
from listening_tests.qualification import QUESTION_KEYS, Qualification, first_unanswered
from listening_tests.storage.checks import integrity_problems
from listening_tests.storage.demo import DEMO_STUDY_ID, demo_session_id, lock_demo_session, place_demo_rating
from listening_tests.storage.engine import open_engine, write_transaction
from listening_tests.storage.errors import RatingError, StoreError, StudyFullError
from listening_tests.storage.events import append_event, check_kind, read_events
from listening_tests.storage.qualifications import insert_qualification, read_qualification
from listening_tests.storage.ratings import (
    Placement,
    check_key,
    check_listen,
    check_score,
    rating_records,
    save,
)
from listening_tests.storage.records import (
    Progress,
    Rater,
    Rating,
    RatingRecord,
    SessionInfo,
    StudyCounts,
    now,
    to_rater,
    to_session,
)
from listening_tests.storage.schema import assignments, raters, sessions, studies
from listening_tests.storage.sessions import (
    all_done,
    answered_rows,
    assignment_row,
    current_row,
    finish_session,
    finished_count,
    own_session,
    page_done,
    pair_vote_counts,
    session_count,
    session_pages,
    session_totals,
    stimulus_votes,
    vote_counts,
)
from listening_tests.study import check_conditions

if TYPE_CHECKING:
    from listening_tests.stimuli import StimulusSet
    from listening_tests.study import Study

STALE_SESSION_S = 2 * 3600.0  # an unfinished session idle this long no longer holds its stimuli


@dataclass(frozen=True)
class _Registered:
    study: Study
    stimuli: StimulusSet
    conditions: tuple[str, ...]


class Store:
    """All reads and writes of the listening test (one instance per process, shared by its threads)."""

    def __init__(self, url: str, *, stale_after_s: float = STALE_SESSION_S) -> None:
        self.engine = open_engine(url)
        self.stale_after = timedelta(seconds=stale_after_s)
        self._registered: dict[str, _Registered] = {}

    def close(self) -> None:
        """Release all connections."""
        self.engine.dispose()

    # ---------------------------------------------------------------------------------- studies

    def register_study(self, study: Study, stimuli: StimulusSet) -> tuple[str, ...]:
        """Record the study (once; a changed definition is updated with an event) and serve it.

        Returns the conditions shown. Raises StudyError when the stimulus set does not fit the study.
        """
        conditions = check_conditions(study, stimuli.conditions)
        definition = json.dumps(
            {"study": study.definition, "conditions": list(conditions), "stimuli": _stimuli_digest(stimuli)},
            sort_keys=True,
            default=str,
        )
        with write_transaction(self.engine) as conn:
            row = conn.execute(select(studies).where(studies.c.id == study.id)).first()
            if row is None:
                conn.execute(
                    insert(studies).values(
                        id=study.id,
                        title=study.title,
                        protocol=study.protocol,
                        definition=definition,
                        created_at=now(),
                    )
                )
                append_event(conn, "study_registered", study_id=study.id)
            elif row.definition != definition:
                if row.protocol != study.protocol:
                    raise StoreError(
                        f"The study '{study.id}' is stored with protocol {row.protocol}; give the new study another id."
                    )
                conn.execute(
                    update(studies).where(studies.c.id == study.id).values(title=study.title, definition=definition)
                )
                previous = {"previous": json.loads(row.definition)}
                append_event(conn, "study_changed", study_id=study.id, detail=previous)
        self._registered[study.id] = _Registered(study, stimuli, conditions)
        return conditions

    def study_ids(self) -> list[str]:
        """Ids of every study in the database."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(studies.c.id).order_by(studies.c.id)).scalars())

    # ----------------------------------------------------------------------------------- raters

    def create_rater(self, study_id: str, participant_id: str | None = None) -> Rater:
        """A new pseudonymous rater; with a participant id (only if the study asks), that participant's rater."""
        reg = self._study(study_id)
        if participant_id is not None:
            participant_id = participant_id.strip()
            if not reg.study.ask_participant_id:
                raise StoreError("This study does not collect participant ids.")
            if not 1 <= len(participant_id) <= 128 or not participant_id.isprintable():
                raise StoreError("The participant id must be 1 to 128 printable characters.")
        elif reg.study.ask_participant_id:
            raise StoreError("This study needs your participant id.")
        for _ in range(2):  # a participant id registered concurrently: read it back on the second pass
            existing = self._rater_by_participant(study_id, participant_id) if participant_id else None
            if existing is not None:
                return existing
            rater = Rater(f"r_{secrets.token_urlsafe(12)}", study_id, participant_id, now())
            try:
                with write_transaction(self.engine) as conn:
                    conn.execute(insert(raters).values(**rater.__dict__))
                    append_event(conn, "rater_created", study_id=study_id, rater_id=rater.id)
                return rater
            except IntegrityError:
                continue
        raise StoreError("The participant id could not be registered; please try again.")

    def get_rater(self, rater_id: str) -> Rater | None:
        """The rater with this id, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(raters).where(raters.c.id == str(rater_id)[:40])).first()
        return to_rater(row) if row else None

    def _rater_by_participant(self, study_id: str, participant_id: str) -> Rater | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(raters).where(raters.c.study_id == study_id, raters.c.participant_id == participant_id)
            ).first()
        return to_rater(row) if row else None

    # --------------------------------------------------------------------------- before the test

    def headphone_plan(self, rater_id: str) -> list[CheckTrial]:
        """The rater's headphone-check trials (seeded by the rater, so a reload shows the same ones)."""
        return self._headphone_plan(self._known_rater(rater_id))

    def save_qualification(
        self, rater_id: str, answers: Mapping[str, str | None], picks: Sequence[int | None] = ()
    ) -> Qualification:
        """Store what the rater answered before the test: the questions' answers and the headphone check's picks
        (scored here, against the rater's own plan). A second call keeps the first answers."""
        rater = self._known_rater(rater_id)
        before = self._study(rater.study_id).study.before_test
        given = {key: answers.get(key) for key in QUESTION_KEYS} if before.questions else {}
        if before.questions and first_unanswered(given) is not None:
            raise StoreError("Please answer every question.")
        plan = self._headphone_plan(rater)
        if len(picks) != len(plan):
            raise StoreError("Please answer every headphone check.")
        correct = count_correct(plan, picks) if plan else None
        qualification = Qualification(given, correct, len(plan) if plan else None)
        try:
            with write_transaction(self.engine) as conn:
                insert_qualification(conn, rater.study_id, rater.id, qualification)
        except IntegrityError:
            pass
        return self.qualification(rater.id)

    def qualification(self, rater_id: str) -> Qualification | None:
        """What the rater answered before the test, or None."""
        with self.engine.connect() as conn:
            return read_qualification(conn, str(rater_id)[:40])

    def _headphone_plan(self, rater: Rater) -> list[CheckTrial]:
        check = self._study(rater.study_id).study.before_test.headphone_check
        return plan_check(session_seed(rater.id, -2), check) if check else []

    def _known_rater(self, rater_id: str) -> Rater:
        rater = self.get_rater(rater_id)
        if rater is None:
            raise StoreError("This rater id is unknown; please start again from the study's first page.")
        return rater

    # --------------------------------------------------------------------------------- sessions

    def start_session(self, rater_id: str) -> SessionInfo:
        """The rater's unfinished session, or a new balanced one; raises StudyFullError when none is left."""
        rater = self._known_rater(rater_id)
        reg = self._study(rater.study_id)
        study_id = reg.study.id
        with write_transaction(self.engine) as conn:
            conn.execute(select(studies.c.id).where(studies.c.id == study_id).with_for_update()).first()
            current = conn.execute(
                select(sessions).where(sessions.c.rater_id == rater.id, sessions.c.finished_at.is_(None))
            ).first()
            if current is not None:
                append_event(conn, "session_resumed", study_id=study_id, rater_id=rater.id, session_id=current.id)
                return to_session(current)
            if reg.study.quota and finished_count(conn, study_id) >= reg.study.quota:
                raise StudyFullError("This study has all the sessions it needs; thank you for your interest.")
            number = session_count(conn, study_id)
            counter = pair_vote_counts if reg.study.protocol in COMPARISON_PROTOCOLS else vote_counts
            votes, seen = counter(conn, study_id, rater.id, now() - self.stale_after)
            seed = session_seed(rater.id, number)
            plan = plan_session(reg.study, reg.stimuli, reg.conditions, votes, seed, seen)
            if not plan:
                raise StudyFullError("This study has all the ratings it needs; thank you for your interest.")
            session_id = f"s_{secrets.token_urlsafe(12)}"
            values = {
                "id": session_id,
                "rater_id": rater.id,
                "study_id": study_id,
                "number": number,
                "seed": seed,
                "scale_order": ",".join(scale_order(reg.study.protocol, number, reg.study.scales)),
                "started_at": now(),
            }
            conn.execute(insert(sessions).values(**values))
            conn.execute(insert(assignments), [assignment_row(session_id, t) for t in plan])
            detail = {"stimuli": len(plan)}
            append_event(
                conn, "session_started", study_id=study_id, rater_id=rater.id, session_id=session_id, detail=detail
            )
            return to_session(conn.execute(select(sessions).where(sessions.c.id == session_id)).one())

    def study_full(self, study_id: str) -> bool:
        """True when the study's quota of completed sessions is reached (never without a quota)."""
        quota = self._study(study_id).study.quota
        if not quota:
            return False
        with self.engine.connect() as conn:
            return finished_count(conn, study_id) >= quota

    def get_session(self, session_id: str) -> SessionInfo | None:
        """The session with this id, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(sessions).where(sessions.c.id == str(session_id)[:40])).first()
        return to_session(row) if row else None

    # ------------------------------------------------------------------------------------ pages

    def next_page(self, session_id: str, rater_id: str) -> Page | None:
        """The first page with clips still to rate (with what is already rated on it); None when done."""
        with self.engine.connect() as conn:
            session = own_session(conn, session_id, rater_id)
            pages, rated = session_pages(conn, session.id)
        reg = self._study(session.study_id)
        scales = session.scales
        for index, rows in enumerate(pages):
            if page_done(rows, rated, scales):
                continue
            clips = tuple(
                Clip(
                    label=blind_label(reg.study.protocol, index, row.slot),
                    path=reg.stimuli.stimuli[(row.item_id, row.condition)].path,
                    duration_s=row.duration_s,
                    assignment_id=row.id,
                    rated={s: rated[(row.id, s)] for s in scales if (row.id, s) in rated},
                )
                for row in rows
            )
            reference = self._open_reference(reg, rows[0].item_id)
            answered = next(slot for slot, row in enumerate(rows) if row.kind != COMPARED)
            protocol = reg.study.protocol
            return Page(session.id, index, len(pages), protocol, scales, clips, reference, answered=answered)
        return None

    def training_pages(self, session_id: str, rater_id: str) -> list[Page]:
        """The training pages of a session (their answers are not stored)."""
        with self.engine.connect() as conn:
            session = own_session(conn, session_id, rater_id)
        reg = self._study(session.study_id)
        pages = training_stimuli(reg.study, reg.stimuli, reg.conditions, session_seed(rater_id, -1))
        out = []
        for index, stimuli in enumerate(pages):
            clips = tuple(
                Clip(blind_label(reg.study.protocol, index, slot), s.path, s.duration_s)
                for slot, s in enumerate(stimuli)
            )
            reference = self._open_reference(reg, stimuli[0].item_id)
            protocol = reg.study.protocol
            example = training_example(stimuli[0].condition, reg.conditions) if protocol != "mushra" else ""
            page = Page(session.id, index, len(pages), protocol, session.scales, clips, reference, True, example)
            out.append(page)
        return out

    @staticmethod
    def _open_reference(reg: _Registered, item_id: str) -> Path | None:
        if reg.study.protocol != "mushra":
            return None
        reference = reg.stimuli.stimuli.get((item_id, REFERENCE))
        return reference.path if reference else None

    # ---------------------------------------------------------------------------------- ratings

    def save_rating(
        self,
        session_id: str,
        rater_id: str,
        assignment_id: int,
        scale: str,
        score: float,
        listen_s: float,
        submission_key: str,
    ) -> Rating:
        """Validate and commit one rating; a replayed submission key returns the original rating.

        Raises RatingError (one sentence) when the rating is refused; refusals are logged as events.
        """

        def place(conn: Connection, session: SessionInfo) -> Placement:
            if session.finished:
                raise RatingError("This session is already complete.")
            protocol = conn.execute(select(studies.c.protocol).where(studies.c.id == session.study_id)).scalar_one()
            value, seconds = check_score(protocol, score), check_listen(listen_s)
            pages, rated = session_pages(conn, session.id)
            row = current_row(pages, rated, session.scales, assignment_id)
            if scale not in session.scales:
                raise RatingError(f"The scale must be one of {', '.join(session.scales)}.")
            if (row.id, scale) in rated:
                raise RatingError("This clip has already been rated on this scale.")
            if row.kind == COMPARED:
                raise RatingError("This clip is the one compared against: the answer goes to the other clip.")
            if protocol == "ab" and value == 0 and not self._study(session.study_id).study.no_preference:
                raise RatingError("This study asks for A or B: it has no 'no preference' answer.")
            rated[(row.id, scale)] = value

            def finish_when_done(conn: Connection) -> None:
                if all_done(pages, rated, session.scales):
                    prefix = self._study(session.study_id).study.completion_code_prefix
                    finish_session(conn, session, prefix)

            return Placement(row.id, scale, value, seconds, then=finish_when_done)

        try:
            return save(
                self.engine,
                submission_key,
                lambda conn: own_session(conn, session_id, rater_id, lock=True),
                place,
            )
        except RatingError as error:
            self.log_event("rating_refused", session_id=str(session_id)[:40], detail={"reason": str(error)})
            raise

    def save_demo_rating(self, *, run_id: str, item_id: str, condition: str, score: int, submission_key: str) -> Rating:
        """Commit the lab's quick 1-5 rating of one output (protocol `demo`, one session per lab run).

        A replayed submission key returns the original rating. Raises RatingError (one sentence) when refused.
        """
        try:
            check_key(submission_key)
            session_id = demo_session_id(run_id, item_id, condition)
            value = check_score(DEMO_PROTOCOL, score)
            return save(
                self.engine,
                submission_key,
                lambda conn: lock_demo_session(conn, session_id),
                lambda conn, session: place_demo_rating(conn, session, item_id, condition, value),
            )
        except RatingError as exc:
            self.log_event("rating_refused", study_id=DEMO_STUDY_ID, detail={"reason": str(exc)})
            raise

    def progress(self, session_id: str) -> Progress:
        """Pages and ratings done in a session, and its completion code once finished."""
        with self.engine.connect() as conn:
            row = conn.execute(select(sessions).where(sessions.c.id == str(session_id)[:40])).first()
            if row is None:
                raise StoreError("This session does not exist.")
            session = to_session(row)
            pages, rated = session_pages(conn, session.id)
        per_page = [[(r.id, s) in rated for r in answered_rows(page) for s in session.scales] for page in pages]
        return Progress(
            session_id=session.id,
            pages_done=sum(all(p) for p in per_page),
            pages_total=len(pages),
            ratings_done=sum(sum(p) for p in per_page),
            ratings_total=sum(len(p) for p in per_page),
            finished=session.finished,
            completion_code=session.completion_code,
        )

    def study_counts(self, study_id: str) -> StudyCounts:
        """Sessions started and finished, and votes per stimulus, of one study (for monitoring it while it runs)."""
        with self.engine.connect() as conn:
            started, finished = session_totals(conn, study_id)
            return StudyCounts(started, finished, stimulus_votes(conn, study_id))

    def list_ratings(self, study_id: str | None = None) -> list[RatingRecord]:
        """Every stored rating (excluded ones included), oldest first."""
        with self.engine.connect() as conn:
            return rating_records(conn, study_id)

    # ---------------------------------------------------------------------------- events, checks

    def log_event(
        self,
        kind: str,
        *,
        study_id: str | None = None,
        rater_id: str | None = None,
        session_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Append one event (e.g. `consent_given`) in its own transaction."""
        check_kind(kind)
        with write_transaction(self.engine) as conn:
            append_event(conn, kind, study_id=study_id, rater_id=rater_id, session_id=session_id, detail=detail)

    def events(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """Logged events, oldest first (optionally of one session)."""
        with self.engine.connect() as conn:
            return read_events(conn, session_id)

    def integrity_check(self) -> list[str]:
        """Problems found in the stored data (an empty list when everything is consistent)."""
        with self.engine.connect() as conn:
            return integrity_problems(conn)

    def _study(self, study_id: str) -> _Registered:
        try:
            return self._registered[study_id]
        except KeyError:
            raise StoreError(f"The study '{study_id}' is not loaded on this server.") from None


def _stimuli_digest(stimuli: StimulusSet) -> str:
    """A fingerprint of the stimulus set that is the same on every replica (no absolute paths)."""
    listing = sorted((*key, s.duration_s, s.sample_rate) for key, s in stimuli.stimuli.items())
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()
