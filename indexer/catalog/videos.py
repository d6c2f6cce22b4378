"""Videos in the catalog: registering an accepted video with its queued job, reading videos
with their job state (one `VideoState` each), and deleting them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from indexer.catalog.db import CatalogDB, count_rows
from indexer.catalog.schema import (
    DEFAULT_TENANT,
    PREPARE,
    QUEUED,
    DeliveryRow,
    JobRow,
    StepRow,
    VideoRow,
    VideoState,
    utcnow,
)
from indexer.store import content_key


class VideoRecords(CatalogDB):
    """The catalog's video side: what the gateway's `/v1/videos` and `vidrag list` read."""

    def add_video(
        self, manifest: Any, *, language: str | None = None, webhook_url: str | None = None
    ) -> tuple[VideoState, bool]:
        """Insert a video and its queued job from an accepted manifest. Returns (state, created);
        a video already catalogued (same bytes, same id) is returned as it is (with the new
        `webhook_url`, when one is given)."""
        existing = self.get(manifest.id)
        if existing is not None:
            if webhook_url:
                with self.session() as s:
                    s.execute(
                        update(VideoRow)
                        .where(VideoRow.id == manifest.id)
                        .values(webhook_url=webhook_url)
                    )
            return existing, False
        now = utcnow()
        try:
            with self.session() as s:
                s.add(
                    VideoRow(
                        id=manifest.id,
                        tenant=getattr(manifest, "tenant", DEFAULT_TENANT),
                        # unique per tenant: the same bytes are one video in each tenant
                        sha256=content_key(manifest.sha256, getattr(manifest, "tenant", None)),
                        title=manifest.title,
                        filename=manifest.filename,
                        language=language,
                        size_bytes=manifest.media.size_bytes,
                        duration_s=manifest.media.duration_s,
                        media=manifest.media.model_dump(mode="json"),
                        capabilities={},
                        clip_count=0,
                        created_at=now,
                        webhook_url=webhook_url,
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

    def ids_with_status(self, *statuses: str, tenant: str | None = None) -> list[str]:
        """Ids of the videos whose job is in one of `statuses` (of one tenant, when given)."""
        with self.session() as s:
            q = select(JobRow.video_id).where(JobRow.status.in_(statuses))
            if tenant is not None:
                q = q.join(VideoRow, VideoRow.id == JobRow.video_id).where(
                    VideoRow.tenant == tenant
                )
            return list(s.scalars(q))

    def statuses(self, video_ids: list[str], tenant: str | None = None) -> dict[str, str]:
        """Status by id of those of `video_ids` that exist (and belong to `tenant`)."""
        with self.session() as s:
            q = select(JobRow.video_id, JobRow.status).where(JobRow.video_id.in_(video_ids))
            if tenant is not None:
                q = q.join(VideoRow, VideoRow.id == JobRow.video_id).where(
                    VideoRow.tenant == tenant
                )
            return {v: st for v, st in s.execute(q)}

    def titles(self, video_ids: list[str]) -> dict[str, str]:
        """Title by id of those of `video_ids` that exist, in one query."""
        with self.session() as s:
            q = select(VideoRow.id, VideoRow.title).where(VideoRow.id.in_(video_ids))
            return {v: t for v, t in s.execute(q)}

    def delete(self, video_id: str) -> bool:
        with self.session() as s:
            job_ids = list(s.scalars(select(JobRow.id).where(JobRow.video_id == video_id)))
            s.execute(delete(DeliveryRow).where(DeliveryRow.video_id == video_id))
            if job_ids:
                s.execute(delete(StepRow).where(StepRow.job_id.in_(job_ids)))
                s.execute(delete(JobRow).where(JobRow.id.in_(job_ids)))
            return count_rows(s, delete(VideoRow).where(VideoRow.id == video_id)) > 0

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
                tenant=v.tenant,
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
