"""The tasks: thin shells over the indexer's stages, found by name by the gateway.

    vidrag.prepare(video_id, job_id)        cpu queue: plan the parts, start a chord over them
    vidrag.index_part(video_id, job_id, k)  gpu queue: decode + extractors for part k
    vidrag.finish(video_id, job_id)         gpu queue: clips, text vectors, indexes (chord body)

A step is claimed in the database before it runs, so a duplicate message (a re-enqueued job, a
redelivery) either finds the step done, waits for the live worker that holds it, or takes over
from a dead one. Only transient errors are retried. Status and progress are written by
`workers.signals` and `indexer.catalog.progress`, not here."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, NoReturn

from celery import Task, chord
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.exc import OperationalError as DatabaseError

from indexer.catalog import FINISH, Catalog, Claim, part_step
from indexer.catalog.progress import StepLost, StepReporter
from indexer.errors import (
    DecodeStalled,
    InsufficientStorage,
    VidragError,
    as_storage_error,
)
from indexer.service_settings import JobSettings, ServiceSettings
from indexer.store import Library
from workers.celery_app import celery_app

log = logging.getLogger("vidrag.worker")
TRANSIENT: tuple[type[BaseException], ...] = (OSError, DatabaseError, BrokerError)
# OSErrors that a retry will not fix
PERMANENT_OS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)
try:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    TRANSIENT += (RedisConnectionError, RedisTimeoutError)
except ImportError:  # redis is optional in the embedded mode
    pass


@dataclass
class Runtime:
    """What a worker process keeps between tasks (its models load once, on first use)."""

    settings: ServiceSettings
    catalog: Catalog
    library: Library
    indexer: Any
    pid: int


_runtime: Runtime | None = None


def runtime() -> Runtime:
    global _runtime
    # built in each pool process after the fork: database connections and models are per process
    if _runtime is None or _runtime.pid != os.getpid():
        from indexer.extractors import Extractors
        from indexer.pipeline import Indexer

        settings = ServiceSettings()
        catalog = Catalog(settings.db_url())
        catalog.create_all()
        _runtime = Runtime(
            settings,
            catalog,
            Library(settings.videos_dir),
            Indexer(settings, Extractors(settings)),
            os.getpid(),
        )
    return _runtime


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, (VidragError, *PERMANENT_OS)):
        return False
    return isinstance(exc, TRANSIENT)


def retries_allowed(exc: BaseException, jobs: JobSettings) -> int:
    """How often a step is tried again after `exc`: transient faults (a lost connection, a
    flaky disk, a full disk) up to `max_retries`; what the same input fails the same way again
    (bad media, a missing model or tool) never; anything else (a hung decoder, an unexpected
    error in an extractor) `step_retries` times, so one bad run of one part does not fail the
    whole video. (A step past its time limit is killed with its process, never retried.)"""
    if is_transient(exc) or isinstance(exc, InsufficientStorage):
        return jobs.max_retries
    if isinstance(exc, DecodeStalled):
        return jobs.step_retries
    if isinstance(exc, (VidragError, *PERMANENT_OS)):
        return 0
    return jobs.step_retries


def _retry_or_raise(task: Task, exc: Exception, failures: int) -> NoReturn:
    if isinstance(exc, StepLost):
        # the video was deleted, or the step was taken over: fail without retrying (a failure
        # also ends the chord waiting for this task; the new owner's chord goes on)
        raise exc
    jobs = runtime().settings.jobs
    exc = as_storage_error(exc)
    if failures < retries_allowed(exc, jobs):
        log.warning("%s: %s, retry %d: %s", task.name, type(exc).__name__, failures + 1, exc)
        kwargs = {**(task.request.kwargs or {}), "failures": failures + 1}
        raise task.retry(exc=exc, kwargs=kwargs, countdown=jobs.retry_backoff_s * 2**failures)
    raise exc


def _claim(task: Task, job_id: int, step: str) -> Claim:
    rt = runtime()
    claim, previous = rt.catalog.claim_step(
        job_id, step, task.request.id, rt.settings.jobs.stale_after_s
    )
    if claim is Claim.BUSY:
        # another live worker runs it; come back (unbounded: it ends, or its heartbeat stops)
        raise task.retry(countdown=rt.settings.jobs.busy_retry_s)
    if previous:
        # the dead task will never report: record it as failed, so a chord still waiting for
        # it (the embedded result store polls for chords) stops waiting instead of polling on
        log.warning("%s: took %s over from task %s", task.name, step, previous)
        task.backend.mark_as_failure(previous, StepLost(f"{step} taken over by {task.request.id}"))
    return claim


@celery_app.task(name="vidrag.prepare", bind=True, max_retries=None, throws=(StepLost,))
def prepare(self: Task, video_id: str, job_id: int, failures: int = 0) -> dict[str, Any]:
    rt = runtime()
    if not rt.catalog.job_alive(job_id):
        return {"skipped": "job deleted or finished"}
    try:
        parts = rt.indexer.plan(rt.library.store(video_id))
        todo = rt.catalog.set_parts(job_id, len(parts))
    except Exception as exc:
        _retry_or_raise(self, exc, failures)
    if not rt.catalog.job_alive(job_id):  # cancelled (or deleted) while planning
        return {"skipped": "job cancelled or deleted"}
    body = finish.si(video_id, job_id)
    if todo:
        chord([index_part.si(video_id, job_id, k) for k in todo], body).apply_async()
    else:
        body.apply_async()
    return {"parts": len(parts), "todo": todo}


@celery_app.task(name="vidrag.index_part", bind=True, max_retries=None, throws=(StepLost,))
def index_part(self: Task, video_id: str, job_id: int, k: int, failures: int = 0) -> dict[str, Any]:
    from indexer.part_stages import PART_STAGES

    step = part_step(k)
    claim = _claim(self, job_id, step)
    if claim is not Claim.CLAIMED:
        return {"step": step, "claim": claim.value}
    rt = runtime()
    report = StepReporter(
        rt.catalog, job_id, step, self.request.id, PART_STAGES, rt.settings.jobs.progress_interval_s
    )
    try:
        rt.indexer.run_part(rt.library.store(video_id), k, report)
    except Exception as exc:
        _retry_or_raise(self, exc, failures)
    return {"step": step, "claim": claim.value}


@celery_app.task(name="vidrag.finish", bind=True, max_retries=None, throws=(StepLost,))
def finish(self: Task, video_id: str, job_id: int, failures: int = 0) -> dict[str, Any]:
    from indexer.pipeline import FINISH_STAGES

    claim = _claim(self, job_id, FINISH)
    if claim is not Claim.CLAIMED:
        return {"step": FINISH, "claim": claim.value}
    rt = runtime()
    report = StepReporter(
        rt.catalog,
        job_id,
        FINISH,
        self.request.id,
        FINISH_STAGES,
        rt.settings.jobs.progress_interval_s,
    )
    try:
        manifest = rt.indexer.finish(rt.library.store(video_id), report)
    except Exception as exc:
        _retry_or_raise(self, exc, failures)
    return {
        "step": FINISH,
        "claim": claim.value,
        "clip_count": manifest.clip_count,
        "capabilities": {kind: c.model_dump() for kind, c in manifest.capabilities.items()},
    }
