"""Request ids, JSON logs and Prometheus metrics for the gateway.

- Every response carries `X-Request-ID` (the caller's, when it sent a sane one, else a new one),
  and every log line written while the request runs carries it too.
- `GET /metrics` (Prometheus text format): request latency by route template, method and status;
  videos by status and queued jobs, read from the catalog when scraped (so several gateway
  processes report the same truth); each extractor capability's state; build info.
- `VIDRAG_LOG_JSON=true` writes one JSON object per log line."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
STATUSES = ("queued", "processing", "ready", "failed")


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (`%(request_id)s`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


_KEY_IN_QUERY = re.compile(r"((?:^|[?&])api_key=)[^&\s]*")


class RedactKeys(logging.Filter):
    """The media and frame URLs a player loads carry `?api_key=`; the access log keeps the
    path and drops the key."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any("api_key=" in str(a) for a in record.args):
            record.args = tuple(
                _KEY_IN_QUERY.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


def configure_logging(json_logs: bool) -> None:
    """Request ids on every handler of the root logger; JSON lines when asked; no API key in
    the access log."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactKeys) for f in access.filters):
        access.addFilter(RedactKeys())
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO)
    for handler in root.handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
        if json_logs:
            handler.setFormatter(JsonFormatter())


class RequestIdMiddleware:
    """Pure ASGI (not BaseHTTPMiddleware), so streamed answers are not buffered."""

    def __init__(self, app: ASGIApp, latency: Histogram, api: FastAPI) -> None:
        self.app = app
        self.latency = latency
        self.api = api
        self._templates: list[tuple[re.Pattern[str], str]] | None = None

    def _template(self, path: str) -> str:
        """The documented path template a request matched (from the OpenAPI schema, so it
        is the full "/v1/videos/{video_id}" whatever the router nesting), else "other"."""
        if self._templates is None:
            paths = sorted(self.api.openapi()["paths"], key=lambda p: (p.count("{"), -len(p)))
            self._templates = [(compile_path(p)[0], p) for p in paths]
        return next((t for rx, t in self._templates if rx.match(path)), "other")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = sent if _SANE_ID.match(sent) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            # the route's template ("/v1/videos/{video_id}"), never the raw path: bounded labels
            path = self._template(scope.get("path", ""))
            self.latency.labels(scope["method"], path, str(status)).observe(
                time.perf_counter() - started
            )
            request_id.reset(token)


class CatalogCollector(Collector):
    """Job and capability state, read at scrape time."""

    def __init__(self, services: Any, version: str) -> None:
        self.services = services
        self.version = version

    def collect(self) -> Iterator[Any]:
        videos = GaugeMetricFamily("vidrag_videos", "Videos by status", labels=["status"])
        for status in STATUSES:
            try:
                n = len(self.services.catalog.ids_with_status(status))
            except Exception:  # a scrape reports what it can; /readyz says what is wrong
                continue
            videos.add_metric([status], n)
        yield videos
        caps = GaugeMetricFamily(
            "vidrag_capability_up",
            "1 when the extractor of this kind is available here, 0 when off",
            labels=["kind", "backend", "model"],
        )
        for kind, a in self.services.extractors.capabilities().items():
            caps.add_metric([kind, a.backend, a.model], 1.0 if a.ok else 0.0)
        yield caps
        info = InfoMetricFamily("vidrag_build", "The running release")
        info.add_metric([], {"version": self.version})
        yield info


def install(app: FastAPI, services: Any, version: str, json_logs: bool = False) -> None:
    """Request ids, the latency histogram and `GET /metrics` on `app`."""
    configure_logging(json_logs)
    registry = CollectorRegistry()
    latency = Histogram(
        "vidrag_http_request_duration_seconds",
        "HTTP request latency by route template",
        ["method", "route", "status"],
        registry=registry,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    )
    registry.register(CatalogCollector(services, version))
    app.add_middleware(RequestIdMiddleware, latency=latency, api=app)

    @app.get("/metrics", include_in_schema=False)
    def metrics(_request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
