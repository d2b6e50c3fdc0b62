"""The append-only events table: every change to the data leaves one row here."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from listening_tests.storage.errors import StoreError
from listening_tests.storage.records import now
from listening_tests.storage.schema import events

MAX_DETAIL_CHARS = 2000
_EVENT_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def append_event(
    conn: Connection,
    kind: str,
    *,
    study_id: str | None = None,
    rater_id: str | None = None,
    session_id: str | None = None,
    rating_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Add one event inside the caller's transaction (detail as JSON, cut at MAX_DETAIL_CHARS)."""
    text = json.dumps(dict(detail), default=str, sort_keys=True) if detail else None
    if text is not None and len(text) > MAX_DETAIL_CHARS:
        text = text[: MAX_DETAIL_CHARS - 3] + "..."
    conn.execute(
        insert(events).values(
            created_at=now(),
            kind=kind,
            study_id=study_id,
            rater_id=rater_id,
            session_id=session_id,
            rating_id=rating_id,
            detail=text,
        )
    )


def check_kind(kind: str) -> None:
    """Refuse an event kind the app made up badly (1 to 40 lower-case letters, digits or '_')."""
    if not _EVENT_RE.match(kind):
        raise StoreError("An event kind is 1 to 40 lower-case letters, digits or '_'.")


def read_events(conn: Connection, session_id: str | None = None) -> list[dict[str, Any]]:
    """Logged events, oldest first (optionally of one session)."""
    query = select(events).order_by(events.c.id)
    if session_id is not None:
        query = query.where(events.c.session_id == session_id)
    return [dict(row._mapping) for row in conn.execute(query)]
