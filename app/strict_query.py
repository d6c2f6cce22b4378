"""Unknown query parameters are an error, as unknown body fields are: `GET /v1/videos?stauts=ready`
answers 422 naming `stauts` instead of silently listing every video.

The parameters each operation takes come from the OpenAPI schema (the one source of truth the
docs show), read once. `api_key` is allowed on the media and frame URLs, the only ones a
`<video>` or `<img>` element loads without headers (`app.deps.require_api_key`). Only `/v1/`
is checked: the page, `/docs` and the probes (`/healthz`) take whatever a proxy appends."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import error_response
from app.openapi_paths import operations

MEDIA_KEY = "api_key"


class RejectUnknownQuery:
    """ASGI middleware: a request to a documented operation with a query parameter the
    operation does not take gets a 422 `unknown_parameter` before it reaches the route."""

    def __init__(self, app: ASGIApp, api: Any) -> None:
        self.app, self.api = app, api

    def _known(self, path: str, method: str) -> set[str] | None:
        for pattern, params in operations(self.api):
            if pattern.match(path):
                return params.get(method)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not scope.get("query_string")
            or not scope["path"].startswith("/v1/")
        ):
            await self.app(scope, receive, send)
            return
        known = self._known(scope["path"], scope["method"])
        if known is not None:
            from urllib.parse import parse_qsl

            names = {k for k, _ in parse_qsl(scope["query_string"].decode("latin-1"), True)}
            if scope["path"].endswith("/media") or "/frames/" in scope["path"]:
                known = known | {MEDIA_KEY}
            unknown = sorted(names - known)
            if unknown:
                takes = ", ".join(sorted(known)) or "none"
                message = f"unknown query parameter(s): {', '.join(unknown)} (takes: {takes})"
                await error_response(422, "unknown_parameter", message)(scope, receive, send)
                return
        await self.app(scope, receive, send)
