"""Jobs as the gateway sees them: which ones to hand to the broker (again), and which running
steps were given up for dead because their worker stopped beating."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from indexer.catalog.db import CatalogDB, count_rows
from indexer.catalog.schema import FAILED, QUEUED, UNFINISHED, JobRow, StepRow, utcnow


class JobQueue(CatalogDB):
    """The catalog's dispatch side: what the gateway's start-up and periodic sweeps use."""

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
                n = count_rows(
                    s,
                    update(StepRow)
                    .where(StepRow.job_id == job_id, StepRow.name == name, stale)
                    # the owner stays recorded: whoever takes the step over learns whom from
                    .values(status=QUEUED),
                )
                if n and (video_id, job_id) not in out:
                    out.append((video_id, job_id))
        return out

    def stranded_jobs(self, idle_s: float) -> list[tuple[str, int]]:
        """Unfinished jobs handed to the broker more than `idle_s` ago in which nothing has
        happened since: no step runs, and neither the job nor any step was written to for
        `idle_s`. Their message was lost between the broker and a worker (a queue flushed, a
        worker that died holding it before starting), or a step's follow-up was never sent."""
        cutoff = utcnow() - timedelta(seconds=idle_s)
        with self.session() as s:
            busy = (
                select(StepRow.job_id)
                .where(
                    (StepRow.status == "running")
                    | ((StepRow.heartbeat_at.is_not(None)) & (StepRow.heartbeat_at > cutoff))
                )
                .scalar_subquery()
            )
            q = (
                select(JobRow.video_id, JobRow.id)
                .where(
                    JobRow.status.in_(UNFINISHED),
                    JobRow.enqueued_at.is_not(None),
                    JobRow.enqueued_at <= cutoff,
                    JobRow.updated_at <= cutoff,
                    JobRow.id.not_in(busy),
                )
                .order_by(JobRow.id)
            )
            return [(v, j) for v, j in s.execute(q)]

    def failed_jobs(self, error_type: str, older_than_s: float) -> list[tuple[str, int]]:
        """Jobs that failed with `error_type` at least `older_than_s` ago, oldest first."""
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        with self.session() as s:
            q = (
                select(JobRow.video_id, JobRow.id)
                .where(
                    JobRow.status == FAILED,
                    JobRow.error_type == error_type,
                    JobRow.finished_at <= cutoff,
                )
                .order_by(JobRow.id)
            )
            return [(v, j) for v, j in s.execute(q)]
