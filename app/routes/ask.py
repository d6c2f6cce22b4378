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

    With `"stream": false` (the default) the answer is one JSON `AskResponse`. With
    `"stream": true` it comes as server-sent events (`text/event-stream`), each
    `event: <name>` then `data: <one JSON object>`:

    - `hits`: `{"hits": [...]}`, always first and exactly once: the retrieved clips, best
      first, each as in `POST /v1/search` (an empty list when nothing matched);
    - `delta`: `{"text": "..."}`, the next piece of the answer text; zero or more;
    - `reset`: `{"reason": "<error type>: <message>"}`, only when the language model failed
      after some of its text was sent: discard the deltas so far; an extractive answer follows
      as new deltas;
    - `done`: always last and exactly once: `answer` (the whole text), `citations`
      (`video_id`, `start_s`, `end_s`), `dropped_citations`, `model` (the language model, or
      `extractive`), `timings_ms` (milliseconds: `retrieve`, `first_token`, `total`, and
      `prompt` when a model was asked); `degraded` when the answer is extractive for want of a
      working language model (`no_lmm_configured`, or `<error type>: <message>` when it
      failed); from a language model also `usage` (`prompt_tokens`,
      `completion_tokens`, `total_tokens`, `estimated`), `finish_reason` (`stop`, or `length`
      when cut at max tokens), `prompt` (`clips`, `images`, `estimated_tokens`,
      `context_tokens`) and, when the request had to be adapted to be accepted, `adapted`.

    There is no `error` event: a language model that fails is answered around (`reset`, then
    an extractive answer, `degraded` in `done`), and request errors (unknown or unready video,
    bad `top_k`, blank question) come before the stream starts, as ordinary 4xx JSON errors. A
    stream that ends without `done` was cut off (connection lost or server fault)."""
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
