"""Job status from Celery signals — the one place it is written (paperless-ngx style):

    task_prerun   prepare starts → the job is `processing`
    task_success  a part → its step is done; finish → the job is `ready`
    task_failure  any task, after its retries → the job is `failed`, with the error's type
    task_postrun  a task of a video deleted meanwhile → what it wrote is removed
    worker_ready  the worker's main process starts beating for the tasks its pool runs

The heartbeat comes from the main process, not from the pool process that runs the task: an
extractor may hold the GIL for many seconds (a thread beside it would fall silent and the task
would look dead), while the main process only shuffles messages. Killing the whole worker stops
the beats, which is how the gateway notices. At each beat the main process also terminates the
tasks it runs for a cancelled job: a stage may run for minutes between progress writes, and a
cancelled job must free its worker within a beat or two. A task whose step was taken from it
(`StepLost`) changes nothing."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import Task
from celery.exceptions import TimeLimitExceeded
from celery.signals import task_failure, task_postrun, task_prerun, task_success, worker_ready
from celery.worker import state

from indexer.catalog import Catalog, part_step
from indexer.catalog.progress import StepLost
from indexer.errors import StepTimedOut, VidragError
from indexer.service_settings import ServiceSettings
from workers.tasks import runtime

log = logging.getLogger("vidrag.worker")
OURS = ("vidrag.prepare", "vidrag.index_part", "vidrag.finish")
GRACE_S = 1.0  # a task of a cancelled job younger than this is left to stop on its own


def _beat_for_active_tasks(settings: ServiceSettings, consumer: Any) -> None:
    catalog = Catalog(settings.db_url())  # this thread's own connections, never forked
    terminated: set[str] = set()
    while True:
        time.sleep(settings.jobs.heartbeat_s)
        try:
            requests = list(state.active_requests)
        except RuntimeError:  # the set changed while being copied: try at the next beat
            continue
        try:
            if requests:
                catalog.heartbeat([r.id for r in requests])
                _stop_cancelled(catalog, requests, consumer, terminated)
        except Exception as e:  # a missed beat is not fatal; many in a row look like death
            log.warning("heartbeat failed: %s", e)


def _stop_cancelled(catalog: Catalog, requests: list[Any], consumer: Any, done: set[str]) -> None:
    """Terminate the pool processes running tasks of cancelled jobs (the pool replaces them;
    the redelivered message finds the job finished and does nothing)."""
    jobs = {r.id: int(r.args[1]) for r in requests if r.name in OURS and len(r.args) > 1}
    cancelled = catalog.cancelled_jobs(set(jobs.values()))
    pool = getattr(consumer, "pool", None)
    now = time.time()
    for r in requests:
        # a task that has only just started checks its claim itself and ends at once: killing
        # it would only cost a fresh pool process
        started = getattr(r, "time_start", None)
        if not started or now - started < GRACE_S:
            continue
        if jobs.get(r.id) in cancelled and r.id not in done and pool is not None:
            log.warning("job %s was cancelled: terminating task %s (%s)", jobs[r.id], r.id, r.name)
            done.add(r.id)
            try:
                r.terminate(pool, signal="SIGTERM")
            except NotImplementedError:  # a pool that cannot terminate (threads, solo)
                log.warning("this pool cannot terminate %s; it stops at its next step", r.id)


@worker_ready.connect
def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    threading.Thread(
        target=_beat_for_active_tasks,
        args=(ServiceSettings(), sender),
        name="vidrag-heartbeat",
        daemon=True,
    ).start()


def _cleanup_if_deleted(video_id: str) -> None:
    rt = runtime()
    if rt.catalog.get(video_id) is None and rt.library.delete(video_id):
        log.info("video %s was deleted while indexing; removed what was written", video_id)


@task_prerun.connect
def _on_prerun(task: Task, args: tuple[Any, ...], **_: Any) -> None:
    if task.name == "vidrag.prepare":
        runtime().catalog.start_job(int(args[1]))


@task_postrun.connect
def _on_postrun(task: Task, args: tuple[Any, ...], **_: Any) -> None:
    if task.name in OURS:
        _cleanup_if_deleted(str(args[0]))


@task_success.connect
def _on_success(sender: Task, result: Any, **_: Any) -> None:
    if sender.name not in OURS or not isinstance(result, dict):
        return
    req = sender.request
    _, job_id, *rest = req.args
    catalog = runtime().catalog
    if sender.name == "vidrag.index_part" and result.get("claim") == "claimed":
        catalog.step_done(int(job_id), part_step(int(rest[0])), req.id)
    elif (
        sender.name == "vidrag.finish"
        and result.get("claim") == "claimed"
        and catalog.mark_ready(int(job_id), req.id, result)
    ):
        log.info("video %s is ready: %s clips", req.args[0], result.get("clip_count"))


@task_failure.connect
def _on_failure(
    sender: Task, task_id: str, exception: BaseException, args: tuple[Any, ...], **_: Any
) -> None:
    if sender.name not in OURS or isinstance(exception, StepLost):
        return
    video_id, job_id = str(args[0]), int(args[1])
    if isinstance(exception, VidragError):
        type_, message = exception.type, exception.message
    elif isinstance(exception, TimeLimitExceeded):  # the pool killed it (and its process)
        limit = exception.args[0] if exception.args else "?"
        type_, message = StepTimedOut.type, f"killed at its time limit of {limit} s"
    else:
        type_, message = "indexing_failed", f"{type(exception).__name__}: {exception}"
    if runtime().catalog.mark_failed(job_id, type_, f"{sender.name}: {message}"):
        log.error("video %s failed in %s: %s", video_id, sender.name, message)
