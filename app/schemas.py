"""Request and response bodies of the v1 API, named by role: what each endpoint takes and gives
(the contract in docs/architecture.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from indexer.catalog import VideoState
from indexer.settings import IndexSettings


class ErrorBody(BaseModel):
    type: str
    message: str
    code: int


class ErrorResponse(BaseModel):
    error: ErrorBody


class _Request(BaseModel):
    # a misspelt field is an error, not silently ignored
    model_config = ConfigDict(extra="forbid")


# --- videos --------------------------------------------------------------------------------------
class UrlUpload(_Request):
    url: str = Field(max_length=4096, examples=["https://example.org/lecture.mp4"])
    title: str | None = Field(default=None, max_length=300)
    language: str | None = Field(default=None, max_length=16)
    webhook_url: str | None = Field(
        default=None,
        max_length=2000,
        description="POSTed a signed `video.ready` or `video.failed` event when indexing ends",
    )


class ProgressPublic(BaseModel):
    stage: str
    percent: float
    parts_done: int
    parts_total: int


class JobError(BaseModel):
    type: str
    message: str


class CapabilityPublic(BaseModel):
    ok: bool
    backend: str = ""
    model: str = ""
    reason: str = ""


def _utc(t: datetime | None) -> Any:
    """The catalog stores UTC; SQLite hands it back without a zone, so say which it is (the
    schema promises RFC 3339 `date-time`, which needs one)."""
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


class WebhookDeliveryPublic(BaseModel):
    """One webhook POST of a finished job to one URL, and where it stands."""

    id: int
    event: Literal["ready", "failed"]
    url: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    response_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None


class SearchStatePublic(BaseModel):
    """Whether this gateway can search the video's index now."""

    state: Literal["loaded", "loading", "failed", "absent"] = Field(
        description="`loaded`: searchable; `loading`: its index is being read; `failed`: its "
        "index on disk could not be loaded (it is re-indexed automatically); `absent`: no "
        "index yet, or none loaded by this gateway so far"
    )
    reason: str = Field(default="", description="why it failed to load")


class VideoPublic(BaseModel):
    id: str
    title: str
    filename: str
    status: Literal["queued", "processing", "ready", "failed"]
    progress: ProgressPublic
    duration_s: float
    size_bytes: int
    language: str | None
    error: JobError | None
    capabilities: dict[str, CapabilityPublic]
    clip_count: int
    media: dict[str, Any]
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    media_url: str
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
    videos: list[VideoPublic]
    total: int = Field(description="videos under the filters, on every page")
    limit: int
    offset: int
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` for the next page; null on the last one"
    )


class VideoPatch(_Request):
    title: str = Field(min_length=1, max_length=300, examples=["Lecture 3: sorting"])


# --- search and ask ------------------------------------------------------------------------------
class EvidencePublic(BaseModel):
    modality: Literal["speech", "ocr", "objects", "visual"]
    text: str
    start_s: float
    end_s: float


def clip_urls(video_id: str, start_s: float, end_s: float) -> dict[str, str]:
    """Where a player and a thumbnail strip find a clip: the media URL with a Media Fragment
    (`#t=start,end`, which browsers' <video> honour) and a frame from its middle."""
    mid = (start_s + end_s) / 2
    return {
        "clip_url": f"/v1/videos/{video_id}/media#t={start_s:.3f},{end_s:.3f}",
        "thumbnail_url": f"/v1/videos/{video_id}/frames/{mid:.3f}",
    }


class HitPublic(BaseModel):
    video_id: str
    title: str
    clip_index: int
    start_s: float
    end_s: float
    score: float
    evidence: list[EvidencePublic]
    clip_url: str = Field(description="the video's media URL with `#t=start,end` for this clip")
    thumbnail_url: str = Field(description="a JPEG frame from the middle of the clip")


# The bounds below are documented in the schema and enforced by the routes, which answer them
# with their own error types (`invalid_query`, `invalid_top_k`) rather than a generic one
# not blank: some character that is not whitespace in either Python's sense (what the routes
# strip) or JSON Schema's (ECMAScript's \s, which adds U+FEFF and lacks U+0085, U+001C-U+001F)
NOT_BLANK: dict[str, Any] = {"minLength": 1, "pattern": r"[^\s\x85\x1c-\x1f]"}


def is_blank(text: str) -> bool:
    return all(c.isspace() or c == "\ufeff" for c in text)


VIDEO_IDS: Any = Field(
    default=None,
    max_length=500,
    json_schema_extra={"minItems": 1},
    description="the videos to search (each must be ready); leave it out to search every video",
)


def _not_a_bool(v: object) -> object:
    if isinstance(v, bool):  # JSON `true` is not a number of clips (Python would read it as 1)
        raise ValueError("must be a number, not true or false")
    return v


ClipCount = Annotated[int, BeforeValidator(_not_a_bool)]
TOP_K: Any = Field(
    default=None,
    examples=[5],
    json_schema_extra={"minimum": 1, "maximum": IndexSettings().max_top_k},
    description="how many clips to retrieve (default 5; the maximum is "
    "`VIDRAG_INDEX__MAX_TOP_K`, 50 unless set)",
)


class SearchRequest(_Request):
    query: str = Field(
        max_length=2000,
        examples=["the secret code on the whiteboard"],
        json_schema_extra=NOT_BLANK,
        description="what to find: words said or shown, or a description of a moment",
    )
    video_ids: list[str] | None = VIDEO_IDS
    top_k: ClipCount | None = TOP_K


class SearchResponse(BaseModel):
    hits: list[HitPublic]
    timings_ms: dict[str, float]


class AskRequest(_Request):
    question: str = Field(
        max_length=2000,
        examples=["What is said about the budget?"],
        json_schema_extra=NOT_BLANK,
        description="the question, answered from the retrieved clips with cited timestamps",
    )
    video_ids: list[str] | None = VIDEO_IDS
    top_k: ClipCount | None = TOP_K
    stream: StrictBool = False  # 0.0 or "yes" is not a choice between SSE and JSON


class Citation(BaseModel):
    video_id: str
    start_s: float
    end_s: float


class AskResponse(BaseModel):
    answer: str
    citations: list[Citation]
    hits: list[HitPublic]
    model: str  # the LMM's name, or "extractive"
    timings_ms: dict[str, float]
    dropped_citations: int = 0  # times the model cited outside every retrieved clip
    degraded: str | None = None  # why the answer fell back to extractive, when it did


# --- health --------------------------------------------------------------------------------------
class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    mode: Literal["embedded", "distributed"]
    checks: dict[str, str]
    capabilities: dict[str, CapabilityPublic]
    answer_model: str
