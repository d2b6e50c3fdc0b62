"""The side-by-side lab's quick ratings: stored like a study's, under the protocol `demo`.

Each lab run is one session of the demo rater in the demo study; each rated output becomes an
assignment of that session when it is first rated.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from listening_tests.protocols import DEMO_PROTOCOL
from listening_tests.storage.errors import RatingError
from listening_tests.storage.events import append_event
from listening_tests.storage.ratings import Placement
from listening_tests.storage.records import SessionInfo, now, to_session
from listening_tests.storage.schema import assignments, raters, ratings, sessions, studies
from listening_tests.storage.sessions import session_count

DEMO_STUDY_ID = "_demo"  # not a valid study id, so no real study can take it
DEMO_RATER_ID = "r_demo"
_RUN_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,38}$")  # a lab run id; its demo session id is "d_" + run id


def demo_session_id(run_id: Any, item_id: Any, condition: Any) -> str:
    """The demo session id of a lab run, after checking the run id, item id and condition."""
    if not isinstance(run_id, str) or not _RUN_RE.match(run_id):
        raise RatingError("The run id must be 1 to 38 letters, digits or '_-.:' characters.")
    for name, value, limit in (("item id", item_id, 200), ("condition", condition, 64)):
        if not isinstance(value, str) or not 1 <= len(value) <= limit or not value.isprintable():
            raise RatingError(f"The {name} must be 1 to {limit} printable characters.")
    return f"d_{run_id}"


def lock_demo_session(conn: Connection, session_id: str) -> SessionInfo:
    """Lock the demo session of a lab run, creating it (and the demo study and rater) when missing."""
    row = conn.execute(select(sessions).where(sessions.c.id == session_id).with_for_update()).first()
    if row is not None:
        return to_session(row)
    created = now()
    if conn.execute(select(studies.c.id).where(studies.c.id == DEMO_STUDY_ID)).first() is None:
        conn.execute(
            insert(studies).values(
                id=DEMO_STUDY_ID,
                title="Side-by-side lab: quick ratings",
                protocol=DEMO_PROTOCOL,
                definition="{}",
                created_at=created,
            )
        )
        append_event(conn, "study_registered", study_id=DEMO_STUDY_ID)
    if conn.execute(select(raters.c.id).where(raters.c.id == DEMO_RATER_ID)).first() is None:
        conn.execute(insert(raters).values(id=DEMO_RATER_ID, study_id=DEMO_STUDY_ID, created_at=created))
        append_event(conn, "rater_created", study_id=DEMO_STUDY_ID, rater_id=DEMO_RATER_ID)
    conn.execute(
        insert(sessions).values(
            id=session_id,
            rater_id=DEMO_RATER_ID,
            study_id=DEMO_STUDY_ID,
            number=session_count(conn, DEMO_STUDY_ID),
            seed=0,
            scale_order="ovrl",
            started_at=created,
        )
    )
    append_event(conn, "session_started", study_id=DEMO_STUDY_ID, rater_id=DEMO_RATER_ID, session_id=session_id)
    return to_session(conn.execute(select(sessions).where(sessions.c.id == session_id)).one())


def place_demo_rating(conn: Connection, session: SessionInfo, item_id: str, condition: str, score: float) -> Placement:
    """The assignment of one lab output (added on its first rating); RatingError when already rated."""
    output = (assignments.c.session_id == session.id) & (assignments.c.item_id == item_id)
    row = conn.execute(select(assignments.c.id).where(output, assignments.c.condition == condition)).first()
    if row is not None:
        if conn.execute(select(ratings.c.id).where(ratings.c.assignment_id == row.id)).first():
            raise RatingError("This output has already been rated.")
        return Placement(row.id, "ovrl", score, 0.0)
    page = conn.execute(
        select(func.count()).select_from(assignments).where(assignments.c.session_id == session.id)
    ).scalar_one()
    assignment_id = conn.execute(
        insert(assignments)
        .values(
            session_id=session.id,
            page=page,
            slot=0,
            item_id=item_id,
            condition=condition,
            kind=DEMO_PROTOCOL,
            duration_s=0.0,  # the lab neither knows nor times playback
        )
        .returning(assignments.c.id)
    ).scalar_one()
    return Placement(assignment_id, "ovrl", score, 0.0)
