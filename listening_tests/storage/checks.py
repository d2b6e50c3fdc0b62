"""Integrity checks of the stored data (`python -m listening_tests check`)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from listening_tests.protocols import PROTOCOL_SCALES
from listening_tests.storage.demo import DEMO_STUDY_ID
from listening_tests.storage.engine import engine_problems
from listening_tests.storage.ratings import in_range
from listening_tests.storage.records import to_session
from listening_tests.storage.schema import assignments, events, raters, ratings, sessions, studies
from listening_tests.storage.sessions import all_done, session_pages


def integrity_problems(conn: Connection) -> list[str]:
    """Every problem found: the engine's own checks, then the listening test's consistency rules."""
    return engine_problems(conn) + _rating_problems(conn) + _session_problems(conn)


def _rating_problems(conn: Connection) -> list[str]:
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
    bad = [r.id for r in rows if r.scale not in PROTOCOL_SCALES[r.protocol] or not in_range(r.protocol, r.score)]
    if bad:
        problems.append(f"{len(bad)} rating(s) have a scale or score outside their protocol (ids {bad[:10]}).")
    logged = set(conn.execute(select(events.c.rating_id).where(events.c.kind == "rating_saved")).scalars())
    unlogged = [r.id for r in rows if r.id not in logged]
    if unlogged:
        problems.append(f"{len(unlogged)} rating(s) have no 'rating_saved' event (ids {unlogged[:10]}).")
    return problems


def _session_problems(conn: Connection) -> list[str]:
    problems = []
    cross = conn.execute(
        select(func.count())
        .select_from(sessions.join(raters, sessions.c.rater_id == raters.c.id))
        .where(sessions.c.study_id != raters.c.study_id)
    ).scalar_one()
    if cross:
        problems.append(f"{cross} session(s) belong to a rater of another study.")
    for row in conn.execute(select(sessions).where(sessions.c.study_id != DEMO_STUDY_ID)).all():
        info = to_session(row)
        pages, rated = session_pages(conn, info.id)
        complete = all_done(pages, rated, info.scales)
        if info.finished and not complete:
            problems.append(f"Session {info.id} is marked finished but has clips left to rate.")
        if complete and not info.finished:
            problems.append(f"Session {info.id} has every clip rated but is not marked finished.")
    return problems
