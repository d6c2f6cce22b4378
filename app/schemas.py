"""Request and response bodies of the v1 API, named by role: what each endpoint takes and gives
(the contract in docs/architecture.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from indexer.settings import IndexSettings


class ErrorBody(BaseModel):
    type: str = Field(description="a stable name to match on, e.g. `not_a_video`")
    message: str = Field(description="what went wrong, for people")
    code: int = Field(description="the HTTP status")


class ErrorResponse(BaseModel):
    error: ErrorBody = Field(description="the error")


class StrictBody(BaseModel):
    # a misspelt field is an error, not silently ignored
    model_config = ConfigDict(extra="forbid")


class CapabilityPublic(BaseModel):
    ok: bool = Field(description="whether this capability ran (or can run here)")
    backend: str = Field(
        default="", description="the backend that ran, e.g. `faster-whisper`, `rapidocr`"
    )
    model: str = Field(default="", description="the model it used")
    reason: str = Field(
        default="", description="why it is off, or why a preferred model was passed over"
    )


# --- search and ask ------------------------------------------------------------------------------
class EvidencePublic(BaseModel):
    modality: Literal["speech", "ocr", "objects", "visual"] = Field(
        description="`speech`, `ocr` (on-screen text), `objects` or `visual`"
    )
    text: str = Field(description="what was said, shown or seen")
    start_s: float = Field(description="when it starts, seconds")
    end_s: float = Field(description="when it ends, seconds")


def clip_urls(video_id: str, start_s: float, end_s: float) -> dict[str, str]:
    """Where a player and a thumbnail strip find a clip: the media URL with a Media Fragment
    (`#t=start,end`, which browsers' <video> honour) and a frame from its middle."""
    mid = (start_s + end_s) / 2
    return {
        "clip_url": f"/v1/videos/{video_id}/media#t={start_s:.3f},{end_s:.3f}",
        "thumbnail_url": f"/v1/videos/{video_id}/frames/{mid:.3f}",
    }


class HitPublic(BaseModel):
    video_id: str = Field(description="the video")
    title: str = Field(description="its title")
    clip_index: int = Field(description="the clip's position in its video, from 0, in time order")
    start_s: float = Field(description="clip start, seconds")
    end_s: float = Field(description="clip end, seconds")
    score: float = Field(
        description="fused rank score (higher is better; comparable within one search)"
    )
    evidence: list[EvidencePublic] = Field(description="what the clip holds, per modality")
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


class SearchRequest(StrictBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"query": "the secret code on the whiteboard", "top_k": 5}]}
    )
    query: str = Field(
        max_length=2000,
        examples=["the secret code on the whiteboard"],
        json_schema_extra=NOT_BLANK,
        description="what to find: words said or shown, or a description of a moment",
    )
    video_ids: list[str] | None = VIDEO_IDS
    top_k: ClipCount | None = TOP_K


class SearchResponse(BaseModel):
    hits: list[HitPublic] = Field(description="the clips found, best first")
    timings_ms: dict[str, float] = Field(description="milliseconds spent per step")


class AskRequest(StrictBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"question": "What is said about the budget?", "top_k": 5, "stream": False}
            ]
        }
    )
    question: str = Field(
        max_length=2000,
        examples=["What is said about the budget?"],
        json_schema_extra=NOT_BLANK,
        description="the question, answered from the retrieved clips with cited timestamps",
    )
    video_ids: list[str] | None = VIDEO_IDS
    top_k: ClipCount | None = TOP_K
    stream: StrictBool = Field(
        default=False,
        description="true: answer as server-sent events (`hits`, `delta`, `reset`, `done`; "
        "see the operation); false: one JSON `AskResponse`",
    )  # 0.0 or "yes" is not a choice between SSE and JSON


class Citation(BaseModel):
    video_id: str = Field(description="the cited video")
    start_s: float = Field(description="clip start, seconds")
    end_s: float = Field(description="clip end, seconds")


class AskResponse(BaseModel):
    answer: str = Field(
        description="the answer, with `[hh:mm:ss]` marks citing the clips it rests on"
    )
    citations: list[Citation] = Field(
        description="the cited clips, each one of the retrieved `hits`"
    )
    hits: list[HitPublic] = Field(description="the clips retrieved for the question, best first")
    model: str = Field(description="the language model that answered, or `extractive`")
    timings_ms: dict[str, float] = Field(
        description="milliseconds spent: `retrieve`, `first_token`, `total` (and `prompt` when "
        "a language model was asked)"
    )
    dropped_citations: int = Field(
        default=0, description="citations the model made outside every retrieved clip (removed)"
    )  # times the model cited outside every retrieved clip
    degraded: str | None = Field(
        default=None,
        description="why the answer is extractive for want of a working language model: "
        "`no_lmm_configured`, or `<error type>: <message>` when it failed; null otherwise",
    )  # why the answer fell back to extractive, when it did


# --- health --------------------------------------------------------------------------------------
class Health(BaseModel):
    status: Literal["ok"] = Field(default="ok", description="always `ok`: the process answers")


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"] = Field(description="`ready`: it can serve")
    mode: Literal["embedded", "distributed"] = Field(
        description="`embedded` (one machine) or `distributed`"
    )
    checks: dict[str, str] = Field(
        description="each check and its result: database, broker, disk, search index"
    )
    capabilities: dict[str, CapabilityPublic] = Field(
        description="what this gateway can run, per kind"
    )
    answer_model: str = Field(
        description="what answers questions: a language model, or `extractive`"
    )
