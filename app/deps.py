"""What routes depend on, as `Annotated` aliases: the process's services, the API-key check and
validated video ids. Services are built once per app (cheap: models load on first use)."""

from __future__ import annotations

import hmac
import logging
import shutil
import threading
import time
from contextvars import ContextVar
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.errors import InvalidApiKey, MissingApiKey
from app.jobs import Dispatcher
from app.settings import AppSettings
from indexer.catalog import DEFAULT_TENANT, Catalog, VideoState
from indexer.errors import VideoNotFound
from indexer.extractors import Extractors
from indexer.store import ArtifactStore, Library

if TYPE_CHECKING:
    from app.answer.service import Answerer
    from indexer.pipeline import Indexer
    from indexer.retrieve import Searcher

log = logging.getLogger("vidrag.gateway")
ID_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyz_-")


class Services:
    """The gateway's long-lived objects: settings, catalog, library, broker client, models."""

    def __init__(self, settings: AppSettings) -> None:
        self.settings = settings
        self.catalog = Catalog(settings.db_url())
        self.library = Library(settings.videos_dir)
        self.dispatcher = Dispatcher(settings)
        self.extractors = Extractors(settings)
        self._lock = threading.Lock()

    @property
    def tmp_dir(self) -> Path:
        # uploads land beside the library, so placing them is a rename on the same disk
        return self.settings.data_dir / "tmp"

    @cached_property
    def indexer(self) -> Indexer:
        from indexer.pipeline import Indexer

        return Indexer(self.settings, self.extractors)

    @cached_property
    def searcher(self) -> Searcher:
        from indexer.retrieve import Searcher

        return Searcher(self.library, self.extractors, self.settings)

    @cached_property
    def answerer(self) -> Answerer:
        from app.answer.service import Answerer

        return Answerer(self.settings.lmm, self.library)

    def start(self) -> None:
        self.settings.ensure_dirs()
        self.settings.videos_dir.mkdir(parents=True, exist_ok=True)
        self.catalog.create_all()
        self._clean_tmp(max_age_s=24 * 3600)

    def warm_up(self) -> None:
        """Load what searches need (embedders, indexes) ahead of the first query."""
        try:
            self.searcher.warm_up()
        except Exception as e:  # a model that cannot load is reported by /readyz and searches
            log.warning("search warm-up failed: %s", e)

    def close(self) -> None:
        self.dispatcher.close()
        self.catalog.dispose()

    def _clean_tmp(self, max_age_s: float) -> None:
        """Remove uploads abandoned by a crash (several gateways may share the directory, so
        only old ones)."""
        if not self.tmp_dir.exists():
            return
        cutoff = time.time() - max_age_s
        for p in self.tmp_dir.iterdir():
            if p.stat().st_mtime < cutoff:
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)

    def video(self, video_id: str) -> VideoState:
        """The video, if it is the current tenant's (another tenant's is as good as absent)."""
        state = self.catalog.get(video_id)
        if state is None or state.tenant != current_tenant():
            raise VideoNotFound(f"no video {video_id!r}")
        return state

    def store(self, video_id: str) -> ArtifactStore:
        return self.library.store(video_id)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="one of VIDRAG_API_KEYS, when it is set")


def _media_request(request: Request) -> bool:
    # <video> and <img> cannot send headers: the page passes the key as ?api_key= for these
    path = request.url.path
    return request.method in ("GET", "HEAD") and (path.endswith("/media") or "/frames/" in path)


_tenant: ContextVar[str] = ContextVar("vidrag_tenant", default=DEFAULT_TENANT)


def current_tenant() -> str:
    """The tenant of the request being served (set by `require_api_key`)."""
    return _tenant.get()


async def require_api_key(
    services: ServicesDep,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """With VIDRAG_API_KEYS set, `/v1/*` needs `Authorization: Bearer <one of them>` (or, for
    the media and frame URLs a player loads, `?api_key=`), and the key's tenant is the
    request's. Every key is compared in constant time, so timing reveals nothing about which
    matched. Async on purpose: the tenant is set in the request's own context, which the
    route (also one run in the thread pool) then sees."""
    _tenant.set(DEFAULT_TENANT)
    keys = services.settings.key_tenants()
    if not keys:
        return
    challenge = {"WWW-Authenticate": "Bearer"}
    token = credentials.credentials if credentials else ""
    if not token and _media_request(request):
        token = request.query_params.get("api_key", "")
    if not token:
        raise MissingApiKey("this endpoint needs `Authorization: Bearer <api key>`", challenge)
    given = token.encode("utf-8", "replace")
    tenant = None
    for key, owner in keys:
        if hmac.compare_digest(given, key) and tenant is None:
            tenant = owner
    if tenant is None:
        raise InvalidApiKey("the API key is not valid", challenge)
    _tenant.set(tenant)


def valid_video_id(video_id: str) -> str:
    """A path id that could name a video; anything else (`..`, `%2F`, 300 chars) cannot
    exist, so it is simply not found — and never reaches the file system."""
    if not video_id or len(video_id) > 64 or not set(video_id) <= ID_CHARS:
        raise VideoNotFound(f"no video {video_id[:80]!r}")
    return video_id


VideoId = Annotated[str, Depends(valid_video_id)]
