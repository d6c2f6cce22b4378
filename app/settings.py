"""Gateway settings: the shared service settings plus what only the HTTP side needs.

`VIDRAG_API_KEYS=key1,key2` turns on bearer-key auth for `/v1/*`; `VIDRAG_FETCH__ALLOW_PRIVATE`
lets URL uploads reach private addresses (an intranet deployment, or tests)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

from app.answer.settings import LMMSettings
from indexer.catalog import DEFAULT_TENANT, ServiceSettings


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
    # empty: no auth; otherwise any of these keys as `Authorization: Bearer <key>`. A key
    # written `tenant:key` belongs to that tenant, which sees only its own videos; a key without
    # one belongs to the tenant `default`
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

    def key_tenants(self) -> list[tuple[bytes, str]]:
        """(key, tenant) of each API key."""
        out = []
        for entry in self.api_keys:
            tenant, sep, key = entry.partition(":")
            if not sep or not tenant or not key:
                tenant, key = DEFAULT_TENANT, entry
            out.append((key.encode("utf-8"), tenant))
        return out

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _comma_list(cls, v: object) -> object:
        if isinstance(v, str):
            return [p.strip() for p in v.split(",") if p.strip()]
        return v
