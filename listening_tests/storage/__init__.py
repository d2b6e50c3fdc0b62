"""Where ratings live: SQLite (one file, the default) or PostgreSQL (for several replicas).

`Store` (store.py) is the one entry point; its parts are the tables (schema.py), the engine
differences (engine.py), sessions and their pages (sessions.py), the one save path of ratings
(ratings.py, demo.py for the lab's quick ratings), the events table (events.py) and the integrity
checks (checks.py).
"""

from listening_tests.storage.demo import DEMO_RATER_ID, DEMO_STUDY_ID
from listening_tests.storage.errors import RatingError, StoreError, StudyFullError
from listening_tests.storage.ratings import MAX_LISTEN_S
from listening_tests.storage.records import Progress, Rater, Rating, RatingRecord, SessionInfo, StudyCounts
from listening_tests.storage.store import Store

__all__ = [
    "DEMO_RATER_ID",
    "DEMO_STUDY_ID",
    "MAX_LISTEN_S",
    "Progress",
    "Rater",
    "Rating",
    "RatingError",
    "RatingRecord",
    "SessionInfo",
    "Store",
    "StudyCounts",
    "StoreError",
    "StudyFullError",
]
