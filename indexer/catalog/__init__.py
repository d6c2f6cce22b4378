"""The service's shared state: videos, jobs and their steps in SQL (SQLite by default, PostgreSQL
by URL). The gateway, the workers and the `vidrag` command line all use it; it imports neither
FastAPI nor Celery.

The database row is the source of truth of a job. A job runs as steps — `prepare`, one
`part-NNNN` per part of the video, `finish` — and a runner (a Celery task, or `vidrag index`)
owns a step while it runs it, proving it is alive with a heartbeat. Every write that belongs to
a step is guarded by its owner, so a runner that was given up for dead (or whose video was
deleted) can no longer change anything.

    schema.py    tables, statuses, `VideoState`, `Claim`
    db.py        engine, sessions, compare-and-set helpers
    videos.py    register, read and delete videos
    listing.py   filtered, sorted, cursor-paginated pages of the library
    lifecycle.py re-index, cancel, rename
    webhooks.py  plan, claim and record webhook deliveries of finished jobs
    migrations/  Alembic revisions, run by `create_all` at start-up
    dispatch.py  what the gateway re-enqueues (unfinished, undispatched, stale)
    steps.py     claim, beat, report, finish: the runners' side
    progress.py  `StepReporter`: the indexer's progress callback → the step's row
"""

from __future__ import annotations

from indexer.catalog.dispatch import JobQueue
from indexer.catalog.lifecycle import JobLifecycle, Outcome
from indexer.catalog.listing import SORTS, BadListing, VideoListing, VideoPage
from indexer.catalog.schema import (
    CANCELLED,
    DEFAULT_TENANT,
    FAILED,
    FINISH,
    PREPARE,
    PROCESSING,
    QUEUED,
    READY,
    STATUSES,
    UNFINISHED,
    WEIGHTS,
    Base,
    Claim,
    JobRow,
    StepRow,
    VideoRow,
    VideoState,
    part_step,
    utcnow,
)
from indexer.catalog.steps import JobSteps
from indexer.catalog.webhooks import WebhookQueue
from indexer.service_settings import JobSettings, ServiceSettings


class Catalog(VideoListing, JobLifecycle, JobQueue, JobSteps, WebhookQueue):
    """Videos, jobs and steps in SQL. Every method is one short transaction."""


__all__ = [
    "CANCELLED",
    "DEFAULT_TENANT",
    "FAILED",
    "FINISH",
    "PREPARE",
    "PROCESSING",
    "QUEUED",
    "READY",
    "SORTS",
    "STATUSES",
    "UNFINISHED",
    "WEIGHTS",
    "BadListing",
    "Base",
    "Catalog",
    "Claim",
    "JobRow",
    "JobSettings",
    "Outcome",
    "ServiceSettings",
    "StepRow",
    "VideoPage",
    "VideoRow",
    "VideoState",
    "part_step",
    "utcnow",
]
