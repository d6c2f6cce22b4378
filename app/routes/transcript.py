"""`/v1/videos/{id}/transcript` and `/v1/videos/{id}/chapters`: what a lecture or a meeting is
first asked for — what was said (JSON with word times and language, WebVTT, SRT), what was
written on screen (the same, `track=ocr`), and chapters that tile the video."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from app.deps import ServicesDep, VideoId
from app.schemas import ErrorResponse
from indexer import chapters as chaptering
from indexer import transcript
from indexer.catalog import READY
from indexer.errors import VideoNotReady
from indexer.types import ClipDoc

router = APIRouter(prefix="/videos", tags=["transcripts"])
_errors: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 404, 409, 422)
}
MEDIA_TYPES = {"vtt": "text/vtt; charset=utf-8", "srt": "application/x-subrip; charset=utf-8"}


class ChaptersPublic(BaseModel):
    video_id: str
    source: Literal["offline"] = Field(
        description="how chapters were made: `offline` = topic shifts in speech and on-screen "
        "text between scene-snapped clips"
    )
    chapters: list[chaptering.Chapter]


def _ready_store(services: Any, video_id: str) -> Any:
    state = services.video(video_id)
    if state.status != READY:
        raise VideoNotReady(f"video {video_id!r} is {state.status}, not ready")
    return state, services.store(video_id)


@router.get(
    "/{video_id}/transcript",
    response_model=transcript.TranscriptDoc,
    responses={200: {"content": {"text/vtt": {}, "application/x-subrip": {}}}, **_errors},
)
def get_transcript(
    video_id: VideoId,
    services: ServicesDep,
    format: Annotated[
        Literal["json", "vtt", "srt"], Query(description="json, vtt or srt")
    ] = "json",
    track: Annotated[
        Literal["speech", "ocr"], Query(description="speech, or on-screen text (ocr)")
    ] = "speech",
) -> Any:
    """The video's speech (cues with word times and the recognised language) or its on-screen
    text, as JSON, WebVTT or SRT."""
    _, store = _ready_store(services, video_id)
    doc = (transcript.speech if track == "speech" else transcript.on_screen)(store, video_id)
    if format == "json":
        return doc
    body = transcript.to_vtt(doc) if format == "vtt" else transcript.to_srt(doc)
    return Response(body, media_type=MEDIA_TYPES[format])


@router.get("/{video_id}/chapters", response_model=ChaptersPublic, responses=_errors)
def get_chapters(video_id: VideoId, services: ServicesDep) -> ChaptersPublic:
    """Chapters (title, start, end) that cover the whole video without overlap."""
    state, store = _ready_store(services, video_id)
    docs = store.read_jsonl("clips.jsonl", ClipDoc)
    found = chaptering.chapters(docs, state.duration_s)
    return ChaptersPublic(video_id=video_id, source="offline", chapters=found)
