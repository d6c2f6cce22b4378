"""`POST /v1/search`: moment retrieval over the ready videos, no language model."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from app.deps import ServicesDep
from app.retrieval import public_hits, retrieve
from app.schemas import ErrorResponse, SearchRequest, SearchResponse

router = APIRouter(tags=["search"])
_errors: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 404, 409, 422)
}


@router.post("/search", response_model=SearchResponse, responses=_errors)
def search(body: SearchRequest, services: ServicesDep) -> SearchResponse:
    """The clips that best match `query`, each with the evidence (speech, on-screen text,
    objects) that matched. `video_ids` limits the search; all ready videos otherwise."""
    started = time.perf_counter()
    hits = retrieve(services, body.query, body.video_ids, body.top_k)
    took = (time.perf_counter() - started) * 1000
    return SearchResponse(hits=public_hits(services, hits), timings_ms={"search": round(took, 1)})
