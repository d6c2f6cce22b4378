"""The gateway: `create_app(settings)` builds the FastAPI app of the v1 HTTP contract (the
endpoints, the error envelope and the SSE events of `/v1/ask` are listed in docs/architecture.md).

uvicorn --factory app.main:create_app      # settings from VIDRAG_* variables
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from app import observability
from app.deps import Services, require_api_key
from app.errors import install_error_handlers
from app.healing import IndexHealer
from app.jobs import sweep, sweep_forever
from app.limits import BodyLimits
from app.routes import ask, health, openai_compat, search, transcript, videos
from app.settings import AppSettings
from app.strict_query import RejectUnknownQuery
from app.upload import MULTIPART_OVERHEAD

log = logging.getLogger("vidrag.gateway")
WEB_DIR = Path(__file__).resolve().parent / "web"


def _version() -> str:
    try:
        return version("vidrag")
    except PackageNotFoundError:
        return "0+unknown"


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    services: Services = app.state.services
    await run_in_threadpool(services.start)
    if services.settings.warm_up:
        threading.Thread(target=services.warm_up, name="warm-up", daemon=True).start()
    # before the first request: every unfinished job goes to the broker again (it may have
    # lost its queue); duplicates are harmless, steps are claimed in the database
    try:
        done = await run_in_threadpool(
            sweep,
            services.catalog,
            services.dispatcher,
            services.settings,
            startup=services.settings.requeue_on_start,
        )
    except Exception:  # a damaged catalog: serve anyway, so /readyz can say what is wrong
        log.exception("start-up sweep failed; the periodic sweep tries again")
        done = {"sent": 0, "failed": 0}
    if done["sent"] or done["failed"]:
        log.info(
            "start-up: re-enqueued %(sent)d unfinished job(s), %(failed)d left for later", done
        )
    healer = IndexHealer(services)
    sweeper = asyncio.create_task(
        sweep_forever(services.catalog, services.dispatcher, services.settings, healer.run)
    )
    try:
        yield
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        services.close()


def create_app(settings: AppSettings | None = None) -> FastAPI:
    """The app with its services; nothing heavy happens until start-up (tables, recovery) and
    first use (models)."""
    settings = settings or AppSettings()
    # Swagger UI from files inside an installed package (fastapi-offline), not a CDN: /docs
    # works on a machine with no internet
    app = FastAPIOffline(
        title="vidrag",
        version=_version(),
        summary="Ask questions about long videos: upload, index, search, answer with citations.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.services = Services(settings)
    app.add_middleware(RejectUnknownQuery, api=app)
    app.add_middleware(
        BodyLimits,
        # the multipart envelope around the file adds a little; the upload code checks the file
        upload_bytes=settings.max_upload_bytes + MULTIPART_OVERHEAD,
        other_bytes=settings.max_body_bytes,
        body_timeout_s=settings.body_timeout_s,
    )
    # added last, so outermost: refusals by the limits above carry a request id too
    observability.install(app, app.state.services, _version(), json_logs=settings.log_json)
    install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.include_router(health.router)
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])
    v1.include_router(videos.router)
    v1.include_router(transcript.router)
    v1.include_router(search.router)
    v1.include_router(ask.router)
    v1.include_router(openai_compat.router)
    app.include_router(v1)
    # the page last, so /v1, /healthz and /docs win over its files
    app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app
