"""What the store hands out: raters, sessions, ratings and progress as frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from listening_tests.protocols import ScreeningRules


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
    screening: ScreeningRules = ScreeningRules()  # the screening rules of the rating's study
    qualification_reasons: tuple[str, ...] = ()  # the rater's answers before the test that exclude them
    condition_a: str = ""  # CCR/A/B: the condition `condition` was compared against ('' for other protocols)
    order: str = ""  # CCR/A/B: a_first or b_first, which of the two clips was heard first


@dataclass(frozen=True)
class StudyCounts:
    """How far a study is: its sessions, and the votes each stimulus has (rated test clips)."""

    sessions_started: int
    sessions_finished: int
    votes: dict[tuple[str, str], int]  # (item_id, condition) -> votes; stimuli without a vote are absent


def now() -> datetime:
    """The current time in UTC (every stored time is UTC)."""
    return datetime.now(UTC)


def utc(value: datetime) -> datetime:
    """Stored times are UTC; SQLite gives them back without a time zone."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_rater(row: Any) -> Rater:
    """A raters row as a Rater."""
    return Rater(row.id, row.study_id, row.participant_id, utc(row.created_at))


def to_session(row: Any) -> SessionInfo:
    """A sessions row as a SessionInfo."""
    return SessionInfo(
        id=row.id,
        rater_id=row.rater_id,
        study_id=row.study_id,
        number=row.number,
        scales=tuple(row.scale_order.split(",")),
        started_at=utc(row.started_at),
        finished_at=utc(row.finished_at) if row.finished_at else None,
        completion_code=row.completion_code,
    )


def to_rating(row: Any) -> Rating:
    """A ratings row as a Rating."""
    return Rating(
        id=row.id,
        session_id=row.session_id,
        assignment_id=row.assignment_id,
        scale=row.scale,
        score=row.score,
        listen_s=row.listen_s,
        submission_key=row.submission_key,
        created_at=utc(row.created_at),
    )
