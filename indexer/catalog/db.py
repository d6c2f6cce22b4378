"""The catalog's connection: an engine per URL (SQLite with WAL by default, PostgreSQL by URL),
one short transaction per call, and the compare-and-set primitives every write is built on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import create_engine, event, select, update
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from indexer.catalog.schema import UNFINISHED, Base, JobRow


def count_rows(s: Session, stmt: Any) -> int:
    """Rows changed by an UPDATE or DELETE (the compare-and-set primitive of the catalog)."""
    result: CursorResult[Any] = s.execute(stmt)  # type: ignore[assignment]
    return result.rowcount


def update_unfinished(s: Session, job_id: int, **values: Any) -> int:
    """Set `values` on the job only while it is unfinished; 1 when it was, 0 otherwise."""
    stmt = update(JobRow).where(JobRow.id == job_id, JobRow.status.in_(UNFINISHED))
    return count_rows(s, stmt.values(**values))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the gateway read while a worker writes; the busy timeout queues writers
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


class CatalogDB:
    """The engine and sessions the catalog's parts share. Every method is one transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def create_all(self) -> None:
        """Create missing tables. The gateway, every worker and the CLI call this at start; when
        two race, the loser's CREATE fails on the winner's table, and a second look finds it."""
        try:
            Base.metadata.create_all(self.engine)
        except (OperationalError, ProgrammingError, IntegrityError):
            Base.metadata.create_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        with self._session.begin() as s:
            yield s

    def ping(self) -> None:
        with self.session() as s:
            s.execute(select(1))
