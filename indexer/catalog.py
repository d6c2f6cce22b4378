"""The service's shared state: videos, jobs and their steps in SQL (SQLite by default, PostgreSQL
by URL), and how the gateway and the workers reach each other (broker, queues). Both `app` and
`workers` use this module; it imports neither FastAPI nor Celery.

The database row is the source of truth of a job. A job runs as steps — `prepare`, one
`part-NNNN` per part of the video, `finish` — and a worker owns a step while it runs it,
proving it is alive with a heartbeat. Every write that belongs to a step is guarded by its owner,
so a task that was given up for dead (or whose video was deleted) can no longer change anything.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
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
    delete,
    event,
    func,
    select,
    update,
)
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from indexer.settings import Settings

QUEUED, PROCESSING, READY, FAILED = "queued", "processing", "ready", "failed"
UNFINISHED = (QUEUED, PROCESSING)
PREPARE, FINISH = "prepare", "finish"
# how much of a job's percent each kind of step stands for (the parts share theirs)
WEIGHTS = {PREPARE: 2.0, "parts": 88.0, FINISH: 10.0}


class JobSettings(BaseModel):
    stale_after_s: float = 90.0  # a running step whose worker has not beaten for this long is dead
    heartbeat_s: float = 5.0
    sweep_s: float = 15.0  # how often the gateway looks for dead steps
    busy_retry_s: float = 5.0  # a step another worker holds is tried again after this
    max_retries: int = 5  # for transient errors (flaky disk, lost connections)
    retry_backoff_s: float = 5.0
    progress_interval_s: float = 0.5  # progress writes per step are at most this frequent
    # Redis only: an unacknowledged task is handed out again after this long (a safety net;
    # dead workers are normally detected sooner through their heartbeats)
    visibility_timeout_s: int = 6 * 3600
    poll_s: float = 0.05  # embedded broker: how often an idle worker looks for work
    concurrency: int | None = None  # embedded worker processes (None: one per two cores)


class ServiceSettings(Settings):
    """Settings shared by the gateway and the workers: where the state and the queue are."""

    # default: sqlite:///<data_dir>/vidrag.db
    database_url: str | None = None
    # default: an embedded broker in <data_dir>/broker (no Redis); redis://host:6379/0 to scale
    broker_url: str | None = None
    # default: the Redis broker itself, else the database
    result_backend: str | None = None
    queue_prefix: str = "vidrag"
    jobs: JobSettings = Field(default_factory=JobSettings)

    def db_url(self) -> str:
        url = self.database_url or f"sqlite:///{self.data_dir.resolve() / 'vidrag.db'}"
        # psycopg 3 is the driver we install; a bare postgresql:// would ask for psycopg2
        for bare in ("postgresql://", "postgres://"):
            if url.startswith(bare):
                return "postgresql+psycopg://" + url[len(bare) :]
        return url

    @property
    def embedded(self) -> bool:
        return not self.broker_url

    @property
    def broker_dir(self) -> Path:
        return self.data_dir.resolve() / "broker"

    def queue(self, kind: str) -> str:
        return f"{self.queue_prefix}.{kind}"

    def celery_config(self) -> dict[str, Any]:
        """Celery configuration as plain values (no Celery import), shared by both sides."""
        jobs = self.jobs
        if self.broker_url:
            broker = self.broker_url
            transport: dict[str, Any] = {
                "visibility_timeout": jobs.visibility_timeout_s,
                "socket_connect_timeout": 5,  # an unreachable broker fails fast, not after minutes
            }
        else:
            # kombu's file-system transport: one folder of message files, polled; no server
            broker = "filesystem://"
            folder = str(self.broker_dir / "queue")
            transport = {
                "data_folder_in": folder,
                "data_folder_out": folder,
                "control_folder": str(self.broker_dir / "control"),
                "polling_interval": jobs.poll_s,
            }
        backend = self.result_backend
        if backend is None:
            if broker.startswith(("redis://", "rediss://")):
                backend = broker
            elif self.db_url().startswith("sqlite"):
                # its own file: Celery's result writes must not queue behind ours
                backend = f"db+sqlite:///{self.data_dir.resolve() / 'results.db'}"
            else:
                backend = "db+" + self.db_url()
        cpu, gpu = self.queue("cpu"), self.queue("gpu")
        return {
            "broker_url": broker,
            "broker_transport_options": transport,
            "result_backend": backend,
            "result_expires": 24 * 3600,
            "task_default_queue": cpu,  # also where Celery's own chord_unlock goes
            "task_routes": {
                "vidrag.prepare": {"queue": cpu},
                "vidrag.index_part": {"queue": gpu},
                "vidrag.finish": {"queue": gpu},
            },
            "task_serializer": "json",
            "result_serializer": "json",
            "accept_content": ["json"],
            # a task is acknowledged when it ends, so one that dies with its worker runs again
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": 1,
            "broker_connection_retry_on_startup": True,
            "worker_hijack_root_logger": False,
        }

    def ensure_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.embedded:
            (self.broker_dir / "queue").mkdir(parents=True, exist_ok=True)
            (self.broker_dir / "control").mkdir(parents=True, exist_ok=True)


def utcnow() -> datetime:
    # naive UTC everywhere: SQLite keeps no time zone, and comparisons must agree across backends
    return datetime.now(UTC).replace(tzinfo=None)


def part_step(k: int) -> str:
    return f"part-{k:04d}"


class Base(DeclarativeBase):
    pass


class VideoRow(Base):
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


class JobRow(Base):
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
    # when the job was last handed to the broker; None: not yet (the broker was unreachable)
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class StepRow(Base):
    __tablename__ = "job_steps"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)  # queued|running|done
    stage: Mapped[str | None] = mapped_column(String(32))
    fraction: Mapped[float] = mapped_column(Float, default=0.0)
    owner: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class Claim(enum.Enum):
    CLAIMED = "claimed"  # the caller owns the step now
    DONE = "done"  # nothing to do: the step finished earlier
    BUSY = "busy"  # another live worker owns it: wait and try again
    GONE = "gone"  # the job no longer exists (video deleted): drop the task


class VideoState(BaseModel):
    """A video joined with its job, as the gateway shows it."""

    id: str
    title: str
    filename: str
    sha256: str
    language: str | None
    size_bytes: int
    duration_s: float
    media: dict[str, Any]
    capabilities: dict[str, Any]
    clip_count: int
    created_at: datetime
    job_id: int
    status: str
    stage: str
    percent: float
    parts_total: int
    parts_done: int
    attempts: int
    error_type: str | None
    error_message: str | None
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


def _count(s: Session, stmt: Any) -> int:
    """Rows changed by an UPDATE or DELETE (the compare-and-set primitive of this module)."""
    result: CursorResult[Any] = s.execute(stmt)  # type: ignore[assignment]
    return result.rowcount


def _update_unfinished(s: Session, job_id: int, **values: Any) -> int:
    """Set `values` on the job only while it is unfinished; 1 when it was, 0 otherwise."""
    stmt = update(JobRow).where(JobRow.id == job_id, JobRow.status.in_(UNFINISHED))
    return _count(s, stmt.values(**values))


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


class Catalog:
    """Videos, jobs and steps in SQL. Every method is one short transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def create_all(self) -> None:
        """Create missing tables. The gateway and every worker call this at start; when two
        race, the loser's CREATE fails on the winner's table, and a second look finds it."""
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

    # --- videos ----------------------------------------------------------------------------------
    def add_video(self, manifest: Any, *, language: str | None = None) -> tuple[VideoState, bool]:
        """Insert a video and its queued job from an accepted manifest. Returns (state, created);
        a video already catalogued (same bytes, same id) is returned as it is."""
        existing = self.get(manifest.id)
        if existing is not None:
            return existing, False
        now = utcnow()
        try:
            with self.session() as s:
                s.add(
                    VideoRow(
                        id=manifest.id,
                        sha256=manifest.sha256,
                        title=manifest.title,
                        filename=manifest.filename,
                        language=language,
                        size_bytes=manifest.media.size_bytes,
                        duration_s=manifest.media.duration_s,
                        media=manifest.media.model_dump(mode="json"),
                        capabilities={},
                        clip_count=0,
                        created_at=now,
                    )
                )
                s.flush()
                job = JobRow(
                    video_id=manifest.id,
                    status=QUEUED,
                    stage=QUEUED,
                    percent=0.0,
                    enqueued_at=None,
                    updated_at=now,
                )
                s.add(job)
                s.flush()
                s.add(StepRow(job_id=job.id, name=PREPARE, status=QUEUED))
        except IntegrityError:  # a concurrent upload of the same bytes won the insert
            state = self.get(manifest.id)
            if state is None:
                raise
            return state, False
        state = self.get(manifest.id)
        assert state is not None
        return state, True

    def get(self, video_id: str) -> VideoState | None:
        rows = self._states(select(VideoRow, JobRow).join(JobRow).where(VideoRow.id == video_id))
        return rows[0] if rows else None

    def list_videos(self, *, limit: int = 100, offset: int = 0) -> tuple[list[VideoState], int]:
        """Newest first, and the total count."""
        q = (
            select(VideoRow, JobRow)
            .join(JobRow)
            .order_by(VideoRow.created_at.desc(), VideoRow.id)
            .limit(limit)
            .offset(offset)
        )
        with self.session() as s:
            total = s.scalar(select(func.count()).select_from(VideoRow)) or 0
        return self._states(q), total

    def ids_with_status(self, *statuses: str) -> list[str]:
        with self.session() as s:
            q = select(JobRow.video_id).where(JobRow.status.in_(statuses))
            return list(s.scalars(q))

    def statuses(self, video_ids: list[str]) -> dict[str, str]:
        with self.session() as s:
            q = select(JobRow.video_id, JobRow.status).where(JobRow.video_id.in_(video_ids))
            return {v: st for v, st in s.execute(q)}

    def delete(self, video_id: str) -> bool:
        with self.session() as s:
            job_ids = list(s.scalars(select(JobRow.id).where(JobRow.video_id == video_id)))
            if job_ids:
                s.execute(delete(StepRow).where(StepRow.job_id.in_(job_ids)))
                s.execute(delete(JobRow).where(JobRow.id.in_(job_ids)))
            return _count(s, delete(VideoRow).where(VideoRow.id == video_id)) > 0

    def _states(self, q: Any) -> list[VideoState]:
        with self.session() as s:
            pairs = s.execute(q).all()
            if not pairs:
                return []
            done: dict[int, int] = {
                job: n
                for job, n in s.execute(
                    select(StepRow.job_id, func.count())
                    .where(
                        StepRow.job_id.in_([j.id for _, j in pairs]),
                        StepRow.name.like("part-%"),
                        StepRow.status == "done",
                    )
                    .group_by(StepRow.job_id)
                )
            }
        return [
            VideoState(
                id=v.id,
                title=v.title,
                filename=v.filename,
                sha256=v.sha256,
                language=v.language,
                size_bytes=v.size_bytes,
                duration_s=v.duration_s,
                media=v.media,
                capabilities=v.capabilities or {},
                clip_count=v.clip_count,
                created_at=v.created_at,
                job_id=j.id,
                status=j.status,
                stage=j.stage,
                percent=round(j.percent, 1),
                parts_total=j.parts_total,
                parts_done=done.get(j.id, 0),
                attempts=j.attempts,
                error_type=j.error_type,
                error_message=j.error_message,
                started_at=j.started_at,
                finished_at=j.finished_at,
                updated_at=j.updated_at,
            )
            for v, j in pairs
        ]

    # --- jobs: what the gateway does -------------------------------------------------------------
    def unfinished_jobs(self) -> list[tuple[str, int]]:
        """(video_id, job_id) of every job that is queued or processing, oldest first."""
        with self.session() as s:
            q = (
                select(JobRow.video_id, JobRow.id)
                .where(JobRow.status.in_(UNFINISHED))
                .order_by(JobRow.id)
            )
            return [(v, j) for v, j in s.execute(q)]

    def undispatched_jobs(self, grace_s: float = 0.0) -> list[tuple[str, int]]:
        """Unfinished jobs never handed to the broker (it was down when they were created),
        older than `grace_s` (younger ones are still being enqueued by their upload)."""
        cutoff = utcnow() - timedelta(seconds=grace_s)
        with self.session() as s:
            q = (
                select(JobRow.video_id, JobRow.id)
                .where(
                    JobRow.status.in_(UNFINISHED),
                    JobRow.enqueued_at.is_(None),
                    JobRow.updated_at <= cutoff,
                )
                .order_by(JobRow.id)
            )
            return [(v, j) for v, j in s.execute(q)]

    def mark_enqueued(self, job_id: int, *, sent: bool = True) -> None:
        """Record that the job was handed to the broker (or, `sent=False`, that it must be
        handed again: a sweep picks up jobs with no `enqueued_at`)."""
        with self.session() as s:
            s.execute(
                update(JobRow)
                .where(JobRow.id == job_id)
                .values(enqueued_at=utcnow() if sent else None)
            )

    def reclaim_stale(self, stale_s: float) -> list[tuple[str, int]]:
        """Give up running steps whose worker stopped beating; return their jobs to re-enqueue.
        The reset is a compare-and-set, so two gateways sweeping at once re-enqueue once."""
        cutoff = utcnow() - timedelta(seconds=stale_s)
        stale = (StepRow.status == "running") & (StepRow.heartbeat_at < cutoff)
        out: list[tuple[str, int]] = []
        with self.session() as s:
            rows = s.execute(
                select(StepRow.job_id, StepRow.name, JobRow.video_id)
                .join(JobRow)
                .where(stale, JobRow.status.in_(UNFINISHED))
            ).all()
            for job_id, name, video_id in rows:
                n = _count(
                    s,
                    update(StepRow)
                    .where(StepRow.job_id == job_id, StepRow.name == name, stale)
                    # the owner stays recorded: whoever takes the step over learns whom from
                    .values(status=QUEUED),
                )
                if n and (video_id, job_id) not in out:
                    out.append((video_id, job_id))
        return out

    # --- jobs: what the workers do ---------------------------------------------------------------
    def job_alive(self, job_id: int) -> bool:
        with self.session() as s:
            status = s.scalar(select(JobRow.status).where(JobRow.id == job_id))
        return status in UNFINISHED

    def start_job(self, job_id: int) -> bool:
        """The prepare step began: the job is processing. False when it is gone or finished."""
        now = utcnow()
        with self.session() as s:
            n = _update_unfinished(
                s,
                job_id,
                status=PROCESSING,
                attempts=JobRow.attempts + 1,
                updated_at=now,
                started_at=func.coalesce(JobRow.started_at, now),
                stage=func.coalesce(JobRow.stage, "planning"),
            )
        return n > 0

    def set_parts(self, job_id: int, n_parts: int) -> list[int]:
        """Record the plan (once) and return the parts not done yet."""
        with self.session() as s:
            names = set(s.scalars(select(StepRow.name).where(StepRow.job_id == job_id)))
            for k in range(n_parts):
                if part_step(k) not in names:
                    s.add(StepRow(job_id=job_id, name=part_step(k), status=QUEUED))
            if FINISH not in names:
                s.add(StepRow(job_id=job_id, name=FINISH, status=QUEUED))
            s.execute(
                update(StepRow)
                .where(StepRow.job_id == job_id, StepRow.name == PREPARE)
                .values(status="done", fraction=1.0, owner=None)
            )
            s.execute(
                update(JobRow)
                .where(JobRow.id == job_id)
                .values(parts_total=n_parts, updated_at=utcnow())
            )
            s.flush()
            done = set(
                s.scalars(
                    select(StepRow.name).where(StepRow.job_id == job_id, StepRow.status == "done")
                )
            )
            self._recompute(s, job_id, None)
        return [k for k in range(n_parts) if part_step(k) not in done]

    def claim_step(
        self, job_id: int, name: str, owner: str, stale_s: float
    ) -> tuple[Claim, str | None]:
        """Take a step for `owner` unless it is done or a live worker holds it. A redelivered
        task keeps its id, so it re-takes its own step at once. Returns the claim and, when the
        step is taken over from another task (dead, or given up by the sweep), that task's id."""
        now = utcnow()
        cutoff = now - timedelta(seconds=stale_s)
        with self.session() as s:
            if not s.scalar(
                select(JobRow.id).where(JobRow.id == job_id, JobRow.status.in_(UNFINISHED))
            ):
                return Claim.GONE, None
            row = s.scalars(
                select(StepRow)
                .where(StepRow.job_id == job_id, StepRow.name == name)
                .with_for_update()
            ).first()
            if row is None:
                s.add(StepRow(job_id=job_id, name=name, status=QUEUED))
                s.flush()
            previous = row.owner if row is not None and row.owner != owner else None
            free = (
                (StepRow.status != "running")
                | (StepRow.owner == owner)
                | StepRow.owner.is_(None)
                | (StepRow.heartbeat_at < cutoff)
            )
            n = _count(
                s,
                update(StepRow)
                .where(
                    StepRow.job_id == job_id, StepRow.name == name, StepRow.status != "done", free
                )
                .values(
                    status="running", owner=owner, heartbeat_at=now, attempts=StepRow.attempts + 1
                ),
            )
            if n:
                return Claim.CLAIMED, previous
            status = s.scalar(
                select(StepRow.status).where(StepRow.job_id == job_id, StepRow.name == name)
            )
        return (Claim.DONE if status == "done" else Claim.BUSY), None

    def heartbeat(self, owners: list[str]) -> None:
        """The tasks `owners` are alive: refresh the steps they hold."""
        with self.session() as s:
            s.execute(
                update(StepRow)
                .where(StepRow.owner.in_(owners), StepRow.status == "running")
                .values(heartbeat_at=utcnow())
            )

    def report(self, job_id: int, name: str, owner: str, stage: str, fraction: float) -> bool:
        """Progress of an owned step; False when the step is no longer ours (job deleted,
        or given up for dead and taken by another worker)."""
        with self.session() as s:
            n = _count(
                s,
                update(StepRow)
                .where(
                    StepRow.job_id == job_id,
                    StepRow.name == name,
                    StepRow.owner == owner,
                    StepRow.status == "running",
                )
                .values(stage=stage, fraction=max(0.0, min(1.0, fraction)), heartbeat_at=utcnow()),
            )
            if n:
                self._recompute(s, job_id, stage)
        return n > 0

    def step_done(self, job_id: int, name: str, owner: str) -> bool:
        with self.session() as s:
            n = _count(
                s,
                update(StepRow)
                .where(StepRow.job_id == job_id, StepRow.name == name, StepRow.owner == owner)
                .values(status="done", fraction=1.0, owner=None),
            )
            if n:
                self._recompute(s, job_id, None)
        return n > 0

    def mark_ready(self, job_id: int, owner: str, summary: dict[str, Any]) -> bool:
        """The finish step succeeded: record what the index holds and close the job."""
        now = utcnow()
        with self.session() as s:
            n = _count(
                s,
                update(StepRow)
                .where(StepRow.job_id == job_id, StepRow.name == FINISH, StepRow.owner == owner)
                .values(status="done", fraction=1.0, owner=None),
            )
            if not n:
                return False
            job = s.get(JobRow, job_id)
            assert job is not None
            s.execute(
                update(VideoRow)
                .where(VideoRow.id == job.video_id)
                .values(
                    clip_count=int(summary.get("clip_count", 0)),
                    capabilities=summary.get("capabilities", {}),
                )
            )
            job.status, job.stage, job.percent = READY, READY, 100.0
            job.finished_at = job.updated_at = now
            job.error_type = job.error_message = None
        return True

    def mark_failed(self, job_id: int, error_type: str, message: str) -> bool:
        now = utcnow()
        with self.session() as s:
            n = _update_unfinished(
                s,
                job_id,
                status=FAILED,
                error_type=error_type,
                error_message=message[:2000],
                finished_at=now,
                updated_at=now,
            )
            s.execute(
                update(StepRow)
                .where(StepRow.job_id == job_id, StepRow.status == "running")
                .values(status=QUEUED, owner=None)
            )
        return n > 0

    def _recompute(self, s: Session, job_id: int, stage: str | None) -> None:
        steps = {r.name: r for r in s.scalars(select(StepRow).where(StepRow.job_id == job_id))}
        parts = [r for n, r in steps.items() if n.startswith("part-")]
        frac = {n: (1.0 if r.status == "done" else r.fraction) for n, r in steps.items()}
        pct = WEIGHTS[PREPARE] * frac.get(PREPARE, 0.0) + WEIGHTS[FINISH] * frac.get(FINISH, 0.0)
        if parts:
            pct += WEIGHTS["parts"] * sum(frac[r.name] for r in parts) / len(parts)
        job = s.get(JobRow, job_id)
        if job is None or job.status not in UNFINISHED:
            return
        # never let the bar move back (a retried step restarts its own fraction from zero)
        job.percent = min(99.9, max(job.percent, pct))
        if stage:
            job.stage = stage
        job.updated_at = utcnow()
