"""`POST /v1/ask`: retrieve the clips that matter, then answer from their evidence, citing times.

Until a video LMM is configured the answer is extractive (`"model": "extractive"`): quotes of
the matching evidence. `stream: true` returns server-sent events: `hits`, then `delta`s of the
answer text, then `done` with the citations and timings."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from app.answer import extractive
from app.deps import ServicesDep
from app.retrieval import public_hits, retrieve
from app.schemas import AskRequest, AskResponse, Citation, ErrorResponse

router = APIRouter(tags=["ask"])
_errors: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 404, 409, 422)
}


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post(
    "/ask",
    response_model=AskResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **_errors},
)
def ask(body: AskRequest, services: ServicesDep) -> Any:
    """Answer `question` from the indexed videos (or `video_ids`), citing the clips used."""
    started = time.perf_counter()
    # retrieval runs before any byte is sent, so its errors are ordinary 4xx even when streaming
    hits = retrieve(services, body.question, body.video_ids, body.top_k)
    retrieved = time.perf_counter()
    public = public_hits(services, hits)
    titles = {h.video_id: h.title for h in public}
    result = extractive.answer(body.question, hits, titles)
    done = time.perf_counter()
    citations = [
        Citation(video_id=h.video_id, start_s=round(h.start_s, 3), end_s=round(h.end_s, 3))
        for h in result.cited
    ]
    timings = {
        "retrieve": round((retrieved - started) * 1000, 1),
        "answer": round((done - retrieved) * 1000, 1),
        "total": round((done - started) * 1000, 1),
    }
    if not body.stream:
        return AskResponse(
            answer=result.answer,
            citations=citations,
            hits=public,
            model=extractive.MODEL,
            timings_ms=timings,
        )

    def events() -> Iterator[str]:
        yield _sse("hits", {"hits": [h.model_dump(mode="json") for h in public]})
        for piece in extractive.chunks(result.answer):
            yield _sse("delta", {"text": piece})
        yield _sse(
            "done",
            {
                "citations": [c.model_dump() for c in citations],
                "model": extractive.MODEL,
                "timings_ms": timings,
            },
        )

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
