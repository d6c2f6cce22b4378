"""Webhook bookkeeping: a job that finished carries `notify`; the gateway's sweep turns it into
one delivery row per URL (a compare-and-set, so two gateways plan it once), then sends the due
deliveries, each claimed for a lease first (so two gateways send it once), with retries and
exponential backoff recorded on the row."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from indexer.catalog.db import CatalogDB, count_rows
from indexer.catalog.schema import DeliveryRow, JobRow, VideoRow, utcnow

PENDING, DELIVERED = "pending", "delivered"
GAVE_UP = "failed"


class WebhookQueue(CatalogDB):
    """The catalog's webhook side: what the gateway's sweep plans, sends and records."""

    def pending_notifications(self) -> list[tuple[str, int, str | None]]:
        """(video_id, job_id, the video's own webhook URL) of finished jobs not yet planned."""
        with self.session() as s:
            q = (
                select(JobRow.video_id, JobRow.id, VideoRow.webhook_url)
                .join(VideoRow, VideoRow.id == JobRow.video_id)
                .where(JobRow.notify.is_(True))
                .order_by(JobRow.id)
            )
            return [(v, j, url) for v, j, url in s.execute(q)]

    def plan_deliveries(
        self, job_id: int, video_id: str, event: str, urls: list[str], payload: dict[str, Any]
    ) -> bool:
        """Record one pending delivery per URL and clear the job's `notify`; False when another
        sweep planned it first."""
        now = utcnow()
        with self.session() as s:
            n = count_rows(
                s,
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.notify.is_(True))
                .values(notify=False),
            )
            if not n:
                return False
            for url in dict.fromkeys(urls):
                s.add(
                    DeliveryRow(
                        video_id=video_id,
                        event=event,
                        url=url,
                        payload=payload,
                        status=PENDING,
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
        return True

    def claim_due_deliveries(self, lease_s: float, limit: int = 50) -> list[DeliveryRow]:
        """Pending deliveries whose time came, each pushed `lease_s` ahead so no other sweep
        sends it meanwhile."""
        now = utcnow()
        out: list[DeliveryRow] = []
        with self.session() as s:
            rows = s.scalars(
                select(DeliveryRow)
                .where(DeliveryRow.status == PENDING, DeliveryRow.next_attempt_at <= now)
                .order_by(DeliveryRow.next_attempt_at)
                .limit(limit)
            ).all()
            for row in rows:
                n = count_rows(
                    s,
                    update(DeliveryRow)
                    .where(
                        DeliveryRow.id == row.id,
                        DeliveryRow.next_attempt_at == row.next_attempt_at,
                        DeliveryRow.status == PENDING,
                    )
                    .values(next_attempt_at=now + timedelta(seconds=lease_s)),
                )
                if n:
                    s.expunge(row)
                    out.append(row)
        return out

    def record_attempt(
        self,
        delivery_id: int,
        *,
        ok: bool,
        response_code: int | None,
        error: str | None,
        retry_in_s: float | None,
    ) -> None:
        """The outcome of one POST: delivered, retried after `retry_in_s`, or (None) given up."""
        now = utcnow()
        if ok:
            values: dict[str, Any] = {"status": DELIVERED, "delivered_at": now, "last_error": None}
        elif retry_in_s is None:
            values = {"status": GAVE_UP, "last_error": error}
        else:
            values = {"next_attempt_at": now + timedelta(seconds=retry_in_s), "last_error": error}
        with self.session() as s:
            s.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id == delivery_id)
                .values(attempts=DeliveryRow.attempts + 1, response_code=response_code, **values)
            )

    def deliveries(self, video_id: str) -> list[dict[str, Any]]:
        """The video's webhook deliveries, oldest first, as the API shows them."""
        with self.session() as s:
            rows = s.scalars(
                select(DeliveryRow).where(DeliveryRow.video_id == video_id).order_by(DeliveryRow.id)
            ).all()
            return [
                {
                    "id": r.id,
                    "event": r.event,
                    "url": r.url,
                    "status": r.status,
                    "attempts": r.attempts,
                    "response_code": r.response_code,
                    "last_error": r.last_error,
                    "next_attempt_at": r.next_attempt_at if r.status == PENDING else None,
                    "delivered_at": r.delivered_at,
                }
                for r in rows
            ]
