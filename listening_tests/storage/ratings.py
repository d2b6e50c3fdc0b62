"""Saving ratings (one path for study and lab ratings), checking their values, and reading them back.

Every rating is committed in its own transaction. A client-supplied submission key makes retries and
double clicks idempotent: a replayed key returns the original rating instead of storing a second one.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from listening_tests.protocols import PROTOCOL_INTEGER, PROTOCOL_RANGE, ScreeningRules
from listening_tests.qualification import BeforeTest, exclusions, parse_before_test
from listening_tests.storage.engine import write_transaction
from listening_tests.storage.errors import RatingError, StoreError
from listening_tests.storage.events import append_event
from listening_tests.storage.qualifications import to_qualification
from listening_tests.storage.records import Rating, RatingRecord, SessionInfo, now, to_rating, utc
from listening_tests.storage.schema import assignments, compared_clip, qualifications, ratings, sessions, studies
from listening_tests.study import parse_screening

MAX_LISTEN_S = 3600.0
SAVE_ATTEMPTS = 3  # a concurrent save of the same key or clip makes an attempt fail; the next one sees it
_KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")


@dataclass(frozen=True)
class Placement:
    """Where a rating goes (its assignment and scale), its checked values, and what follows its insert."""

    assignment_id: int
    scale: str
    score: float
    listen_s: float
    then: Callable[[Connection], None] | None = None


def save(
    engine: Engine,
    key: str,
    lock: Callable[[Connection], SessionInfo],
    place: Callable[[Connection, SessionInfo], Placement],
) -> Rating:
    """Commit one rating: lock its session, return the original on a replayed key, else place and insert it.

    `lock` finds and locks the session; `place` checks the rating against it (RatingError) and says
    which assignment it rates. An IntegrityError (a concurrent save) is retried, so the retry sees
    the concurrent rating and answers as for a replay or a double rating.
    """
    check_key(key)
    for _ in range(SAVE_ATTEMPTS):
        try:
            with write_transaction(engine) as conn:
                return _save_once(conn, key, lock(conn), place)
        except IntegrityError:
            continue
    raise RatingError("The rating could not be stored; please try again.")


def _save_once(
    conn: Connection, key: str, session: SessionInfo, place: Callable[[Connection, SessionInfo], Placement]
) -> Rating:
    original = conn.execute(select(ratings).where(ratings.c.submission_key == key)).first()
    if original is not None:
        if original.session_id != session.id:
            raise RatingError("This submission key was already used by another session.")
        return to_rating(original)
    placement = place(conn, session)
    rating_id = conn.execute(
        insert(ratings)
        .values(
            submission_key=key,
            session_id=session.id,
            assignment_id=placement.assignment_id,
            scale=placement.scale,
            score=placement.score,
            listen_s=placement.listen_s,
            created_at=now(),
        )
        .returning(ratings.c.id)
    ).scalar_one()
    append_event(
        conn,
        "rating_saved",
        study_id=session.study_id,
        rater_id=session.rater_id,
        session_id=session.id,
        rating_id=rating_id,
    )
    if placement.then is not None:
        placement.then(conn)
    return to_rating(conn.execute(select(ratings).where(ratings.c.id == rating_id)).one())


def check_key(key: Any) -> None:
    """Refuse a submission key that is not 8 to 64 safe characters."""
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise RatingError("The submission key must be 8 to 64 letters, digits or '_-.:' characters.")


def check_score(protocol: str, score: Any) -> float:
    """The score as a float when it is allowed by the protocol's scale; else RatingError."""
    low, high = PROTOCOL_RANGE[protocol]
    kind = "a whole number" if PROTOCOL_INTEGER[protocol] else "a number"
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not in_range(protocol, score):
        raise RatingError(f"The score must be {kind} from {low} to {high}.")
    return float(score)


def check_listen(listen_s: Any) -> float:
    """The listening time in seconds when it is a number from 0 to MAX_LISTEN_S; else RatingError."""
    if isinstance(listen_s, bool) or not isinstance(listen_s, (int, float)) or not math.isfinite(listen_s):
        raise RatingError("The listening time must be a number of seconds.")
    if not 0 <= listen_s <= MAX_LISTEN_S:
        raise RatingError(f"The listening time must be between 0 and {MAX_LISTEN_S:.0f} seconds.")
    return float(listen_s)


def in_range(protocol: str, score: float) -> bool:
    """True when `score` is a finite value of the protocol's scale (whole numbers where it asks)."""
    low, high = PROTOCOL_RANGE[protocol]
    if not math.isfinite(score) or not low <= score <= high:
        return False
    return not PROTOCOL_INTEGER[protocol] or score == int(score)


QUALIFICATION_COLUMNS = ("answers", "headphone_correct", "headphone_trials")


def rating_records(conn: Connection, study_id: str | None = None) -> list[RatingRecord]:
    """Every stored rating (excluded ones included) with its clip, session and study, oldest first.

    A CCR/A/B rating also carries the condition its clip was compared against and which was heard first.
    """
    compared, on_page = compared_clip()
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
            studies.c.definition,
            compared.c.condition.label("condition_a"),
            compared.c.slot.label("slot_a"),
            assignments.c.slot,
            qualifications.c.answers,
            qualifications.c.headphone_correct,
            qualifications.c.headphone_trials,
        )
        .join(assignments, ratings.c.assignment_id == assignments.c.id)
        .outerjoin(compared, on_page)
        .join(sessions, ratings.c.session_id == sessions.c.id)
        .join(studies, sessions.c.study_id == studies.c.id)
        .outerjoin(qualifications, qualifications.c.rater_id == sessions.c.rater_id)
        .order_by(ratings.c.id)
    )
    if study_id is not None:
        query = query.where(sessions.c.study_id == study_id)
    rules: dict[str, tuple[ScreeningRules, BeforeTest]] = {}
    records = []
    for row in conn.execute(query).all():
        if row.study_id not in rules:
            rules[row.study_id] = _screening_rules(row.study_id, row.definition)
        screening, before = rules[row.study_id]
        qualification = to_qualification(row.answers, row.headphone_correct, row.headphone_trials)
        skip = ("finished_at", "created_at", "definition", "condition_a", "slot_a", "slot", *QUALIFICATION_COLUMNS)
        fields = {k: v for k, v in row._mapping.items() if k not in skip}
        order = "" if row.condition_a is None else ("a_first" if row.slot_a < row.slot else "b_first")
        records.append(
            RatingRecord(
                **fields,
                condition_a=row.condition_a or "",
                order=order,
                created_at=utc(row.created_at),
                session_finished=row.finished_at is not None,
                screening=screening,
                qualification_reasons=tuple(exclusions(qualification, before, screening)),
            )
        )
    return records


def _screening_rules(study_id: str, definition: str) -> tuple[ScreeningRules, BeforeTest]:
    """The screening rules and the before-test checks of a stored study definition (its study file's
    `screening` and `before_test` sections)."""
    problems: list[str] = []
    raw = json.loads(definition).get("study", {})
    rules = parse_screening(raw.get("screening"), problems)
    before = parse_before_test(raw.get("before_test"), problems)
    if problems:
        raise StoreError(f"The stored study '{study_id}' has a screening section that is not valid: {problems[0]}.")
    return rules, before
