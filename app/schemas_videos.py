"""The bodies of `/v1/videos`: a video with its job's status and progress, the listing, the
URL upload and the rename."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas import CapabilityPublic, StrictBody
from indexer.catalog import VideoState


class UrlUpload(StrictBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://example.org/lecture.mp4",
                    "title": "Lecture 3: sorting",
                    "language": "en",
                    "webhook_url": "https://example.org/hooks/vidrag",
                }
            ]
        }
    )
    url: str = Field(
        max_length=4096,
        examples=["https://example.org/lecture.mp4"],
        description="an http(s) URL of the video file to download; redirects are followed, and "
        "every hop must resolve to a public address (unless `VIDRAG_FETCH__ALLOW_PRIVATE`)",
    )
    title: str | None = Field(
        default=None,
        max_length=300,
        description="the video's title (printable characters); null: the URL's file "
        "name without its extension",
    )
    language: str | None = Field(
        default=None,
        max_length=16,
        description="the spoken language as a code such as `en` or `pt-BR`, passed to speech "
        "recognition; null: the server's default, else detected from the audio",
    )
    webhook_url: str | None = Field(
        default=None,
        max_length=2000,
        description="an http(s) URL POSTed a signed `video.ready` or `video.failed` event when "
        "indexing ends; null: no webhook",
    )


class ProgressPublic(BaseModel):
    stage: str = Field(description="the current stage, e.g. `speech`, `ocr`, `index`")
    percent: float = Field(description="0-100, never moves back")
    parts_done: int = Field(description="parts indexed")
    parts_total: int = Field(description="parts in all (long videos are cut into parts)")


class JobError(BaseModel):
    type: str = Field(description="why it failed, e.g. `corrupt_media`, `cancelled`")
    message: str = Field(description="details, for people")


def _utc(t: datetime | None) -> Any:
    """The catalog stores UTC; SQLite hands it back without a zone, so say which it is (the
    schema promises RFC 3339 `date-time`, which needs one)."""
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


class WebhookDeliveryPublic(BaseModel):
    """One webhook POST of a finished job to one URL, and where it stands."""

    id: int = Field(description="the delivery's id")
    event: Literal["ready", "failed"] = Field(description="`ready` or `failed`")
    url: str = Field(description="where it is POSTed")
    status: Literal["pending", "delivered", "failed"] = Field(
        description="`pending`, `delivered` or `failed` (gave up)"
    )
    attempts: int = Field(description="POSTs tried")
    response_code: int | None = Field(description="the receiver's last HTTP status")
    last_error: str | None = Field(description="the last failure, if any")
    next_attempt_at: datetime | None = Field(description="when it is tried next (UTC)")
    delivered_at: datetime | None = Field(description="when it was delivered (UTC)")


class SearchStatePublic(BaseModel):
    """Whether this gateway can search the video's index now."""

    state: Literal["loaded", "loading", "failed", "absent"] = Field(
        description="`loaded`: searchable; `loading`: its index is being read; `failed`: its "
        "index on disk could not be loaded (it is re-indexed automatically); `absent`: no "
        "index yet, or none loaded by this gateway so far"
    )
    reason: str = Field(default="", description="why it failed to load")


class VideoPublic(BaseModel):
    id: str = Field(description="the video's id (from its content)")
    title: str = Field(description="its title")
    filename: str = Field(description="the uploaded file's name")
    status: Literal["queued", "processing", "ready", "failed"] = Field(
        description="`queued`, `processing`, `ready` (searchable) or `failed`"
    )
    progress: ProgressPublic = Field(description="where indexing stands")
    duration_s: float = Field(description="length, seconds")
    size_bytes: int = Field(description="file size, bytes")
    language: str | None = Field(description="the uploader's speech language, if given")
    error: JobError | None = Field(description="why it failed (when `failed`)")
    capabilities: dict[str, CapabilityPublic] = Field(
        description="what ran for it: asr, ocr, detect, frames, text"
    )
    clip_count: int = Field(description="clips in its index")
    media: dict[str, Any] = Field(description="what ffprobe found: container, codecs, size, fps")
    attempts: int = Field(description="how often its job ran")
    created_at: datetime = Field(description="when it was uploaded (UTC)")
    started_at: datetime | None = Field(description="when indexing started (UTC)")
    finished_at: datetime | None = Field(description="when indexing ended (UTC)")
    updated_at: datetime = Field(description="last change (UTC)")
    media_url: str = Field(description="where to play it (supports `Range`)")
    webhooks: list[WebhookDeliveryPublic] = Field(
        default_factory=list, description="webhook deliveries (in `GET /v1/videos/{id}` only)"
    )
    search: SearchStatePublic | None = Field(
        default=None, description="whether its index can be searched (`GET /v1/videos/{id}` only)"
    )

    @classmethod
    def of(
        cls,
        v: VideoState,
        deliveries: list[dict[str, Any]] | None = None,
        search: dict[str, str] | None = None,
    ) -> VideoPublic:
        error = JobError(type=v.error_type, message=v.error_message or "") if v.error_type else None
        return cls(
            id=v.id,
            title=v.title,
            filename=v.filename,
            status=v.status,  # type: ignore[arg-type]
            progress=ProgressPublic(
                stage=v.stage, percent=v.percent, parts_done=v.parts_done, parts_total=v.parts_total
            ),
            duration_s=v.duration_s,
            size_bytes=v.size_bytes,
            language=v.language,
            error=error,
            capabilities={k: CapabilityPublic(**c) for k, c in v.capabilities.items()},
            clip_count=v.clip_count,
            media=v.media,
            attempts=v.attempts,
            created_at=_utc(v.created_at),
            started_at=_utc(v.started_at),
            finished_at=_utc(v.finished_at),
            updated_at=_utc(v.updated_at),
            media_url=f"/v1/videos/{v.id}/media",
            webhooks=[
                WebhookDeliveryPublic(
                    **{
                        **d,
                        "next_attempt_at": _utc(d["next_attempt_at"]),
                        "delivered_at": _utc(d["delivered_at"]),
                    }
                )
                for d in deliveries or []
            ],
            search=SearchStatePublic(**search) if search else None,  # type: ignore[arg-type]
        )


class VideoList(BaseModel):
    videos: list[VideoPublic] = Field(description="this page of videos")
    total: int = Field(description="videos under the filters, on every page")
    limit: int = Field(description="the page size asked for")
    offset: int = Field(description="videos skipped")
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` for the next page; null on the last one"
    )


class VideoPatch(StrictBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"title": "Lecture 3: sorting"}]})
    title: str = Field(
        description="the new title", min_length=1, max_length=300, examples=["Lecture 3: sorting"]
    )
