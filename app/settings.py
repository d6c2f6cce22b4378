"""Gateway settings: the shared service settings plus what only the HTTP side needs.

`VIDRAG_API_KEYS=key1,key2` turns on bearer-key auth for `/v1/*`; `VIDRAG_FETCH__ALLOW_PRIVATE`
lets URL uploads reach private addresses (an intranet deployment, or tests)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

from app.answer.settings import LMMSettings
from indexer.catalog import ServiceSettings


class FetchSettings(BaseModel):
    """Limits for `POST /v1/videos {"url": ...}` downloads."""

    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0
    total_timeout_s: float = 600.0
    max_redirects: int = 5
    allow_private: bool = False  # loopback/private/link-local targets (SSRF guard off)


class AppSettings(ServiceSettings):
    """Everything the gateway reads from the environment (`VIDRAG_*`)."""

    host: str = "127.0.0.1"
    port: int = 8000
    # empty: no auth; otherwise any of these keys as `Authorization: Bearer <key>`
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_upload_bytes: int = 4 * 1024**3
    max_field_bytes: int = 4096  # title, language: small text fields of the upload form
    max_body_bytes: int = 1024**2  # every other request body (JSON)
    # a client that sends no part of its body for this long is answered 408 and let go
    body_timeout_s: float = 30.0
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    fetch: FetchSettings = Field(default_factory=FetchSettings)
    lmm: LMMSettings = Field(default_factory=LMMSettings)  # empty base_urls: extractive answers
    thumbnail_side: int = 360
    max_list: int = 500
    requeue_on_start: bool = True  # re-enqueue unfinished jobs when the gateway starts
    # load the query embedders in the background at start, so the first search is not slow
    warm_up: bool = True
    log_json: bool = False  # one JSON object per log line (with the request id)

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _comma_list(cls, v: object) -> object:
        if isinstance(v, str):
            return [p.strip() for p in v.split(",") if p.strip()]
        return v
