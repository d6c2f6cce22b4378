"""`/v1/videos`: upload (file or URL), list, get with progress, delete, media with Range, frames."""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from app.deps import ServicesDep, VideoId
from app.errors import (
    InvalidField,
    InvalidTime,
    MalformedJson,
    UnsupportedContentType,
    UploadTooLarge,
)
from app.fetch import fetch
from app.jobs import dispatch
from app.ranges import file_response
from app.schemas import ErrorResponse, UrlUpload, VideoList, VideoPublic
from app.upload import receive_multipart
from indexer.errors import EmptyFile

log = logging.getLogger("vidrag.gateway")
router = APIRouter(prefix="/videos", tags=["videos"])
MAX_JSON_BYTES = 64 * 1024
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")

_errors: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 404, 409, 413, 415, 416, 422)
}
_upload_body = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "title": {"type": "string", "maxLength": 300},
                        "language": {"type": "string", "example": "en"},
                    },
                }
            },
            "application/json": {"schema": UrlUpload.model_json_schema()},
        },
    }
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


@router.post(
    "",
    status_code=202,
    summary='Upload a video (multipart `file`) or fetch one (`{"url": ...}`)',
    responses={
        200: {"model": VideoPublic, "description": "the same bytes were uploaded before"},
        202: {"model": VideoPublic, "description": "accepted and queued"},
        **_errors,
    },
    openapi_extra=_upload_body,
)
async def upload_video(request: Request, services: ServicesDep) -> JSONResponse:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    settings = services.settings
    if ctype == "multipart/form-data":
        up = await receive_multipart(
            request, services.tmp_dir, settings.max_upload_bytes, settings.max_field_bytes
        )
        path, filename, size = up.path, up.filename, up.size
        title, language = up.fields.get("title"), up.fields.get("language")
    elif ctype == "application/json" or ctype.endswith("+json"):
        try:
            body = UrlUpload.model_validate(await _json_body(request))
        except ValidationError as e:
            raise RequestValidationError(e.errors()) from None
        got = await fetch(body.url, services.tmp_dir, settings.max_upload_bytes, settings.fetch)
        path, filename, size = got.path, got.filename, got.size
        title, language = body.title, body.language
    else:
        raise UnsupportedContentType(
            f"send multipart/form-data (a file) or application/json (a URL), not {ctype!r}"
        )
    try:
        title, language = _check_fields(title, language)
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
        )
    finally:
        Path(path).unlink(missing_ok=True)
    state, created = await run_in_threadpool(
        services.catalog.add_video, manifest, language=language
    )
    if created:
        # the state as created: a worker may already be on it, but this answer says "queued"
        await run_in_threadpool(
            dispatch, services.catalog, services.dispatcher, state.id, state.job_id
        )
    return JSONResponse(
        VideoPublic.of(state).model_dump(mode="json"),
        status_code=202 if created else 200,
        headers={"Location": f"/v1/videos/{state.id}"},
    )


@router.get("", response_model=VideoList, responses=_errors)
def list_videos(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    # bounded to what a signed 64-bit database column holds: a larger one is a 422, not a 500
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> VideoList:
    """Videos, newest first, with their status and progress."""
    states, total = services.catalog.list_videos(limit=limit, offset=offset)
    return VideoList(
        videos=[VideoPublic.of(s) for s in states], total=total, limit=limit, offset=offset
    )


@router.get("/{video_id}", response_model=VideoPublic, responses=_errors)
def get_video(video_id: VideoId, services: ServicesDep) -> VideoPublic:
    """One video: status (queued, processing, ready, failed), progress, error, capabilities."""
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
