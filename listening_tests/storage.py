"""Where ratings live: SQLite (one file, the default) or PostgreSQL (for several replicas).

`Store` is safe to use from several threads and several processes. Every rating is committed in its
own transaction before `save_rating` returns; a client-supplied submission key makes retries and
double clicks idempotent. Nothing is updated in place without an event row, and nothing is deleted.
Every refusal is a `RatingError` (or another `StoreError`) whose message is one clear sentence.
The side-by-side lab's quick ratings are stored too, under the protocol `demo` (`save_demo_rating`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, ProgrammingError

from listening_tests.assignment import (
    Clip,
    Page,
    PlannedTrial,
    blind_label,
    plan_session,
    scale_order,
    session_seed,
    training_stimuli,
)
from listening_tests.study import INTEGER_SCORES, SCALES, SCORE_RANGE, check_conditions

if TYPE_CHECKING:
    from listening_tests.stimuli import StimulusSet
    from listening_tests.study import Study

MAX_LISTEN_S = 3600.0
MAX_DETAIL_CHARS = 2000
STALE_SESSION_S = 2 * 3600.0  # an unfinished session idle this long no longer holds its stimuli
_KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")
_EVENT_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_RUN_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,38}$")  # a lab run id; its demo session id is "d_" + run id

DEMO_PROTOCOL = "demo"
DEMO_STUDY_ID = "_demo"  # not a valid study id, so no real study can take it
DEMO_RATER_ID = "r_demo"
_SCALES = {**SCALES, DEMO_PROTOCOL: ("ovrl",)}
_SCORE_RANGE = {**SCORE_RANGE, DEMO_PROTOCOL: (1, 5)}
_INTEGER_SCORES = {**INTEGER_SCORES, DEMO_PROTOCOL: True}

metadata = MetaData()
studies = Table(
    "studies",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("protocol", String(10), nullable=False),
    Column("definition", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
raters = Table(
    "raters",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("study_id", String(64), ForeignKey("studies.id"), nullable=False),
    Column("participant_id", String(128)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("study_id", "participant_id", name="uq_rater_participant"),
)
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("rater_id", String(40), ForeignKey("raters.id"), nullable=False),
    Column("study_id", String(64), ForeignKey("studies.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("seed", Integer, nullable=False),
    Column("scale_order", String(40), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("completion_code", String(40)),
    Index("ix_sessions_rater", "rater_id"),
)
assignments = Table(
    "assignments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(40), ForeignKey("sessions.id"), nullable=False),
    Column("page", Integer, nullable=False),
    Column("slot", Integer, nullable=False),
    Column("item_id", String(200), nullable=False),
    Column("condition", String(64), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("duration_s", Float, nullable=False),
    Column("expected_score", Float),
    Column("tolerance", Float),
    UniqueConstraint("session_id", "page", "slot", name="uq_assignment_position"),
    Index("ix_assignments_stimulus", "item_id", "condition"),
)
ratings = Table(
    "ratings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("submission_key", String(64), nullable=False, unique=True),
    Column("session_id", String(40), ForeignKey("sessions.id"), nullable=False),
    Column("assignment_id", Integer, ForeignKey("assignments.id"), nullable=False),
    Column("scale", String(8), nullable=False),
    Column("score", Float, nullable=False),
    Column("listen_s", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("assignment_id", "scale", name="uq_rating_once"),
    Index("ix_ratings_session", "session_id"),
)
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("study_id", String(64)),
    Column("rater_id", String(40)),
    Column("session_id", String(40)),
    Column("rating_id", Integer),
    Column("detail", Text),
)


class StoreError(RuntimeError):
    """A request the store refuses; the message is one sentence for a person."""


class RatingError(StoreError):
    """A rating that is refused (bad score, wrong session, wrong clip, ...)."""


class StudyFullError(StoreError):
    """Every stimulus already has its target number of votes."""


@dataclass(frozen=True)
class Rater:
    """A pseudonymous rater of one study."""

    id: str
    study_id: str
    participant_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class SessionInfo:
    """One session of a rater: a fixed list of pages to rate."""

    id: str
    rater_id: str
    study_id: str
    number: int
    scales: tuple[str, ...]
    started_at: datetime
    finished_at: datetime | None
    completion_code: str | None

    @property
    def finished(self) -> bool:
        """True once every page is rated."""
        return self.finished_at is not None


@dataclass(frozen=True)
class Rating:
    """A stored rating."""

    id: int
    session_id: str
    assignment_id: int
    scale: str
    score: float
    listen_s: float
    submission_key: str
    created_at: datetime


@dataclass(frozen=True)
class Progress:
    """How far a session is."""

    session_id: str
    pages_done: int
    pages_total: int
    ratings_done: int
    ratings_total: int
    finished: bool
    completion_code: str | None


@dataclass(frozen=True)
class RatingRecord:
    """A rating with everything export and screening need."""

    rating_id: int
    rater_id: str
    session_id: str
    study_id: str
    protocol: str
    item_id: str
    condition: str
    kind: str
    scale: str
    score: float
    listen_s: float
    duration_s: float
    expected_score: float | None
    tolerance: float | None
    created_at: datetime
    session_finished: bool


@dataclass(frozen=True)
class _Registered:
    study: Study
    stimuli: StimulusSet
    conditions: tuple[str, ...]


class Store:
    """All reads and writes of the listening test (one instance per process, shared by its threads)."""

    def __init__(self, url: str, *, stale_after_s: float = STALE_SESSION_S) -> None:
        self.engine = _engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.stale_after = timedelta(seconds=stale_after_s)
        self._registered: dict[str, _Registered] = {}
        _create_tables(self.engine)

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
        with self._write() as conn:
            row = conn.execute(select(studies).where(studies.c.id == study.id)).first()
            if row is None:
                conn.execute(
                    insert(studies).values(
                        id=study.id,
                        title=study.title,
                        protocol=study.protocol,
                        definition=definition,
                        created_at=_now(),
                    )
                )
                _event(conn, "study_registered", study_id=study.id)
            elif row.definition != definition:
                if row.protocol != study.protocol:
                    raise StoreError(
                        f"The study '{study.id}' is stored with protocol {row.protocol}; give the new study another id."
                    )
                conn.execute(
                    update(studies).where(studies.c.id == study.id).values(title=study.title, definition=definition)
                )
                _event(conn, "study_changed", study_id=study.id, detail={"previous": json.loads(row.definition)})
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
            rater = Rater(f"r_{secrets.token_urlsafe(12)}", study_id, participant_id, _now())
            try:
                with self._write() as conn:
                    conn.execute(insert(raters).values(**rater.__dict__))
                    _event(conn, "rater_created", study_id=study_id, rater_id=rater.id)
                return rater
            except IntegrityError:
                continue
        raise StoreError("The participant id could not be registered; please try again.")

    def get_rater(self, rater_id: str) -> Rater | None:
        """The rater with this id, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(raters).where(raters.c.id == str(rater_id)[:40])).first()
        return _rater(row) if row else None

    def _rater_by_participant(self, study_id: str, participant_id: str) -> Rater | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(raters).where(raters.c.study_id == study_id, raters.c.participant_id == participant_id)
            ).first()
        return _rater(row) if row else None

    # --------------------------------------------------------------------------------- sessions

    def start_session(self, rater_id: str) -> SessionInfo:
        """The rater's unfinished session, or a new balanced one; raises StudyFullError when none is left."""
        rater = self.get_rater(rater_id)
        if rater is None:
            raise StoreError("This rater id is unknown; please start again from the study's first page.")
        reg = self._study(rater.study_id)
        with self._write() as conn:
            conn.execute(select(studies.c.id).where(studies.c.id == reg.study.id).with_for_update()).first()
            current = conn.execute(
                select(sessions).where(sessions.c.rater_id == rater.id, sessions.c.finished_at.is_(None))
            ).first()
            if current is not None:
                _event(conn, "session_resumed", study_id=reg.study.id, rater_id=rater.id, session_id=current.id)
                return _session(current)
            number = conn.execute(
                select(func.count()).select_from(sessions).where(sessions.c.study_id == reg.study.id)
            ).scalar_one()
            votes, seen = self._votes(conn, reg.study.id, rater.id)
            seed = session_seed(rater.id, number)
            plan = plan_session(reg.study, reg.stimuli, reg.conditions, votes, seed, seen)
            if not plan:
                raise StudyFullError("This study has all the ratings it needs; thank you for your interest.")
            session_id = f"s_{secrets.token_urlsafe(12)}"
            values = {
                "id": session_id,
                "rater_id": rater.id,
                "study_id": reg.study.id,
                "number": number,
                "seed": seed,
                "scale_order": ",".join(scale_order(reg.study.protocol, number, reg.study.scales)),
                "started_at": _now(),
            }
            conn.execute(insert(sessions).values(**values))
            conn.execute(insert(assignments), [_assignment_row(session_id, t) for t in plan])
            _event(
                conn,
                "session_started",
                study_id=reg.study.id,
                rater_id=rater.id,
                session_id=session_id,
                detail={"stimuli": len(plan)},
            )
            return _session(conn.execute(select(sessions).where(sessions.c.id == session_id)).one())

    def get_session(self, session_id: str) -> SessionInfo | None:
        """The session with this id, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(sessions).where(sessions.c.id == str(session_id)[:40])).first()
        return _session(row) if row else None

    def _votes(self, conn: Connection, study_id: str, rater_id: str) -> tuple[dict, frozenset]:
        """Votes per stimulus (rated, or held by a live unfinished session) and the stimuli this rater had."""
        rated = set(
            conn.execute(
                select(ratings.c.assignment_id)
                .join(sessions, ratings.c.session_id == sessions.c.id)
                .where(sessions.c.study_id == study_id)
            ).scalars()
        )
        last_rating = (
            select(ratings.c.session_id, func.max(ratings.c.created_at).label("last"))
            .group_by(ratings.c.session_id)
            .subquery()
        )
        rows = conn.execute(
            select(
                assignments.c.id,
                assignments.c.item_id,
                assignments.c.condition,
                sessions.c.rater_id,
                sessions.c.finished_at,
                sessions.c.started_at,
                last_rating.c.last,
            )
            .join(sessions, assignments.c.session_id == sessions.c.id)
            .outerjoin(last_rating, last_rating.c.session_id == sessions.c.id)
            .where(sessions.c.study_id == study_id, assignments.c.kind == "test")
        ).all()
        cutoff = _now() - self.stale_after
        votes: dict[tuple[str, str], int] = {}
        seen = set()
        for row in rows:
            key = (row.item_id, row.condition)
            live = row.finished_at is None and _utc(row.last or row.started_at) >= cutoff
            if row.id in rated or live:
                votes[key] = votes.get(key, 0) + 1
            if row.rater_id == rater_id:
                seen.add(key)
        return votes, frozenset(seen)

    # ------------------------------------------------------------------------------------ pages

    def next_page(self, session_id: str, rater_id: str) -> Page | None:
        """The first page with clips still to rate (with what is already rated on it); None when done."""
        with self.engine.connect() as conn:
            session = self._own_session(conn, session_id, rater_id)
            pages, rated = _pages(conn, session.id)
        reg = self._study(session.study_id)
        scales = session.scales
        for index, rows in enumerate(pages):
            if all((row.id, s) in rated for row in rows for s in scales):
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
            return Page(
                session.id, index, len(pages), reg.study.protocol, scales, clips, self._open_reference(reg, rows)
            )
        return None

    def training_pages(self, session_id: str, rater_id: str) -> list[Page]:
        """The training pages of a session (their answers are not stored)."""
        with self.engine.connect() as conn:
            session = self._own_session(conn, session_id, rater_id)
        reg = self._study(session.study_id)
        pages = training_stimuli(reg.study, reg.stimuli, reg.conditions, session_seed(rater_id, -1))
        out = []
        for index, stimuli in enumerate(pages):
            clips = tuple(
                Clip(blind_label(reg.study.protocol, index, slot), s.path, s.duration_s)
                for slot, s in enumerate(stimuli)
            )
            reference = (
                reg.stimuli.stimuli.get((stimuli[0].item_id, "reference")) if reg.study.protocol == "mushra" else None
            )
            out.append(
                Page(
                    session.id,
                    index,
                    len(pages),
                    reg.study.protocol,
                    session.scales,
                    clips,
                    reference.path if reference else None,
                    training=True,
                )
            )
        return out

    @staticmethod
    def _open_reference(reg: _Registered, rows: list) -> Path | None:
        if reg.study.protocol != "mushra":
            return None
        return reg.stimuli.stimuli[(rows[0].item_id, "reference")].path

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
        try:
            _check_key(submission_key)
            return self._save(session_id, rater_id, assignment_id, scale, score, listen_s, submission_key)
        except IntegrityError:
            replay = self._replay(submission_key, session_id)
            if replay is not None:
                return replay
            error = RatingError("This clip has already been rated on this scale.")
        except RatingError as exc:
            error = exc
        self.log_event("rating_refused", session_id=str(session_id)[:40], detail={"reason": str(error)})
        raise error

    def _save(
        self, session_id: str, rater_id: str, assignment_id: int, scale: str, score: float, listen_s: float, key: str
    ) -> Rating:
        with self._write() as conn:
            session = self._own_session(conn, session_id, rater_id, lock=True)
            original = conn.execute(select(ratings).where(ratings.c.submission_key == key)).first()
            if original is not None:
                if original.session_id != session.id:
                    raise RatingError("This submission key was already used by another session.")
                return _rating(original)
            if session.finished:
                raise RatingError("This session is already complete.")
            protocol = conn.execute(select(studies.c.protocol).where(studies.c.id == session.study_id)).scalar_one()
            value = _check_score(protocol, score)
            seconds = _check_listen(listen_s)
            pages, rated = _pages(conn, session.id)
            row = _current_row(pages, rated, session.scales, assignment_id)
            if scale not in session.scales:
                raise RatingError(f"The scale must be one of {', '.join(session.scales)}.")
            if (row.id, scale) in rated:
                raise RatingError("This clip has already been rated on this scale.")
            rating_id = conn.execute(
                insert(ratings)
                .values(
                    submission_key=key,
                    session_id=session.id,
                    assignment_id=row.id,
                    scale=scale,
                    score=value,
                    listen_s=seconds,
                    created_at=_now(),
                )
                .returning(ratings.c.id)
            ).scalar_one()
            _event(
                conn,
                "rating_saved",
                study_id=session.study_id,
                rater_id=session.rater_id,
                session_id=session.id,
                rating_id=rating_id,
            )
            rated[(row.id, scale)] = value
            if all((r.id, s) in rated for page in pages for r in page for s in session.scales):
                self._finish(conn, session)
            return _rating(conn.execute(select(ratings).where(ratings.c.id == rating_id)).one())

    def _finish(self, conn: Connection, session: SessionInfo) -> None:
        prefix = self._study(session.study_id).study.completion_code_prefix
        code = f"{prefix}-{secrets.token_hex(4).upper()}" if prefix else secrets.token_hex(4).upper()
        conn.execute(
            update(sessions).where(sessions.c.id == session.id).values(finished_at=_now(), completion_code=code)
        )
        _event(conn, "session_finished", study_id=session.study_id, rater_id=session.rater_id, session_id=session.id)

    def _replay(self, key: str, session_id: str) -> Rating | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(ratings).where(ratings.c.submission_key == key)).first()
        return _rating(row) if row is not None and row.session_id == session_id else None

    def save_demo_rating(self, *, run_id: str, item_id: str, condition: str, score: int, submission_key: str) -> Rating:
        """Commit the lab's quick 1-5 rating of one output (protocol `demo`, one session per lab run).

        A replayed submission key returns the original rating. Raises RatingError (one sentence) when refused.
        """
        try:
            _check_key(submission_key)
            _check_demo(run_id, item_id, condition)
            value = _check_score(DEMO_PROTOCOL, score)
            for _ in range(3):  # a concurrent first rating of this run, or a concurrent replay: read back
                try:
                    return self._save_demo(f"d_{run_id}", item_id, condition, value, submission_key)
                except IntegrityError:
                    continue
            raise RatingError("The rating could not be stored; please try again.")
        except RatingError as exc:
            self.log_event("rating_refused", study_id=DEMO_STUDY_ID, detail={"reason": str(exc)})
            raise

    def _save_demo(self, session_id: str, item_id: str, condition: str, score: float, key: str) -> Rating:
        with self._write() as conn:
            _demo_session(conn, session_id)  # locked first, so a concurrent replay sees the original below
            original = conn.execute(select(ratings).where(ratings.c.submission_key == key)).first()
            if original is not None:
                if original.session_id != session_id:
                    raise RatingError("This submission key was already used by another session.")
                return _rating(original)
            output = (assignments.c.session_id == session_id) & (assignments.c.item_id == item_id)
            row = conn.execute(select(assignments.c.id).where(output, assignments.c.condition == condition)).first()
            if row is not None:
                if conn.execute(select(ratings.c.id).where(ratings.c.assignment_id == row.id)).first():
                    raise RatingError("This output has already been rated.")
                assignment_id = row.id
            else:
                page = conn.execute(
                    select(func.count()).select_from(assignments).where(assignments.c.session_id == session_id)
                ).scalar_one()
                assignment_id = conn.execute(
                    insert(assignments)
                    .values(
                        session_id=session_id,
                        page=page,
                        slot=0,
                        item_id=item_id,
                        condition=condition,
                        kind=DEMO_PROTOCOL,
                        duration_s=0.0,  # the lab neither knows nor times playback
                    )
                    .returning(assignments.c.id)
                ).scalar_one()
            rating_id = conn.execute(
                insert(ratings)
                .values(
                    submission_key=key,
                    session_id=session_id,
                    assignment_id=assignment_id,
                    scale="ovrl",
                    score=score,
                    listen_s=0.0,
                    created_at=_now(),
                )
                .returning(ratings.c.id)
            ).scalar_one()
            _event(
                conn,
                "rating_saved",
                study_id=DEMO_STUDY_ID,
                rater_id=DEMO_RATER_ID,
                session_id=session_id,
                rating_id=rating_id,
            )
            return _rating(conn.execute(select(ratings).where(ratings.c.id == rating_id)).one())

    def progress(self, session_id: str) -> Progress:
        """Pages and ratings done in a session, and its completion code once finished."""
        with self.engine.connect() as conn:
            row = conn.execute(select(sessions).where(sessions.c.id == str(session_id)[:40])).first()
            if row is None:
                raise StoreError("This session does not exist.")
            session = _session(row)
            pages, rated = _pages(conn, session.id)
        per_page = [[(r.id, s) in rated for r in page for s in session.scales] for page in pages]
        return Progress(
            session_id=session.id,
            pages_done=sum(all(p) for p in per_page),
            pages_total=len(pages),
            ratings_done=sum(sum(p) for p in per_page),
            ratings_total=sum(len(p) for p in per_page),
            finished=session.finished,
            completion_code=session.completion_code,
        )

    def list_ratings(self, study_id: str | None = None) -> list[RatingRecord]:
        """Every stored rating (excluded ones included), oldest first."""
        query = (
            select(
                ratings.c.id.label("rating_id"),
                sessions.c.rater_id,
                ratings.c.session_id,
                sessions.c.study_id,
                studies.c.protocol,
                assignments.c.item_id,
                assignments.c.condition,
                assignments.c.kind,
                ratings.c.scale,
                ratings.c.score,
                ratings.c.listen_s,
                assignments.c.duration_s,
                assignments.c.expected_score,
                assignments.c.tolerance,
                ratings.c.created_at,
                sessions.c.finished_at,
            )
            .join(assignments, ratings.c.assignment_id == assignments.c.id)
            .join(sessions, ratings.c.session_id == sessions.c.id)
            .join(studies, sessions.c.study_id == studies.c.id)
            .order_by(ratings.c.id)
        )
        if study_id is not None:
            query = query.where(sessions.c.study_id == study_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            RatingRecord(
                **{k: v for k, v in row._mapping.items() if k not in ("finished_at", "created_at")},
                created_at=_utc(row.created_at),
                session_finished=row.finished_at is not None,
            )
            for row in rows
        ]

    # ----------------------------------------------------------------------------------- events

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
        if not _EVENT_RE.match(kind):
            raise StoreError("An event kind is 1 to 40 lower-case letters, digits or '_'.")
        with self._write() as conn:
            _event(conn, kind, study_id=study_id, rater_id=rater_id, session_id=session_id, detail=detail)

    def events(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """Logged events, oldest first (optionally of one session)."""
        query = select(events).order_by(events.c.id)
        if session_id is not None:
            query = query.where(events.c.session_id == session_id)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    # -------------------------------------------------------------------------------- integrity

    def integrity_check(self) -> list[str]:
        """Problems found in the stored data (an empty list when everything is consistent)."""
        problems: list[str] = []
        with self.engine.connect() as conn:
            if self.is_sqlite:
                result = conn.exec_driver_sql("PRAGMA integrity_check").scalar()
                if result != "ok":
                    problems.append(f"SQLite integrity check failed: {result}")
                if conn.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    problems.append("SQLite found rows that point to missing rows (foreign keys).")
            problems += _consistency_problems(conn)
        return problems

    # ---------------------------------------------------------------------------------- helpers

    def _study(self, study_id: str) -> _Registered:
        try:
            return self._registered[study_id]
        except KeyError:
            raise StoreError(f"The study '{study_id}' is not loaded on this server.") from None

    def _own_session(self, conn: Connection, session_id: str, rater_id: str, lock: bool = False) -> SessionInfo:
        query = select(sessions).where(sessions.c.id == str(session_id)[:40])
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None or row.rater_id != rater_id:
            raise RatingError("This session does not exist or belongs to another rater.")
        return _session(row)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction (SQLite: BEGIN IMMEDIATE, so concurrent writers queue instead of failing)."""
        with self.engine.connect() as conn:
            conn.execution_options(write=True)
            with conn.begin():
                yield conn


def _engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"'{url}' is not a database URL (use sqlite:///FILE or postgresql+psycopg://...).") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_pre_ping=True)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        raise StoreError(f"'{url}' is not supported: use sqlite:///FILE or postgresql+psycopg://USER@HOST/DB.")
    try:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        raise StoreError(f"The folder of the database {parsed.database} cannot be created.") from None
    engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=30000", "synchronous=FULL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")


def _create_tables(engine: Engine) -> None:
    for attempt in range(3):  # another process may be creating them at the same moment
        try:
            metadata.create_all(engine)
            return
        except (OperationalError, ProgrammingError, IntegrityError) as exc:
            if attempt == 2:
                where = engine.url.render_as_string(hide_password=True)
                reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
                raise StoreError(f"The database {where} cannot be opened: {reason}.") from None


def _stimuli_digest(stimuli: StimulusSet) -> str:
    """A fingerprint of the stimulus set that is the same on every replica (no absolute paths)."""
    listing = sorted((*key, s.duration_s, s.sample_rate) for key, s in stimuli.stimuli.items())
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    """Stored times are UTC; SQLite gives them back without a time zone."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _event(
    conn: Connection,
    kind: str,
    *,
    study_id: str | None = None,
    rater_id: str | None = None,
    session_id: str | None = None,
    rating_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    text = json.dumps(dict(detail), default=str, sort_keys=True) if detail else None
    if text is not None and len(text) > MAX_DETAIL_CHARS:
        text = text[: MAX_DETAIL_CHARS - 3] + "..."
    conn.execute(
        insert(events).values(
            created_at=_now(),
            kind=kind,
            study_id=study_id,
            rater_id=rater_id,
            session_id=session_id,
            rating_id=rating_id,
            detail=text,
        )
    )


def _rater(row: Any) -> Rater:
    return Rater(row.id, row.study_id, row.participant_id, _utc(row.created_at))


def _session(row: Any) -> SessionInfo:
    return SessionInfo(
        id=row.id,
        rater_id=row.rater_id,
        study_id=row.study_id,
        number=row.number,
        scales=tuple(row.scale_order.split(",")),
        started_at=_utc(row.started_at),
        finished_at=_utc(row.finished_at) if row.finished_at else None,
        completion_code=row.completion_code,
    )


def _rating(row: Any) -> Rating:
    return Rating(
        id=row.id,
        session_id=row.session_id,
        assignment_id=row.assignment_id,
        scale=row.scale,
        score=row.score,
        listen_s=row.listen_s,
        submission_key=row.submission_key,
        created_at=_utc(row.created_at),
    )


def _assignment_row(session_id: str, trial: PlannedTrial) -> dict[str, Any]:
    return {"session_id": session_id, **trial.__dict__}


def _pages(conn: Connection, session_id: str) -> tuple[list[list[Any]], dict[tuple[int, str], float]]:
    """A session's assignment rows grouped by page, and its ratings as {(assignment_id, scale): score}."""
    rows = conn.execute(
        select(assignments)
        .where(assignments.c.session_id == session_id)
        .order_by(assignments.c.page, assignments.c.slot)
    ).all()
    pages: dict[int, list[Any]] = {}
    for row in rows:
        pages.setdefault(row.page, []).append(row)
    rated = {
        (r.assignment_id, r.scale): r.score
        for r in conn.execute(select(ratings).where(ratings.c.session_id == session_id))
    }
    return list(pages.values()), rated


def _current_row(pages: list[list[Any]], rated: Mapping, scales: tuple[str, ...], assignment_id: Any) -> Any:
    """The assignment row `assignment_id` if it is on the session's current page; else RatingError."""
    current = next((p for p in pages if not all((r.id, s) in rated for r in p for s in scales)), None)
    for page in pages:
        for row in page:
            if row.id == assignment_id:
                if page is not current:
                    raise RatingError("This clip is not on the current page of the session.")
                return row
    raise RatingError("This clip is not part of this session.")


def _demo_session(conn: Connection, session_id: str) -> None:
    """Lock the demo session of a lab run, creating it (and the demo study and rater) when missing."""
    if conn.execute(select(sessions.c.id).where(sessions.c.id == session_id).with_for_update()).first():
        return
    now = _now()
    if conn.execute(select(studies.c.id).where(studies.c.id == DEMO_STUDY_ID)).first() is None:
        conn.execute(
            insert(studies).values(
                id=DEMO_STUDY_ID,
                title="Side-by-side lab: quick ratings",
                protocol=DEMO_PROTOCOL,
                definition="{}",
                created_at=now,
            )
        )
        _event(conn, "study_registered", study_id=DEMO_STUDY_ID)
    if conn.execute(select(raters.c.id).where(raters.c.id == DEMO_RATER_ID)).first() is None:
        conn.execute(insert(raters).values(id=DEMO_RATER_ID, study_id=DEMO_STUDY_ID, created_at=now))
        _event(conn, "rater_created", study_id=DEMO_STUDY_ID, rater_id=DEMO_RATER_ID)
    number = conn.execute(
        select(func.count()).select_from(sessions).where(sessions.c.study_id == DEMO_STUDY_ID)
    ).scalar_one()
    conn.execute(
        insert(sessions).values(
            id=session_id,
            rater_id=DEMO_RATER_ID,
            study_id=DEMO_STUDY_ID,
            number=number,
            seed=0,
            scale_order="ovrl",
            started_at=now,
        )
    )
    _event(conn, "session_started", study_id=DEMO_STUDY_ID, rater_id=DEMO_RATER_ID, session_id=session_id)


def _check_key(key: Any) -> None:
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise RatingError("The submission key must be 8 to 64 letters, digits or '_-.:' characters.")


def _check_demo(run_id: Any, item_id: Any, condition: Any) -> None:
    if not isinstance(run_id, str) or not _RUN_RE.match(run_id):
        raise RatingError("The run id must be 1 to 38 letters, digits or '_-.:' characters.")
    for name, value, limit in (("item id", item_id, 200), ("condition", condition, 64)):
        if not isinstance(value, str) or not 1 <= len(value) <= limit or not value.isprintable():
            raise RatingError(f"The {name} must be 1 to {limit} printable characters.")


def _check_score(protocol: str, score: Any) -> float:
    low, high = _SCORE_RANGE[protocol]
    kind = "a whole number" if _INTEGER_SCORES[protocol] else "a number"
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        raise RatingError(f"The score must be {kind} from {low} to {high}.")
    if not low <= score <= high or (_INTEGER_SCORES[protocol] and score != int(score)):
        raise RatingError(f"The score must be {kind} from {low} to {high}.")
    return float(score)


def _check_listen(listen_s: Any) -> float:
    if isinstance(listen_s, bool) or not isinstance(listen_s, (int, float)) or not math.isfinite(listen_s):
        raise RatingError("The listening time must be a number of seconds.")
    if not 0 <= listen_s <= MAX_LISTEN_S:
        raise RatingError(f"The listening time must be between 0 and {MAX_LISTEN_S:.0f} seconds.")
    return float(listen_s)


def _consistency_problems(conn: Connection) -> list[str]:
    problems = []
    mismatched = conn.execute(
        select(func.count())
        .select_from(ratings.join(assignments, ratings.c.assignment_id == assignments.c.id))
        .where(ratings.c.session_id != assignments.c.session_id)
    ).scalar_one()
    if mismatched:
        problems.append(f"{mismatched} rating(s) point to a clip of another session.")
    rows = conn.execute(
        select(ratings.c.id, ratings.c.scale, ratings.c.score, studies.c.protocol)
        .join(sessions, ratings.c.session_id == sessions.c.id)
        .join(studies, sessions.c.study_id == studies.c.id)
    ).all()
    bad = [r.id for r in rows if r.scale not in _SCALES[r.protocol] or not _in_range(r.protocol, r.score)]
    if bad:
        problems.append(f"{len(bad)} rating(s) have a scale or score outside their protocol (ids {bad[:10]}).")
    logged = set(conn.execute(select(events.c.rating_id).where(events.c.kind == "rating_saved")).scalars())
    unlogged = [r.id for r in rows if r.id not in logged]
    if unlogged:
        problems.append(f"{len(unlogged)} rating(s) have no 'rating_saved' event (ids {unlogged[:10]}).")
    cross = conn.execute(
        select(func.count())
        .select_from(sessions.join(raters, sessions.c.rater_id == raters.c.id))
        .where(sessions.c.study_id != raters.c.study_id)
    ).scalar_one()
    if cross:
        problems.append(f"{cross} session(s) belong to a rater of another study.")
    problems += _completion_problems(conn)
    return problems


def _completion_problems(conn: Connection) -> list[str]:
    problems = []
    for session in conn.execute(select(sessions).where(sessions.c.study_id != DEMO_STUDY_ID)).all():
        info = _session(session)
        pages, rated = _pages(conn, info.id)
        complete = all((r.id, s) in rated for page in pages for r in page for s in info.scales)
        if info.finished and not complete:
            problems.append(f"Session {info.id} is marked finished but has clips left to rate.")
        if complete and not info.finished:
            problems.append(f"Session {info.id} has every clip rated but is not marked finished.")
    return problems


def _in_range(protocol: str, score: float) -> bool:
    low, high = _SCORE_RANGE[protocol]
    return low <= score <= high and (not _INTEGER_SCORES[protocol] or score == int(score))
