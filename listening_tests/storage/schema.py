"""The tables of the ratings database (SQLAlchemy Core; created on first use, never migrated in place).

studies -> raters -> sessions -> assignments (the clips a session rates, on pages) -> ratings; raters ->
qualifications (what a rater answered before the test, once); plus an
append-only events table: nothing is updated without an event row, and nothing is deleted.
"""

from __future__ import annotations

from sqlalchemy import (
    Alias,
    Column,
    ColumnElement,
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
)

from listening_tests.assignment import COMPARED

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
qualifications = Table(
    "qualifications",
    metadata,
    Column("rater_id", String(40), ForeignKey("raters.id"), primary_key=True),
    Column("answers", Text, nullable=False),  # JSON: question key -> answer value (listening_tests.qualification)
    Column("headphone_correct", Integer),
    Column("headphone_trials", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False),
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


def compared_clip() -> tuple[Alias, ColumnElement[bool]]:
    """A comparison page's other clip (kind `compared`: condition a) as an alias of assignments, and how it
    joins the page's `test` row (condition b, which takes the answer): same session, same page."""
    compared = assignments.alias("compared")
    same_page = (compared.c.session_id == assignments.c.session_id) & (compared.c.page == assignments.c.page)
    return compared, same_page & (compared.c.kind == COMPARED)
