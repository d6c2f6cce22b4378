"""Schema migrations: a database made by `create_all` of the release before migrations (no
`alembic_version`) is opened by today's catalog — stamped as the baseline, upgraded to head —
with its rows intact and today's tables and columns present, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    inspect,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from indexer.catalog import QUEUED, READY, Base, Catalog, ServiceSettings
from indexer.catalog.db import MIGRATIONS


class ReleaseBase(DeclarativeBase):
    """The catalog's tables exactly as the release before migrations declared them (414a4e0)."""


class OldVideo(ReleaseBase):
    __tablename__ = "videos"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    filename: Mapped[str] = mapped_column(String(500))
    language: Mapped[str | None] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    duration_s: Mapped[float] = mapped_column(Float)
    media: Mapped[dict[str, Any]] = mapped_column(JSON)
    capabilities: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    clip_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class OldJob(ReleaseBase):
    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    stage: Mapped[str] = mapped_column(String(32))
    percent: Mapped[float] = mapped_column(Float, default=0.0)
    parts_total: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_type: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class OldStep(ReleaseBase):
    __tablename__ = "job_steps"
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    stage: Mapped[str | None] = mapped_column(String(32))
    fraction: Mapped[float] = mapped_column(Float, default=0.0)
    owner: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


def _previous_release_db(url: str) -> None:
    engine = create_engine(url)
    ReleaseBase.metadata.create_all(engine)
    now = datetime(2026, 11, 20, 12, 0, 0)
    with Session(engine) as s, s.begin():
        s.add(
            OldVideo(
                id="abcdabcdabcdabcd",
                sha256="ab" * 32,
                title="Old lecture",
                filename="old.mp4",
                language="en",
                size_bytes=123,
                duration_s=42.0,
                media={"container": "mp4"},
                capabilities={"speech": {"ok": True}},
                clip_count=7,
                created_at=now,
            )
        )
        s.flush()
        s.add(OldJob(video_id="abcdabcdabcdabcd", status=READY, stage=READY, updated_at=now))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return ServiceSettings(data_dir=tmp_path).db_url()
    return ServiceSettings(database_url=request.getfixturevalue("postgres_url")).db_url()


def _head() -> str:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_previous_release_database_is_upgraded_with_its_data(db_url: str) -> None:
    _previous_release_db(db_url)
    catalog = Catalog(db_url)
    catalog.create_all()
    catalog.create_all()  # a second start finds the schema at head and changes nothing
    state = catalog.get("abcdabcdabcdabcd")
    assert state is not None
    assert (state.title, state.status, state.clip_count) == ("Old lecture", READY, 7)
    assert state.capabilities == {"speech": {"ok": True}}
    with catalog.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == _head()
        # today's schema, column for column: nothing the models declare is missing
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        tables = set(inspect(conn).get_table_names())
    assert not diff, diff
    assert set(Base.metadata.tables) <= tables
    # and the catalog works on it: the old video can be renamed and re-indexed
    assert catalog.set_title("abcdabcdabcdabcd", "Renamed")
    outcome, _ = catalog.reset_job("abcdabcdabcdabcd", 60.0)
    assert outcome.value == "done"
    catalog.dispose()


def test_fresh_database_is_created_at_head(db_url: str) -> None:
    catalog = Catalog(db_url)
    catalog.create_all()
    with catalog.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == _head()
        assert not compare_metadata(MigrationContext.configure(conn), Base.metadata)
    catalog.dispose()


def test_processes_starting_together_migrate_once(db_url: str) -> None:
    """The gateway, the workers and the CLI all migrate at start: four processes racing on a new
    database all start, and it ends at head."""
    import subprocess
    import sys

    code = "import sys; from indexer.catalog import Catalog; Catalog(sys.argv[1]).create_all()"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, db_url], stderr=subprocess.PIPE, cwd=Path.cwd()
        )
        for _ in range(4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()[-2000:]
    engine = create_engine(db_url)
    with engine.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        assert not compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert versions == [_head()]
