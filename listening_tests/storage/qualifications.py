"""What a rater answered before the test (listening_tests.qualification), stored once per rater."""

from __future__ import annotations

import json

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from listening_tests.qualification import Qualification
from listening_tests.storage.events import append_event
from listening_tests.storage.records import now
from listening_tests.storage.schema import qualifications


def insert_qualification(conn: Connection, study_id: str, rater_id: str, qualification: Qualification) -> None:
    """Store a rater's answers (IntegrityError when the rater already has some: the first answers stay)."""
    values = {
        "rater_id": rater_id,
        "answers": json.dumps(dict(qualification.answers), sort_keys=True),
        "headphone_correct": qualification.headphone_correct,
        "headphone_trials": qualification.headphone_trials,
        "created_at": now(),
    }
    conn.execute(insert(qualifications).values(**values))
    detail = {"headphone_correct": qualification.headphone_correct, "headphone_trials": qualification.headphone_trials}
    append_event(conn, "qualified", study_id=study_id, rater_id=rater_id, detail=detail)


def read_qualification(conn: Connection, rater_id: str) -> Qualification | None:
    """A rater's stored answers, or None."""
    row = conn.execute(select(qualifications).where(qualifications.c.rater_id == rater_id)).first()
    return to_qualification(row.answers, row.headphone_correct, row.headphone_trials) if row else None


def to_qualification(answers: str | None, correct: int | None, trials: int | None) -> Qualification | None:
    """Stored columns as a Qualification (None when the rater has none)."""
    if answers is None:
        return None
    return Qualification(json.loads(answers), correct, trials)
