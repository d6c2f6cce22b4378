"""One error envelope for every failure: `{"error": {"type", "message", "code"}}`.

Domain errors (`indexer.errors.VidragError`: `type`, `status`) are translated here, once, at the
edge; the gateway's own refusals are subclasses below. Bad input is always a 4xx with a specific
type; only a bug is a 500, and its details go to the log, not to the client."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from indexer.errors import VidragError, as_storage_error

log = logging.getLogger("vidrag.gateway")


class ApiError(VidragError):
    """A refusal that belongs to the HTTP layer."""

    type = "bad_request"
    status = 400

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers = headers


class UploadTooLarge(ApiError):
    type, status = "upload_too_large", 413


class UnsupportedContentType(ApiError):
    type, status = "unsupported_content_type", 415


class MalformedJson(ApiError):
    type, status = "malformed_json", 400


class MalformedMultipart(ApiError):
    type, status = "malformed_multipart", 400


class MissingFile(ApiError):
    type, status = "missing_file", 422


class InvalidFilename(ApiError):
    type, status = "invalid_filename", 400


class InvalidField(ApiError):
    type, status = "invalid_field", 422


class UrlNotAllowed(ApiError):
    type, status = "url_not_allowed", 400


class InvalidUrl(ApiError):
    type, status = "invalid_url", 422


class UrlFetchFailed(ApiError):
    type, status = "url_fetch_failed", 422


class InvalidTopK(ApiError):
    type, status = "invalid_top_k", 422


class InvalidTime(ApiError):
    type, status = "invalid_time", 422


class RangeNotSatisfiable(ApiError):
    type, status = "range_not_satisfiable", 416


class MissingApiKey(ApiError):
    type, status = "missing_api_key", 401


class InvalidApiKey(ApiError):
    type, status = "invalid_api_key", 401


class InvalidListing(ApiError):
    """An unknown status or sort, or a cursor this service did not hand out."""

    type, status = "invalid_listing", 422


class JobBusy(ApiError):
    """A live worker is indexing the video: re-index it once it finished, or cancel it."""

    type, status = "job_processing", 409


class JobFinished(ApiError):
    """Only a queued or processing job can be cancelled."""

    type, status = "job_finished", 409


class BrokerUnavailable(ApiError):
    type, status = "queue_unavailable", 503


def envelope(status: int, type_: str, message: str) -> dict[str, Any]:
    return {"error": {"type": type_, "message": message, "code": status}}


# the OpenAI-compatible routes answer in OpenAI's error shape, which its client and tools parse
OPENAI_PATHS = ("/v1/models", "/v1/chat/")


def _for(request: Request, status: int, type_: str, message: str, headers=None) -> JSONResponse:
    if not request.url.path.startswith(OPENAI_PATHS):
        return error_response(status, type_, message, headers)
    # OpenAI answers every invalid request with 400 (its client raises BadRequestError)
    status = 400 if status == 422 else status
    body = {"error": {"message": message, "type": type_, "param": None, "code": type_}}
    return JSONResponse(body, status_code=status, headers=headers)


def error_response(
    status: int, type_: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(envelope(status, type_, message), status_code=status, headers=headers)


_HTTP_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "request_too_large",
    415: "unsupported_content_type",
    416: "range_not_satisfiable",
}


def _validation_message(errors: list[Any]) -> str:
    parts = []
    for e in errors[:5]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        parts.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def _on_vidrag(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VidragError)
    if exc.status >= 500:
        log.warning("%s: %s", exc.type, exc.message)
    return _for(request, exc.status, exc.type, exc.message, getattr(exc, "headers", None))


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return _for(request, 400, "malformed_json", "the request body is not valid JSON")
    return _for(request, 422, "validation_error", _validation_message(errors))


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status, headers = exc.status_code, dict(exc.headers or {})
    if status in (404, 405):
        allowed = _allowed_methods(request)
        # GET /v1/search falls through to the page's static mount, which knows no API paths
        if allowed and request.method not in allowed.split(", "):
            status, headers["Allow"] = 405, allowed
    type_ = _HTTP_TYPES.get(status, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) and status == exc.status_code else None
    return _for(request, status, type_, detail or type_.replace("_", " ").capitalize(), headers)


def _allowed_methods(request: Request) -> str:
    """Every method the API documents at this path. Starlette's 405 names only the first route
    that matched the path (GET /v1/videos), not its siblings (POST /v1/videos)."""
    from app.openapi_paths import methods_at

    return ", ".join(sorted(methods_at(request.app, request.url.path)))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    typed = as_storage_error(exc)  # a full data disk is the operator's to fix, and says so
    if isinstance(typed, VidragError):
        return await _on_vidrag(request, typed)
    if isinstance(exc, DBAPIError):  # a database that is down, locked or damaged
        log.error("database error: %s", exc)
        message = f"the catalog database cannot be used: {str(exc.orig)[:200]}"
        return _for(request, 503, "database_unavailable", message)
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "internal error (see the gateway's log)")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(VidragError, _on_vidrag)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(Exception, _on_unexpected)
