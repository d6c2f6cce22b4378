"""`video.json`: what a video is, and what indexing did to it (which models ran, how long)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from indexer.types import MediaInfo


class Capability(BaseModel):
    """What one kind of extractor did for this video: which backend and model, or why it was off."""

    ok: bool
    backend: str
    model: str = ""
    reason: str = ""
    language: str | None = None  # speech: the language most words were recognised in


class VideoManifest(BaseModel):
    """`video.json`: what a video is and what was done to it."""

    id: str
    title: str
    filename: str
    sha256: str
    source: str  # the file's name inside the video's directory
    media: MediaInfo
    created_at: datetime
    language: str | None = None  # the uploader's language for speech; None: detect per part
    tenant: str = "default"  # whose video it is (the uploader's API key's tenant)
    parts: list[tuple[float, float]] = Field(default_factory=list)
    capabilities: dict[str, Capability] = Field(default_factory=dict)
    clip_count: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    stage_seconds: dict[str, float] = Field(default_factory=dict)
    indexed_at: datetime | None = None
