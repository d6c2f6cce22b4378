"""Webhooks on `ready` and `failed`, sent by the gateway's periodic sweep (never by a worker, so
a slow receiver delays no indexing). A finished job is planned once into one delivery per URL —
the video's own `webhook_url` and `VIDRAG_WEBHOOK_URLS` — whose body is fixed then, so every
retry sends the same bytes. The body is signed with HMAC-SHA256 under `VIDRAG_WEBHOOK_SECRET`:

    X-Vidrag-Signature: sha256=<hex of HMAC-SHA256(secret, body)>
    X-Vidrag-Event: video.ready | video.failed
    X-Vidrag-Delivery: <delivery id>        (the same on every retry: receivers dedupe by it)

A 2xx answer delivers; anything else is retried with exponential backoff until
`VIDRAG_WEBHOOKS__MAX_ATTEMPTS`, then the delivery is marked failed. `GET /v1/videos/{id}`
shows every delivery's state."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

import httpx

from app.schemas_videos import VideoPublic
from indexer.catalog import FAILED, READY, Catalog
from indexer.service_settings import ServiceSettings

log = logging.getLogger("vidrag.gateway")
SIGNATURE_HEADER = "X-Vidrag-Signature"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_bytes(payload: dict[str, Any]) -> bytes:
    # one canonical serialisation: the signed bytes are the sent bytes, on every retry
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def plan(catalog: Catalog, settings: ServiceSettings) -> int:
    """Turn finished jobs into pending deliveries; returns how many jobs were planned."""
    planned = 0
    for video_id, job_id, own_url in catalog.pending_notifications():
        state = catalog.get(video_id)
        if state is None or state.status not in (READY, FAILED):
            continue  # deleted, or queued again since it finished
        event = "ready" if state.status == READY else "failed"
        urls = [u for u in (own_url, *settings.webhook_urls) if u]
        payload = {
            "event": f"video.{event}",
            "video": VideoPublic.of(state).model_dump(mode="json"),
        }
        planned += catalog.plan_deliveries(job_id, video_id, event, urls, payload)
    return planned


def send_due(catalog: Catalog, settings: ServiceSettings) -> dict[str, int]:
    """POST every due delivery once; record the outcome and when to retry."""
    cfg = settings.webhooks
    sent = failed = 0
    rows = catalog.claim_due_deliveries(lease_s=cfg.timeout_s * 3)
    if not rows:
        return {"sent": 0, "failed": 0}
    with httpx.Client(timeout=cfg.timeout_s, follow_redirects=False) as client:
        for row in rows:
            body = body_bytes(row.payload)
            headers = {
                "content-type": "application/json",
                "user-agent": "vidrag-webhooks",
                "X-Vidrag-Event": f"video.{row.event}",
                "X-Vidrag-Delivery": str(row.id),
            }
            if settings.webhook_secret:
                headers[SIGNATURE_HEADER] = signature(settings.webhook_secret, body)
            code: int | None = None
            try:
                code = client.post(row.url, content=body, headers=headers).status_code
                error = None if 200 <= code < 300 else f"HTTP {code}"
            except httpx.HTTPError as e:
                error = f"{type(e).__name__}: {e}"[:500]
            attempt = row.attempts + 1
            retry = None
            if error and attempt < cfg.max_attempts:
                retry = min(cfg.max_backoff_s, cfg.backoff_s * 2 ** (attempt - 1))
            catalog.record_attempt(
                row.id, ok=error is None, response_code=code, error=error, retry_in_s=retry
            )
            if error is None:
                sent += 1
            else:
                failed += 1
                log.warning("webhook %s to %s: %s (attempt %d)", row.id, row.url, error, attempt)
    return {"sent": sent, "failed": failed}


def run(catalog: Catalog, settings: ServiceSettings) -> dict[str, int]:
    """One pass of the sweep: plan, then send."""
    planned = plan(catalog, settings)
    return {"planned": planned, **send_due(catalog, settings)}
