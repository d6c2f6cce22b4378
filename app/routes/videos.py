"""`/v1/videos`: upload (file or URL), list (filtered, sorted, paged), get with progress, rename,
re-index, cancel, delete, media with Range, frames."""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from app.deps import ServicesDep, VideoId, current_tenant
from app.errors import (
    InvalidField,
    InvalidListing,
    InvalidTime,
    JobBusy,
    JobFinished,
    MalformedJson,
    UnsupportedContentType,
    UploadTooLarge,
)
from app.fetch import fetch
from app.jobs import dispatch, reindex, requeue_failed
from app.ranges import file_response
from app.retrieval import search_state
from app.schemas import ErrorResponse
from app.schemas_videos import UrlUpload, VideoList, VideoPatch, VideoPublic
from app.upload import receive_multipart, upload_openapi
from indexer.catalog import SORTS, BadListing, Outcome
from indexer.errors import EmptyFile

log = logging.getLogger("vidrag.gateway")
router = APIRouter(prefix="/videos", tags=["videos"])
MAX_JSON_BYTES = 64 * 1024
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")

_errors: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 404, 409, 413, 415, 416, 422, 507)
}


async def _json_body(request: Request) -> Any:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise UploadTooLarge(f"a JSON body is limited to {MAX_JSON_BYTES} bytes")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedJson("the request body is not valid JSON") from None
    except RecursionError:  # thousands of nested brackets: not a body any client means
        raise MalformedJson("the request body nests too deeply") from None


def _check_fields(title: str | None, language: str | None) -> tuple[str | None, str | None]:
    if title is not None and (len(title) > 300 or any(ord(c) < 32 for c in title)):
        raise InvalidField("title must be at most 300 printable characters")
    if language and not LANGUAGE.match(language):
        raise InvalidField(f"language {language[:20]!r} is not a language code such as 'en'")
    return title or None, language or None


def _check_webhook_url(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if len(url) > 2000 or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidField("webhook_url must be an http(s) URL of at most 2000 characters")
    return url


@router.post(
    "",
    status_code=202,
    summary='Upload a video (multipart `file`) or fetch one (`{"url": ...}`)',
    responses={
        200: {"model": VideoPublic, "description": "the same bytes were uploaded before"},
        202: {"model": VideoPublic, "description": "accepted and queued"},
        **_errors,
    },
    openapi_extra=upload_openapi(UrlUpload.model_json_schema()),
)
async def upload_video(request: Request, services: ServicesDep) -> JSONResponse:
    """Add a video: a multipart form with `file` (and `title`, `language`, `webhook_url`), or
    JSON with a `url` to fetch. It is checked (probed) before the answer, so bad media is a
    4xx with its own type; good media is queued for indexing (202)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    settings = services.settings
    if ctype == "multipart/form-data":
        up = await receive_multipart(
            request, services.tmp_dir, settings.max_upload_bytes, settings.max_field_bytes
        )
        path, filename, size = up.path, up.filename, up.size
        title, language = up.fields.get("title"), up.fields.get("language")
        webhook_url = up.fields.get("webhook_url")
    elif ctype == "application/json" or ctype.endswith("+json"):
        try:
            body = UrlUpload.model_validate(await _json_body(request))
        except ValidationError as e:
            raise RequestValidationError(e.errors()) from None
        got = await fetch(body.url, services.tmp_dir, settings.max_upload_bytes, settings.fetch)
        path, filename, size = got.path, got.filename, got.size
        title, language = body.title, body.language
        webhook_url = body.webhook_url
    else:
        raise UnsupportedContentType(
            f"send multipart/form-data (a file) or application/json (a URL), not {ctype!r}"
        )
    try:
        title, language = _check_fields(title, language)
        webhook_url = _check_webhook_url(webhook_url)
        if size == 0:
            raise EmptyFile("the uploaded file is empty")
        manifest = await run_in_threadpool(
            services.indexer.accept,
            path,
            services.library,
            title=title,
            filename=filename,
            move=True,
            language=language,  # the video's record: workers pass it to the ASR
            tenant=current_tenant(),
        )
    finally:
        Path(path).unlink(missing_ok=True)
    state, created = await run_in_threadpool(
        services.catalog.add_video, manifest, language=language, webhook_url=webhook_url
    )
    if created:
        # the state as created: a worker may already be on it, but this answer says "queued"
        await run_in_threadpool(
            dispatch, services.catalog, services.dispatcher, state.id, state.job_id
        )
    elif state.status == "failed":
        # the same bytes again after a failure: the client wants it indexed, so try again
        created = await run_in_threadpool(
            requeue_failed, services.catalog, services.dispatcher, state.job_id, state.id
        )
        state = await run_in_threadpool(services.video, state.id) if created else state
    return JSONResponse(
        VideoPublic.of(state).model_dump(mode="json"),
        status_code=202 if created else 200,
        headers={"Location": f"/v1/videos/{state.id}"},
    )


@router.get("", response_model=VideoList, responses=_errors)
def list_videos(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500, description="videos per page")] = 100,
    # plain strings, empty when absent (a query parameter is never null; `str | None` would
    # document a null that no client can send)
    cursor: Annotated[
        str, Query(max_length=2000, description="`next_cursor` of the previous page (opaque)")
    ] = "",
    # bounded to what a signed 64-bit database column holds: a larger one is a 422, not a 500
    offset: Annotated[
        int, Query(ge=0, le=2**62, description="skip this many (prefer `cursor`)")
    ] = 0,
    status: Annotated[
        list[str], Query(description="only these statuses (repeat, or comma-separated)")
    ] = [],  # noqa: B006  (FastAPI copies a parameter's default per request)
    q: Annotated[
        str, Query(max_length=300, description="case-insensitive substring of the title")
    ] = "",
    sort: Annotated[str, Query(description=f"one of {', '.join(SORTS)}")] = "-created_at",
) -> VideoList:
    """Videos with their status and progress, newest first by default. `total` counts every
    video under the filters; follow `next_cursor` until it is null to see them all."""
    statuses = [p.strip() for v in status for p in v.split(",") if p.strip()]
    try:
        page = services.catalog.page_videos(
            limit=limit,
            offset=offset,
            cursor=cursor or None,
            statuses=statuses or None,
            q=q or None,
            sort=sort,
            tenant=current_tenant(),
        )
    except BadListing as e:
        raise InvalidListing(str(e)) from None
    return VideoList(
        videos=[VideoPublic.of(s) for s in page.videos],
        total=page.total,
        limit=limit,
        offset=0 if cursor else offset,
        next_cursor=page.next_cursor,
    )


@router.get("/{video_id}", response_model=VideoPublic, responses=_errors)
def get_video(video_id: VideoId, services: ServicesDep) -> VideoPublic:
    """One video: status (queued, processing, ready, failed), progress, error, capabilities,
    its webhook deliveries, and whether its index can be searched."""
    state = services.video(video_id)
    return VideoPublic.of(
        state, services.catalog.deliveries(video_id), search_state(services, video_id)
    )


@router.patch("/{video_id}", response_model=VideoPublic, responses=_errors)
def patch_video(video_id: VideoId, body: VideoPatch, services: ServicesDep) -> VideoPublic:
    """Rename a video."""
    services.video(video_id)
    title, _ = _check_fields(body.title, None)
    if title is None:
        raise InvalidField("title must not be empty")
    services.catalog.set_title(video_id, title)
    return VideoPublic.of(services.video(video_id))


@router.post("/{video_id}/reindex", status_code=202, response_model=VideoPublic, responses=_errors)
def reindex_video(video_id: VideoId, services: ServicesDep) -> VideoPublic:
    """Index the video again from its stored source with today's models and settings (after
    installing a model, or after a failure). 409 while a live worker is indexing it."""
    services.video(video_id)
    outcome = reindex(
        services.catalog, services.dispatcher, services.library, services.settings, video_id
    )
    if outcome is Outcome.BUSY:
        raise JobBusy("the video is being indexed; cancel it first, or wait until it finishes")
    return VideoPublic.of(services.video(video_id))


@router.post("/{video_id}/cancel", response_model=VideoPublic, responses=_errors)
def cancel_video(video_id: VideoId, services: ServicesDep) -> VideoPublic:
    """Stop indexing: the job becomes `failed` with error type `cancelled`; its workers stop
    at their next step or progress write. Re-index or upload again to resume."""
    services.video(video_id)
    if services.catalog.cancel(video_id) is Outcome.BUSY:
        raise JobFinished("only a queued or processing video can be cancelled")
    return VideoPublic.of(services.video(video_id))


@router.delete("/{video_id}", status_code=204, responses=_errors)
def delete_video(video_id: VideoId, services: ServicesDep) -> Response:
    """Remove the video, its artifacts and its index. Its row goes first, so searches stop
    seeing it at once and any task still queued for it finds no job and does nothing."""
    services.video(video_id)
    services.catalog.delete(video_id)
    services.library.delete(video_id)
    forget = getattr(services.searcher, "forget", None)
    if callable(forget):
        forget(video_id)
    return Response(status_code=204)


@router.get(
    "/{video_id}/media",
    response_class=Response,
    responses={
        200: {"content": {"video/*": {}}},
        206: {"description": "partial content"},
        **_errors,
    },
)
def video_media(video_id: VideoId, services: ServicesDep, request: Request) -> Response:
    """The video file; honours `Range: bytes=a-b` so a player can seek."""
    services.video(video_id)
    store = services.store(video_id)
    source = store.path(services.indexer.manifest(store).source)
    return file_response(source, request.headers.get("range"))


@router.get(
    "/{video_id}/frames/{t}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **_errors},
)
def video_frame(video_id: VideoId, t: float, services: ServicesDep) -> Response:
    """A JPEG thumbnail of the frame near second `t`."""
    from indexer import media

    state = services.video(video_id)
    if not math.isfinite(t) or t < 0 or t > state.duration_s + 0.5:
        raise InvalidTime(f"t must be between 0 and {state.duration_s:.2f} s")
    store = services.store(video_id)
    source = store.path(services.indexer.manifest(store).source)
    t = min(t, max(0.0, state.duration_s - 0.05))
    jpeg = media.thumbnail_jpeg(source, t, services.settings.thumbnail_side)
    return Response(
        jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"}
    )
