"""Sessions: their pages of assignments, what is rated on them, the balance of votes, finishing."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Subquery, func, select, update
from sqlalchemy.engine import Connection

from listening_tests.assignment import COMPARED, PlannedTrial
from listening_tests.storage.errors import RatingError
from listening_tests.storage.events import append_event
from listening_tests.storage.records import SessionInfo, now, to_session, utc
from listening_tests.storage.schema import assignments, compared_clip, ratings, sessions

Rated = dict[tuple[int, str], float]  # (assignment_id, scale) -> score


def own_session(conn: Connection, session_id: str, rater_id: str, lock: bool = False) -> SessionInfo:
    """The session `session_id` of `rater_id` (locked for update when asked); else RatingError."""
    query = select(sessions).where(sessions.c.id == str(session_id)[:40])
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None or row.rater_id != rater_id:
        raise RatingError("This session does not exist or belongs to another rater.")
    return to_session(row)


def assignment_row(session_id: str, trial: PlannedTrial) -> dict[str, Any]:
    """The assignments row of one planned trial."""
    return {"session_id": session_id, **trial.__dict__}


def session_pages(conn: Connection, session_id: str) -> tuple[list[list[Any]], Rated]:
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


def answered_rows(page: list[Any]) -> list[Any]:
    """The rows of a page that take answers (all but a comparison page's clip compared against)."""
    return [r for r in page if r.kind != COMPARED]


def page_done(page: list[Any], rated: Mapping, scales: tuple[str, ...]) -> bool:
    """True when every clip of the page that takes answers is rated on every scale."""
    return all((r.id, s) in rated for r in answered_rows(page) for s in scales)


def all_done(pages: list[list[Any]], rated: Mapping, scales: tuple[str, ...]) -> bool:
    """True when every page of the session is rated."""
    return all(page_done(page, rated, scales) for page in pages)


def current_row(pages: list[list[Any]], rated: Mapping, scales: tuple[str, ...], assignment_id: Any) -> Any:
    """The assignment row `assignment_id` if it is on the session's current page; else RatingError."""
    current = next((p for p in pages if not page_done(p, rated, scales)), None)
    for page in pages:
        for row in page:
            if row.id == assignment_id:
                if page is not current:
                    raise RatingError("This clip is not on the current page of the session.")
                return row
    raise RatingError("This clip is not part of this session.")


def finish_session(conn: Connection, session: SessionInfo, code_prefix: str) -> None:
    """Mark the session finished and give it a completion code (`PREFIX-XXXXXXXX`)."""
    code = f"{code_prefix}-{secrets.token_hex(4).upper()}" if code_prefix else secrets.token_hex(4).upper()
    conn.execute(update(sessions).where(sessions.c.id == session.id).values(finished_at=now(), completion_code=code))
    append_event(conn, "session_finished", study_id=session.study_id, rater_id=session.rater_id, session_id=session.id)


def session_count(conn: Connection, study_id: str) -> int:
    """How many sessions the study has (the next session's number)."""
    return conn.execute(select(func.count()).select_from(sessions).where(sessions.c.study_id == study_id)).scalar_one()


def finished_count(conn: Connection, study_id: str) -> int:
    """How many sessions of the study are finished (the study's quota counts them)."""
    query = select(func.count()).select_from(sessions)
    return conn.execute(query.where(sessions.c.study_id == study_id, sessions.c.finished_at.is_not(None))).scalar_one()


def vote_counts(
    conn: Connection, study_id: str, rater_id: str, stale_before: datetime
) -> tuple[dict[tuple[str, str], int], frozenset]:
    """Votes per stimulus (rated, or held by a session active since `stale_before`) and the rater's stimuli."""
    rated = set(
        conn.execute(
            select(ratings.c.assignment_id)
            .join(sessions, ratings.c.session_id == sessions.c.id)
            .where(sessions.c.study_id == study_id)
        ).scalars()
    )
    last_rating = _last_ratings()
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
    counts: dict[tuple[str, str], int] = {}
    seen = set()
    for row in rows:
        key = (row.item_id, row.condition)
        live = row.finished_at is None and utc(row.last or row.started_at) >= stale_before
        if row.id in rated or live:
            counts[key] = counts.get(key, 0) + 1
        if row.rater_id == rater_id:
            seen.add(key)
    return counts, frozenset(seen)


def _last_ratings() -> Subquery:
    """Per session, the time of its last rating (a session that rates is live; see `vote_counts`)."""
    return (
        select(ratings.c.session_id, func.max(ratings.c.created_at).label("last"))
        .group_by(ratings.c.session_id)
        .subquery()
    )


def pair_vote_counts(
    conn: Connection, study_id: str, rater_id: str, stale_before: datetime
) -> tuple[dict[tuple[str, str, str], int], frozenset]:
    """CCR/A/B: votes per (item, a, b), counted as `vote_counts` counts them per stimulus, and the rater's pairs.

    A comparison page's `test` row is condition b's clip (it takes the answer); its `compared` row gives a.
    """
    compared, on_page = compared_clip()
    last_rating = _last_ratings()
    rows = conn.execute(
        select(
            assignments.c.item_id,
            compared.c.condition.label("a"),
            assignments.c.condition.label("b"),
            ratings.c.id.label("rating_id"),
            sessions.c.rater_id,
            sessions.c.finished_at,
            sessions.c.started_at,
            last_rating.c.last,
        )
        .join(sessions, assignments.c.session_id == sessions.c.id)
        .join(compared, on_page)
        .outerjoin(ratings, ratings.c.assignment_id == assignments.c.id)
        .outerjoin(last_rating, last_rating.c.session_id == sessions.c.id)
        .where(sessions.c.study_id == study_id, assignments.c.kind == "test")
    ).all()
    counts: dict[tuple[str, str, str], int] = {}
    seen = set()
    for row in rows:
        key = (row.item_id, row.a, row.b)
        live = row.finished_at is None and utc(row.last or row.started_at) >= stale_before
        if row.rating_id is not None or live:
            counts[key] = counts.get(key, 0) + 1
        if row.rater_id == rater_id:
            seen.add(key)
    return counts, frozenset(seen)


def session_totals(conn: Connection, study_id: str) -> tuple[int, int]:
    """(sessions started, sessions finished) of the study."""
    finished = func.count(sessions.c.finished_at)  # COUNT(column) skips the NULLs of unfinished sessions
    query = select(func.count(), finished).select_from(sessions).where(sessions.c.study_id == study_id)
    started, done = conn.execute(query).one()
    return started, done


def stimulus_votes(conn: Connection, study_id: str) -> dict[tuple[str, str], int]:
    """Votes per stimulus: test clips of the study rated on at least one scale, per (item_id, condition)."""
    rated = (
        select(assignments.c.item_id, assignments.c.condition, assignments.c.id)
        .join(sessions, assignments.c.session_id == sessions.c.id)
        .join(ratings, ratings.c.assignment_id == assignments.c.id)
        .where(sessions.c.study_id == study_id, assignments.c.kind == "test")
        .distinct()
        .subquery()
    )
    query = select(rated.c.item_id, rated.c.condition, func.count()).group_by(rated.c.item_id, rated.c.condition)
    return {(item, condition): n for item, condition, n in conn.execute(query)}
