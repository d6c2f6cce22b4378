"""`/healthz` (the process answers) and `/readyz` (it can serve: database, broker, models)."""

from __future__ import annotations

import asyncio
import hmac
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app.deps import ServicesDep
from app.jobs import free_mb
from app.schemas import CapabilityPublic, Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process answers (liveness); `/readyz` says whether it can serve."""
    return Health()


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(services: ServicesDep, request: Request) -> JSONResponse:
    """Ready when the database (its pages checked) and the broker answer and the search index
    is loaded; lists which extractor backends and models are active here (a capability whose
    model is missing is reported off, with why) and whether the language model answers (not
    gating: answers fall back to extractive quotes). With API keys set, only a caller with a
    key sees the checks and capabilities; a probe without one gets the verdict alone."""
    checks, caps, ok = await run_in_threadpool(_local_checks, services)
    try:
        lmm_ok, line = await asyncio.wait_for(services.answerer.ready(), LMM_PROBE_S)
        checks["lmm"] = ("ok: " if lmm_ok else "error: ") + line
    except TimeoutError:
        checks["lmm"] = f"error: no answer within {LMM_PROBE_S:g} s"
    body = Readiness(
        status="ready" if ok else "not_ready",
        mode="embedded" if services.settings.embedded else "distributed",
        checks=checks,
        capabilities=caps,
        answer_model=services.answerer.model,
    )
    if not _authenticated(services, request):  # probes get the verdict, callers with a key why
        body = Readiness(status=body.status, mode=body.mode, checks={}, capabilities={},
                         answer_model="")  # fmt: skip
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ok else 503)


def _local_checks(services: Any) -> tuple[dict[str, str], dict[str, CapabilityPublic], bool]:
    """Database, broker, disk, extractors and search index: (checks, capabilities, ready)."""
    checks: dict[str, str] = {}
    try:
        services.catalog.ping()
        damage = _integrity(services)
        checks["database"] = "ok" if damage == "ok" else f"error: damaged: {damage}"
    except Exception as e:  # report, don't raise: this endpoint exists to say what is wrong
        checks["database"] = f"error: {type(e).__name__}: {str(e)[:200]}"
    try:
        services.dispatcher.ping()
        checks["broker"] = "ok"
    except Exception as e:
        checks["broker"] = f"error: {type(e).__name__}: {str(e)[:200]}"
    checks["broker_transport"] = services.dispatcher.describe()
    # reported, not gating: searches still work on a full disk, uploads and indexing do not
    free, floor = free_mb(services.settings.data_dir), services.settings.jobs.min_free_mb
    checks["disk"] = f"ok: {free:.0f} MiB free" if free >= floor else f"low: {free:.0f} MiB free"
    caps = {
        kind: CapabilityPublic(ok=a.ok, backend=a.backend, model=a.model, reason=a.reason)
        for kind, a in services.extractors.capabilities().items()
    }
    # the library's indexes: not ready until the warm-up's first load is done
    loading = services.settings.warm_up and not services.searcher.loaded
    checks["search_index"] = "loading" if loading else "ok"
    ok = checks["database"] == "ok" and checks["broker"] == "ok" and not loading
    return checks, caps, ok


LMM_PROBE_S = 5.0  # a language model that does not list its models this fast is reported down
_checked: dict[int, tuple[float, str]] = {}
INTEGRITY_EVERY_S = 30.0  # a page check reads the whole catalog: not on every probe


def _integrity(services: Any) -> str:
    """The catalog's integrity, checked at most every INTEGRITY_EVERY_S per gateway."""
    key = id(services)
    at, result = _checked.get(key, (0.0, ""))
    if time.monotonic() - at > INTEGRITY_EVERY_S or result != "ok":
        result = services.catalog.integrity()
        _checked[key] = (time.monotonic(), result)
    return result


def _authenticated(services: Any, request: Request) -> bool:
    """Whether the caller may see the details: no keys are set, or it sent a valid one."""
    keys = services.settings.key_tenants()
    if not keys:
        return True
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    given = token.strip().encode("utf-8", "replace") if scheme.lower() == "bearer" else b""
    return any([hmac.compare_digest(given, key) for key, _ in keys])
