"""How the gateway hands work to the workers — by task name only, never by importing them — and
how it makes sure no job is lost: at start-up every unfinished job is enqueued again (a broker
that lost its queue loses nothing), and a periodic sweep re-enqueues the jobs whose running step
stopped beating (its worker died) or whose message vanished (nothing happened in them for a
while and the queues are empty), and sends the webhooks of finished jobs (`app.webhooks`).
Enqueueing twice is harmless: steps are claimed in the database and their outputs are
idempotent."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

from app import webhooks
from indexer.catalog import Catalog, Outcome
from indexer.errors import InsufficientStorage
from indexer.service_settings import ServiceSettings
from indexer.store import Library

log = logging.getLogger("vidrag.gateway")
PREPARE_TASK = "vidrag.prepare"


class Dispatcher:
    """A Celery client configured like the workers, that only sends tasks by name."""

    def __init__(self, settings: ServiceSettings) -> None:
        from celery import Celery

        self.settings = settings
        self.celery = Celery("vidrag-gateway", set_as_current=False)
        self.celery.conf.update(settings.celery_config())
        # the gateway never reads task results (the database has the state): no result store
        self.celery.conf.result_backend = None

    def enqueue(self, video_id: str, job_id: int) -> None:
        """Send the job's first step; raises the broker's connection error when it is down."""
        self.celery.send_task(
            PREPARE_TASK,
            args=[video_id, job_id],
            ignore_result=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        )

    def ping(self, timeout_s: float = 3.0) -> None:
        with self.celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout_s)
            conn.default_channel  # noqa: B018  (opens the channel: the real check)

    def waiting(self) -> int | None:
        """Messages waiting in the job queues (not those a worker has taken); None when the
        broker cannot say."""
        from kombu.exceptions import ChannelError

        total = 0
        try:
            with self.celery.connection_for_write() as conn:
                channel = conn.default_channel
                for kind in ("cpu", "gpu"):
                    try:
                        total += channel.queue_declare(
                            queue=self.settings.queue(kind), passive=True
                        ).message_count
                    except ChannelError:  # the queue was never declared: nothing in it
                        channel = conn.channel()
        except Exception as e:  # a broker that is down says nothing; the next sweep asks again
            log.warning("cannot count the waiting jobs: %s", e)
            return None
        return total

    def describe(self) -> str:
        url: str = self.celery.conf.broker_url
        return url.split("://", 1)[0]

    def close(self) -> None:
        self.celery.close()


def dispatch(catalog: Catalog, dispatcher: Dispatcher, video_id: str, job_id: int) -> bool:
    """Enqueue a job and record it. False (logged) when the broker is unreachable: the job is
    then marked undispatched, and a later sweep sends it."""
    try:
        dispatcher.enqueue(video_id, job_id)
    except Exception as e:  # any broker failure: nothing is lost, the row says what to resend
        log.warning("cannot enqueue job %s of video %s: %s", job_id, video_id, e)
        catalog.mark_enqueued(job_id, sent=False)
        return False
    catalog.mark_enqueued(job_id)
    return True


def clear_stage_markers(library: Library, video_id: str) -> None:
    """Forget which stages finished (the video's and every part's), so the next run recomputes
    them with today's models and settings; the stored source and manifest stay."""
    root = library.store(video_id).root
    shutil.rmtree(root / "stages", ignore_errors=True)
    for part in (root / "parts").glob("*"):
        shutil.rmtree(part / "stages", ignore_errors=True)


def reindex(
    catalog: Catalog,
    dispatcher: Dispatcher,
    library: Library,
    settings: ServiceSettings,
    video_id: str,
) -> Outcome:
    """Run the video's indexing again from its stored source: the job's steps go first (an old
    worker stops at its next write), then the stage markers, then the job is enqueued."""
    outcome, job_id = catalog.reset_job(video_id, settings.jobs.stale_after_s)
    if outcome is not Outcome.DONE or job_id is None:
        return outcome
    clear_stage_markers(library, video_id)
    dispatch(catalog, dispatcher, video_id, job_id)
    return outcome


def requeue_failed(catalog: Catalog, dispatcher: Dispatcher, job_id: int, video_id: str) -> bool:
    """A failed job is queued again, keeping the steps it finished, and enqueued."""
    if not catalog.reopen(job_id):
        return False
    dispatch(catalog, dispatcher, video_id, job_id)
    return True


def sweep(
    catalog: Catalog, dispatcher: Dispatcher, settings: ServiceSettings, *, startup: bool
) -> dict[str, Any]:
    """One pass: (at start-up) every unfinished job, else only never-dispatched ones; plus the
    jobs whose running step went stale. Returns what it did (for logs and tests)."""
    if startup:
        todo = catalog.unfinished_jobs()
    else:
        # an upload enqueues its own job; only pick up those whose enqueue failed
        todo = catalog.undispatched_jobs(grace_s=max(30.0, 2 * settings.jobs.sweep_s))
    stale = catalog.reclaim_stale(settings.jobs.stale_after_s)
    for pair in stale:
        log.warning("video %s: a step stopped beating; enqueueing job %s again", *pair)
    if not startup:
        stale += _stranded(catalog, dispatcher, settings)
    requeued = _space_returned(catalog, dispatcher, settings)
    sent = failed = 0
    for video_id, job_id in dict.fromkeys(todo + stale):
        if failed:  # the broker is down: do not wait on it once per job; a later sweep sends
            catalog.mark_enqueued(job_id, sent=False)
            failed += 1
        elif dispatch(catalog, dispatcher, video_id, job_id):
            sent += 1
        else:
            failed += 1
    return {"sent": sent, "failed": failed, "stale": len(stale), "requeued": requeued}


def _space_returned(catalog: Catalog, dispatcher: Dispatcher, settings: ServiceSettings) -> int:
    """Jobs that failed on a full disk are queued again (keeping their finished steps) once the
    data disk has `min_free_mb` free; at most once per `resend_after_s` each."""
    waiting = catalog.failed_jobs(InsufficientStorage.type, settings.jobs.resend_after_s)
    if not waiting or free_mb(settings.data_dir) < settings.jobs.min_free_mb:
        return 0
    for video_id, job_id in waiting:
        log.warning("video %s: space returned; queueing job %s again", video_id, job_id)
        requeue_failed(catalog, dispatcher, job_id, video_id)
    return len(waiting)


def free_mb(path: Path) -> float:
    """Free space on the disk that holds `path`, in MiB."""
    return shutil.disk_usage(path).free / 2**20


def _stranded(
    catalog: Catalog, dispatcher: Dispatcher, settings: ServiceSettings
) -> list[tuple[str, int]]:
    """Jobs whose message was lost after it was handed to the broker (a flushed queue, a worker
    that died holding it before it started): nothing happened in them for `resend_after_s` and
    the queues hold nothing. While messages wait, a silent job may just be behind them; when
    none wait, a message may still sit in a busy worker's prefetch, so a resend can duplicate
    it, which is harmless (steps are claimed in the database) and happens at most once per
    `resend_after_s` (the resend restarts the clock)."""
    stranded = catalog.stranded_jobs(settings.jobs.resend_after_s)
    if not stranded or dispatcher.waiting() != 0:
        return []
    for pair in stranded:
        log.warning("video %s: job %s was sent and never ran; sending it again", *pair)
    return stranded


async def sweep_forever(
    catalog: Catalog,
    dispatcher: Dispatcher,
    settings: ServiceSettings,
    heal: Callable[[], object] | None = None,
) -> None:
    """The periodic sweep, after the start-up one (see `app.main.lifespan`); `heal` repairs
    videos whose index cannot be loaded (`app.healing`)."""
    while True:
        await asyncio.sleep(settings.jobs.sweep_s)
        try:
            await run_in_threadpool(sweep, catalog, dispatcher, settings, startup=False)
        except Exception:
            log.exception("job sweep failed")
        try:
            await run_in_threadpool(webhooks.run, catalog, settings)
        except Exception:
            log.exception("webhook sweep failed")
        if heal is not None:
            try:
                await run_in_threadpool(heal)
            except Exception:
                log.exception("index repair sweep failed")
