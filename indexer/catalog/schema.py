"""The catalog's tables and values: a video, its one job, and the job's steps.

    videos      one row per video (content-addressed id), what the index holds once ready
    jobs        one per video: status queued → processing → ready | failed, stage, percent
    job_steps   `prepare`, `part-NNNN` per part, `finish`: queued → running (owner, heartbeat)
                → done; the unit a worker claims
    webhook_deliveries  one signed POST of a `ready`/`failed` event to one URL, with retries

`VideoState` is a video joined with its job, as the gateway and the CLI show it."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

QUEUED, PROCESSING, READY, FAILED = "queued", "processing", "ready", "failed"
DEFAULT_TENANT = "default"
UNFINISHED = (QUEUED, PROCESSING)
STATUSES = (QUEUED, PROCESSING, READY, FAILED)
CANCELLED = "cancelled"  # the error type of a job stopped on request
PREPARE, FINISH = "prepare", "finish"
# how much of a job's percent each kind of step stands for (the parts share theirs)
WEIGHTS = {PREPARE: 2.0, "parts": 88.0, FINISH: 10.0}


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
    # where to POST this video's `ready`/`failed` events (besides the configured URLs)
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    # whose video it is: the tenant of the API key that uploaded it (`default` without keys)
    tenant: Mapped[str] = mapped_column(
        String(64), index=True, default=DEFAULT_TENANT, server_default=DEFAULT_TENANT
    )


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
    # the job finished (ready or failed) and its webhooks are not yet planned; the gateway's
    # sweep turns it into `webhook_deliveries` rows
    notify: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


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


class DeliveryRow(Base):
    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(16))  # ready | failed
    url: Mapped[str] = mapped_column(String(2000))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    response_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)


class Claim(enum.Enum):
    """The outcome of trying to take a step."""

    CLAIMED = "claimed"  # the caller owns the step now
    DONE = "done"  # nothing to do: the step finished earlier
    BUSY = "busy"  # another live worker owns it: wait and try again
    GONE = "gone"  # the job no longer exists (video deleted): drop the task


class VideoState(BaseModel):
    """A video joined with its job, as the gateway shows it."""

    id: str
    tenant: str = DEFAULT_TENANT
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
