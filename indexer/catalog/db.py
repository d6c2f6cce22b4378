"""The catalog's connection: an engine per URL (SQLite with WAL by default, PostgreSQL by URL),
the schema brought to the newest Alembic revision at start-up, one short transaction per call,
and the compare-and-set primitives every write is built on."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect, select, text, update
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from indexer.catalog.schema import UNFINISHED, JobRow

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001_baseline"
# any constant: the PostgreSQL advisory lock that serialises migrations across processes
MIGRATION_LOCK = 0x76696472
_MIGRATING = threading.Lock()


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


def _unversioned_catalog(conn: Connection) -> bool:
    tables = set(inspect(conn).get_table_names())
    return "videos" in tables and "alembic_version" not in tables


class CatalogDB:
    """The engine and sessions the catalog's parts share. Every method is one transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def create_all(self) -> None:
        """Bring the schema to the newest revision (see `migrate`). The gateway, every worker
        and the CLI call this at start; when two race on SQLite, the loser's DDL fails on the
        winner's, and a second look finds the schema at head."""
        try:
            self.migrate()
        except (OperationalError, ProgrammingError, IntegrityError):
            self.migrate()

    def migrate(self) -> None:
        """Run the Alembic migrations up to head. A database made by `create_all` of a release
        before migrations (tables, no `alembic_version`) is stamped as the baseline first.
        Processes starting together take turns: PostgreSQL by an advisory lock, SQLite by a
        lock file beside the database (its DDL commits statement by statement)."""
        from alembic import command
        from alembic.config import Config

        # its per-start INFO lines (plugins, context) would fill every worker's log
        logging.getLogger("alembic").setLevel(logging.WARNING)
        # Alembic's `context` is module-global: one migration at a time in this process
        with _MIGRATING, self._file_lock(), self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # released when this transaction ends; a second process waits, then finds head
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            if _unversioned_catalog(conn):
                command.stamp(config, BASELINE)
            command.upgrade(config, "head")

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        database = self.engine.url.database
        if self.engine.dialect.name != "sqlite" or not database or database == ":memory:":
            yield
            return
        import fcntl

        with open(f"{database}.migrate.lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        with self._session.begin() as s:
            yield s

    def ping(self) -> None:
        with self.session() as s:
            s.execute(select(1))

    def integrity(self) -> str:
        """ "ok", or what is damaged. SQLite checks its pages (`PRAGMA quick_check`: a corrupt
        page answers `SELECT 1` happily while every read of the videos fails); PostgreSQL
        checks its own pages, so reading the catalog's tables is the test there."""
        with self.session() as s:
            if s.get_bind().dialect.name == "sqlite":
                rows = [str(r[0]) for r in s.execute(text("PRAGMA quick_check(5)"))]
                return "ok" if rows == ["ok"] else "; ".join(rows)[:500]
            for table in ("videos", "jobs", "job_steps"):
                s.execute(text(f"SELECT count(*) FROM {table}"))  # fixed names, no input
        return "ok"
