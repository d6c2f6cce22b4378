"""`/v1/videos/{id}/transcript` and `/v1/videos/{id}/chapters`: what a lecture or a meeting is
first asked for — what was said (JSON with word times and language, WebVTT, SRT), what was
written on screen (the same, `track=ocr`), and chapters that tile the video."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from app.answer import chapters as lmm_chapters
from app.answer.lmm import LMMError
from app.deps import ServicesDep, VideoId
from app.schemas import ErrorResponse
from indexer import chapters as chaptering
from indexer import transcript
from indexer.catalog import READY
from indexer.errors import VideoNotReady
from indexer.types import ClipDoc

log = logging.getLogger("vidrag.gateway")
router = APIRouter(prefix="/videos", tags=["transcripts"])
_errors: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 404, 409, 422)
}
MEDIA_TYPES = {"vtt": "text/vtt; charset=utf-8", "srt": "application/x-subrip; charset=utf-8"}


class ChaptersPublic(BaseModel):
    video_id: str = Field(description="the video")
    source: Literal["offline", "lmm"] = Field(
        description="how the chapters were made: `offline` = topic shifts in speech and "
        "on-screen text between scene-snapped clips; `lmm` = the same chapters, titled by the "
        "configured language model"
    )
    chapters: list[chaptering.Chapter] = Field(
        description="chapters in time order, covering the video without gaps"
    )
    summary: str | None = Field(
        default=None, description="a few sentences about the whole video (language model only)"
    )
    model: str | None = Field(default=None, description="the language model that titled them")
    degraded: str | None = Field(
        default=None,
        description="why a configured language model did not title them (the offline "
        "chapters are returned instead)",
    )


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
async def get_chapters(
    video_id: VideoId,
    services: ServicesDep,
    source: Annotated[
        Literal["auto", "offline"],
        Query(description="`auto`: titled by the language model when one is configured"),
    ] = "auto",
) -> ChaptersPublic:
    """Chapters (title, start, end) that cover the whole video without overlap; with a language
    model configured, their titles and a summary of the video come from it."""
    state, store = await run_in_threadpool(_ready_store, services, video_id)
    docs = await run_in_threadpool(store.read_jsonl, "clips.jsonl", ClipDoc)
    found = chaptering.chapters(docs, state.duration_s)
    offline = ChaptersPublic(video_id=video_id, source="offline", chapters=found)
    answerer = services.answerer
    if source == "offline" or not answerer.settings.enabled or not found:
        return offline
    try:
        done = await lmm_chapters.titled(
            answerer.client,
            answerer.settings,
            store,
            state.title,
            found,
            docs,
            str(state.finished_at),
        )
    except LMMError as e:
        log.warning("chapters of %s stay offline: %s", video_id, e)
        return offline.model_copy(update={"degraded": f"{type(e).__name__}: {e}"})
    return ChaptersPublic(
        video_id=video_id,
        source="lmm",
        chapters=done.chapters,
        summary=done.summary,
        model=done.model,
    )
