"""`POST /v1/ask`: retrieve the clips that matter, then answer from their frames and evidence,
citing times.

With an LMM configured (`VIDRAG_LMM__BASE_URLS`: a vision model gets frames and evidence, a
text-only one the timestamped evidence alone) the answer comes from it; with none, or when it
fails, the answer is extractive (`"model": "extractive"`, `degraded` says why): quotes of the
clips that support an answer, or "Nothing relevant found". `stream: true` returns server-sent
events: `hits`, then `delta`s of the answer text (a `reset` when a failed LMM's partial text is
replaced), then exactly one `done` with citations, timings and, for an LMM answer, token usage
(see app/answer/service.py)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.deps import ServicesDep
from app.retrieval import public_hits, retrieve
from app.schemas import AskRequest, AskResponse, Citation, ErrorResponse

router = APIRouter(tags=["ask"])
_errors: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 404, 409, 422)
}


@router.post(
    "/ask",
    response_model=AskResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **_errors},
)
async def ask(body: AskRequest, services: ServicesDep) -> Any:
    """Answer `question` from the indexed videos (or `video_ids`), citing the clips used.

    With `"stream": true` the answer comes as server-sent events (`text/event-stream`):

    - `hits`: `{"hits": [...]}`, the retrieved clips (as in `POST /v1/search`), first;
    - `delta`: `{"text": "..."}`, the next piece of the answer;
    - `reset`: `{"reason": "..."}`, the language model failed after it began: forget the
      deltas so far; an extractive answer follows as new deltas;
    - `done`: the whole answer, last: `answer`, `citations`, `dropped_citations`, `model`,
      `timings_ms`, and with a language model `usage`, `finish_reason`, `prompt`; `degraded`
      says why the answer is extractive when a configured model could not answer.

    Retrieval errors come before the stream starts, as ordinary 4xx responses."""
    started = time.perf_counter()
    # retrieval runs before any byte is sent, so its errors are ordinary 4xx even when streaming;
    # it is CPU work (embedding, FAISS), so it runs off the event loop
    hits = await run_in_threadpool(retrieve, services, body.question, body.video_ids, body.top_k)
    timings = {"retrieve": round((time.perf_counter() - started) * 1000, 1)}
    public = await run_in_threadpool(public_hits, services, hits)
    titles = {h.video_id: h.title for h in public}
    answerer = services.answerer
    if body.stream:
        events = answerer.stream(body.question, hits, titles, started=started, timings=timings)
        return StreamingResponse(
            (ev.sse() async for ev in events),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    r = await answerer.answer(body.question, hits, titles, started=started, timings=timings)
    return AskResponse(
        answer=r.answer,
        citations=[Citation(**c) for c in r.citations],
        hits=public,
        model=r.model,
        timings_ms=r.timings_ms,
        dropped_citations=r.dropped_citations,
        degraded=r.degraded,
    )
