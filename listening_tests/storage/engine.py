"""Opening the database: every difference between SQLite and PostgreSQL lives in this module.

SQLite (one file, the default) runs in WAL mode with foreign keys on, and a write transaction starts
with BEGIN IMMEDIATE so concurrent writers queue instead of failing. PostgreSQL (for several replicas)
locks rows with SELECT ... FOR UPDATE, which SQLite ignores (its write lock covers the whole file).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, ProgrammingError

from listening_tests.storage.errors import StoreError
from listening_tests.storage.schema import metadata


def open_engine(url: str) -> Engine:
    """An engine for `sqlite:///FILE` or `postgresql+psycopg://...` with its tables created."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"'{url}' is not a database URL (use sqlite:///FILE or postgresql+psycopg://...).") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(parsed, pool_pre_ping=True)
    elif parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        raise StoreError(f"'{url}' is not supported: use sqlite:///FILE or postgresql+psycopg://USER@HOST/DB.")
    else:
        engine = _sqlite_engine(parsed)
    _create_tables(engine)
    return engine


def is_sqlite(engine: Engine) -> bool:
    """True for a SQLite database."""
    return engine.dialect.name == "sqlite"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A write transaction (SQLite: BEGIN IMMEDIATE, so concurrent writers queue instead of failing)."""
    with engine.connect() as conn:
        conn.execution_options(write=True)
        with conn.begin():
            yield conn


def engine_problems(conn: Connection) -> list[str]:
    """The database engine's own integrity checks (SQLite's pragmas; PostgreSQL enforces them itself)."""
    if not is_sqlite(conn.engine):
        return []
    problems = []
    result = conn.exec_driver_sql("PRAGMA integrity_check").scalar()
    if result != "ok":
        problems.append(f"SQLite integrity check failed: {result}")
    if conn.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
        problems.append("SQLite found rows that point to missing rows (foreign keys).")
    return problems


def _sqlite_engine(parsed: Any) -> Engine:
    try:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        raise StoreError(f"The folder of the database {parsed.database} cannot be created.") from None
    engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=30000", "synchronous=FULL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")


def _create_tables(engine: Engine) -> None:
    for attempt in range(3):  # another process may be creating them at the same moment
        try:
            metadata.create_all(engine)
            return
        except (OperationalError, ProgrammingError, IntegrityError) as exc:
            if attempt == 2:
                where = engine.url.render_as_string(hide_password=True)
                reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
                raise StoreError(f"The database {where} cannot be opened: {reason}.") from None
