"""Steps as the workers (and `vidrag index`) run them: start a job, record its plan, claim a
step for an owner, beat for it, report its progress, finish it, and close the job as ready or
failed. Every write of a step is guarded by its owner, so a runner that was given up for dead
(or whose video was deleted) can no longer change anything."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from indexer.catalog.db import CatalogDB, count_rows, update_unfinished
from indexer.catalog.schema import (
    FAILED,
    FINISH,
    PREPARE,
    PROCESSING,
    QUEUED,
    READY,
    UNFINISHED,
    WEIGHTS,
    Claim,
    JobRow,
    StepRow,
    VideoRow,
    part_step,
    utcnow,
)


class JobSteps(CatalogDB):
    """The catalog's runner side: the step bookkeeping of a job."""

    def job_alive(self, job_id: int) -> bool:
        with self.session() as s:
            status = s.scalar(select(JobRow.status).where(JobRow.id == job_id))
        return status in UNFINISHED

    def start_job(self, job_id: int) -> bool:
        """The prepare step began: the job is processing. False when it is gone or finished."""
        now = utcnow()
        with self.session() as s:
            n = update_unfinished(
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
            n = count_rows(
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
            n = count_rows(
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
            n = count_rows(
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
            n = count_rows(
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
            job.notify = True  # the gateway's sweep sends the `ready` webhooks
        return True

    def mark_failed(self, job_id: int, error_type: str, message: str) -> bool:
        now = utcnow()
        with self.session() as s:
            n = update_unfinished(
                s,
                job_id,
                status=FAILED,
                error_type=error_type,
                error_message=message[:2000],
                finished_at=now,
                updated_at=now,
                notify=True,
            )
            s.execute(
                update(StepRow)
                .where(StepRow.job_id == job_id, StepRow.status == "running")
                .values(status=QUEUED, owner=None)
            )
        return n > 0

    def running_owners(self, job_id: int) -> set[str]:
        """Who holds the job's running steps (a Celery task id, or a `vidrag index` run)."""
        with self.session() as s:
            q = select(StepRow.owner).where(
                StepRow.job_id == job_id, StepRow.status == "running", StepRow.owner.is_not(None)
            )
            return {o for o in s.scalars(q) if o}

    def release(self, job_id: int, owner: str) -> int:
        """Give back the running steps `owner` holds (an interrupted `vidrag index`), so the
        next runner takes them at once instead of waiting for the heartbeat to go stale."""
        with self.session() as s:
            return count_rows(
                s,
                update(StepRow)
                .where(
                    StepRow.job_id == job_id, StepRow.owner == owner, StepRow.status == "running"
                )
                .values(status=QUEUED, owner=None),
            )

    def reopen(self, job_id: int) -> bool:
        """A failed job is queued again (its finished steps stay done); False otherwise."""
        with self.session() as s:
            n = count_rows(
                s,
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status == FAILED)
                .values(
                    status=QUEUED,
                    error_type=None,
                    error_message=None,
                    finished_at=None,
                    updated_at=utcnow(),
                    notify=False,  # a failure not yet announced is not announced any more
                ),
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
