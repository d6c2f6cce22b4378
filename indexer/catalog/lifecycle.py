"""A job's life after upload, on request: run it again from the start (re-index), stop it
(cancel), and rename its video. Each is one compare-and-set, so a worker that still runs a step
of the old run finds its step gone at its next write and stops (see `progress.StepLost`)."""

from __future__ import annotations

import enum
from datetime import timedelta

from sqlalchemy import delete, func, select, update

from indexer.catalog.db import CatalogDB, count_rows
from indexer.catalog.schema import (
    CANCELLED,
    FAILED,
    PREPARE,
    PROCESSING,
    QUEUED,
    READY,
    UNFINISHED,
    JobRow,
    StepRow,
    VideoRow,
    utcnow,
)


class Outcome(enum.Enum):
    """What a lifecycle request did."""

    DONE = "done"
    MISSING = "missing"  # no such video
    BUSY = "busy"  # a live worker is on it (re-index), or it already finished (cancel)


class JobLifecycle(CatalogDB):
    """The catalog's side of re-index, cancel and rename."""

    def reset_job(self, video_id: str, stale_s: float) -> tuple[Outcome, int | None]:
        """Put the video's job back to `queued` with no steps but a fresh `prepare`: the next
        run starts from the stored source. Refused (BUSY) while the job is processing and a
        worker showed life within `stale_s`; a stale one is taken back."""
        now = utcnow()
        cutoff = now - timedelta(seconds=stale_s)
        with self.session() as s:
            job = s.scalars(
                select(JobRow).where(JobRow.video_id == video_id).with_for_update()
            ).first()
            if job is None:
                return Outcome.MISSING, None
            if job.status == PROCESSING:
                last_beat = s.scalar(
                    select(func.max(StepRow.heartbeat_at)).where(
                        StepRow.job_id == job.id, StepRow.status == "running"
                    )
                )
                alive = max(t for t in (last_beat, job.updated_at) if t is not None)
                if alive >= cutoff:
                    return Outcome.BUSY, job.id
            # the steps go first: any old owner's next report or claim finds nothing to write
            s.execute(delete(StepRow).where(StepRow.job_id == job.id))
            s.add(StepRow(job_id=job.id, name=PREPARE, status=QUEUED))
            s.execute(
                update(JobRow)
                .where(JobRow.id == job.id)
                .values(
                    status=QUEUED,
                    stage=QUEUED,
                    percent=0.0,
                    parts_total=0,
                    error_type=None,
                    error_message=None,
                    enqueued_at=None,
                    started_at=None,
                    finished_at=None,
                    updated_at=now,
                    notify=False,
                )
            )
        return Outcome.DONE, job.id

    def cancel(self, video_id: str, message: str = "cancelled on request") -> Outcome:
        """A queued or processing job becomes failed (`cancelled`); its running steps are
        released, so their workers' next progress write fails and they stop."""
        now = utcnow()
        with self.session() as s:
            job_id = s.scalar(select(JobRow.id).where(JobRow.video_id == video_id))
            if job_id is None:
                return Outcome.MISSING
            n = count_rows(
                s,
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status.in_(UNFINISHED))
                .values(
                    status=FAILED,
                    error_type=CANCELLED,
                    error_message=message,
                    finished_at=now,
                    updated_at=now,
                    notify=True,
                ),
            )
            if not n:
                return Outcome.BUSY
            s.execute(
                update(StepRow)
                .where(StepRow.job_id == job_id, StepRow.status == "running")
                .values(status=QUEUED, owner=None)
            )
        return Outcome.DONE

    def fail_ready(self, video_id: str, error_type: str, message: str) -> bool:
        """A `ready` video whose index proved unusable becomes failed, with why."""
        now = utcnow()
        with self.session() as s:
            return (
                count_rows(
                    s,
                    update(JobRow)
                    .where(JobRow.video_id == video_id, JobRow.status == READY)
                    .values(
                        status=FAILED,
                        error_type=error_type,
                        error_message=message[:2000],
                        finished_at=now,
                        updated_at=now,
                        notify=True,
                    ),
                )
                > 0
            )

    def set_title(self, video_id: str, title: str) -> bool:
        with self.session() as s:
            return (
                count_rows(s, update(VideoRow).where(VideoRow.id == video_id).values(title=title))
                > 0
            )

    def cancelled_jobs(self, job_ids: set[int]) -> set[int]:
        """Which of these jobs were cancelled: a worker stops the tasks it runs for them."""
        if not job_ids:
            return set()
        with self.session() as s:
            q = select(JobRow.id).where(
                JobRow.id.in_(job_ids), JobRow.status == FAILED, JobRow.error_type == CANCELLED
            )
            return set(s.scalars(q))
