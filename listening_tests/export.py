"""Export stored ratings as the tidy `ratings.csv` (columns in docs/file-formats.md), screening applied.

Excluded ratings are exported too (`excluded=true` with the reason); nothing is dropped or deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from pathlib import Path

from ddpmss.files import write_csv
from listening_tests.protocols import ScreeningRules
from listening_tests.screening import screen
from listening_tests.storage import RatingRecord, Store

RATINGS_COLUMNS = (
    "rating_id",
    "rater_id",
    "session_id",
    "protocol",
    "item_id",
    "condition",
    "scale",
    "score",
    "listen_s",
    "created_at",
    "excluded",
    "exclusion_reason",
    "condition_a",
    "order",
)
# The columns of the pairwise protocols (CCR, A/B), added last: a ratings.csv written before them still reads.
COMPARISON_COLUMNS = ("condition_a", "order")


def rating_rows(records: Sequence[RatingRecord], rules: ScreeningRules | None = None) -> list[dict[str, str]]:
    """One ratings.csv row per record, with the screening decision (by its study's rules unless `rules`)."""
    reasons = screen(records, rules)
    return [
        {
            "rating_id": str(r.rating_id),
            "rater_id": r.rater_id,
            "session_id": r.session_id,
            "protocol": r.protocol,
            "item_id": r.item_id,
            "condition": r.condition,
            "scale": r.scale,
            "score": _number(r.score),
            "listen_s": f"{r.listen_s:.3f}",
            "created_at": r.created_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "excluded": "true" if reasons[r.rating_id] else "false",
            "exclusion_reason": reasons[r.rating_id],
            "condition_a": r.condition_a,
            "order": r.order,
        }
        for r in records
    ]


def write_ratings_csv(rows: Sequence[dict[str, str]], path: str | Path) -> Path:
    """Write ratings.csv atomically; returns its path."""
    return write_csv(path, RATINGS_COLUMNS, rows)


def export_ratings(
    store: Store, path: str | Path, study_id: str | None = None, rules: ScreeningRules | None = None
) -> int:
    """Write every rating of the database (or of one study) to `path`; returns the number of rows."""
    rows = rating_rows(store.list_ratings(study_id), rules)
    write_ratings_csv(rows, path)
    return len(rows)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
