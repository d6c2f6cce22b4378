"""The OpenAI-compatible face of `/v1/ask`: `GET /v1/models` and `POST /v1/chat/completions`,
for the `openai` client and the tools built on it.

Models are answer modes: `extractive` (quotes from the evidence, always there) and, when one is
configured, the LMM's own name (its answers fall back to extractive when it fails, as in
`/v1/ask`). The question is the last user message; retrieval and answering are the same
`retrieve` + `Answerer` as `/v1/ask`. Streaming follows OpenAI's chunk format, ending in a chunk
that carries `finish_reason`, the `citations` extension, then `data: [DONE]`. Errors on these
routes come back in OpenAI's shape (`{"error": {"message", "type", "param", "code"}}`)."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.answer import tokens
from app.answer.extractive import hms
from app.deps import ServicesDep
from app.errors import ApiError
from app.openai_schemas import (
    AssistantMessage,
    ChatCitation,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    ModelCard,
    ModelList,
    OpenAIError,
    Usage,
)
from app.retrieval import public_hits, retrieve

router = APIRouter(tags=["openai"])
_errors: dict[int | str, dict[str, Any]] = {
    code: {"model": OpenAIError} for code in (400, 401, 404, 409)
}
EXTRACTIVE = "extractive"
STARTED = int(time.time())
_MARK = re.compile(r"\[\d{1,2}:\d{2}:\d{2}")


class ModelNotFound(ApiError):
    type, status = "model_not_found", 404


class NoQuestion(ApiError):
    type, status = "invalid_request_error", 400


def model_ids(services: Any) -> list[str]:
    answerer = services.answerer
    ids = [answerer.model] if answerer.model != EXTRACTIVE else []
    return [*ids, EXTRACTIVE]


@router.get("/models", response_model=ModelList, responses=_errors)
def list_models(services: ServicesDep) -> ModelList:
    """The answer modes, as OpenAI models: the configured LMM (when there is one) and
    `extractive`."""
    return ModelList(data=[ModelCard(id=m, created=STARTED) for m in model_ids(services)])


def _answerer_for(services: Any, model: str) -> Any:
    """The gateway's Answerer, or one with no LMM when `extractive` is asked for."""
    answerer = services.answerer
    if model != EXTRACTIVE or answerer.model == EXTRACTIVE:
        return answerer
    from app.answer.service import Answerer

    no_lmm = answerer.settings.model_copy(update={"base_urls": []})
    return Answerer(no_lmm, answerer.library)


def _question(body: ChatCompletionRequest) -> str:
    users = [m.text().strip() for m in body.messages if m.role == "user"]
    if not users or not users[-1]:
        raise NoQuestion("messages must end with a user message that has text")
    return users[-1]


def with_marks(answer: str, citations: list[ChatCitation]) -> str:
    """The answer with a `[hh:mm:ss]` mark per cited clip when the text has none (an LMM may
    cite in words; extractive answers already carry spans)."""
    if not citations or _MARK.search(answer):
        return answer
    sources = "; ".join(f"{c.mark} {c.title}" for c in citations)
    return f"{answer.rstrip()}\n\nSources: {sources}"


def _citations(raw: list[Mapping[str, Any]], titles: Mapping[str, str]) -> list[ChatCitation]:
    return [
        ChatCitation(
            video_id=c["video_id"],
            title=titles.get(c["video_id"], c["video_id"]),
            start_s=c["start_s"],
            end_s=c["end_s"],
            mark=f"[{hms(c['start_s'])}]",
        )
        for c in raw
    ]


def _usage(reported: Mapping[str, Any] | None, question: str, hits: list[Any], text: str) -> Usage:
    """The LMM server's counts when the answer came from it, else the gateway's estimate of the
    evidence read and the answer written (`app.answer.tokens`, on the high side)."""
    if reported and not reported.get("estimated"):
        return Usage(**{k: int(reported[k]) for k in Usage.model_fields})
    prompt = tokens.estimate(question) + sum(
        tokens.estimate(e.text) for h in hits for e in h.evidence
    )
    completion = tokens.estimate(text)
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


@router.post("/chat/completions", response_model=ChatCompletion, responses=_errors)
async def chat_completions(body: ChatCompletionRequest, services: ServicesDep) -> Any:
    """Answer the last user message from the indexed videos (or `video_ids`), citing clips.

    `model` is an answer mode from `GET /v1/models`. Without `stream` the answer is one
    `ChatCompletion`, with vidrag's `citations` and `hits` beside OpenAI's fields.

    With `"stream": true` the answer comes as server-sent events in OpenAI's format: unnamed
    `data: <chunk>` lines, each chunk an object `chat.completion.chunk` with `id`, `created`,
    `model` and one choice (`index` 0, `delta`, `finish_reason`):

    - first a chunk whose `delta` is `{"role": "assistant", "content": ""}`;
    - then chunks whose `delta` is `{"content": "..."}`, the answer text piece by piece (when
      the language model fails mid-answer, a visible `[the language model failed: ...]` line,
      then the extractive answer; when the answer cites no `[hh:mm:ss]` mark, a last
      `Sources: ...` line with one mark per cited clip);
    - then a chunk with an empty `delta`, `finish_reason` `stop`, and vidrag's extension
      fields `citations` (as in `ChatCompletion`: `video_id`, `title`, `start_s`, `end_s`,
      `mark`) and `hits` (the retrieved clips, as in `POST /v1/search`);
    - last `data: [DONE]`.

    Stream chunks carry no `usage`. Request errors (unknown model, no user message, unknown or
    unready video) come before the stream starts, as OpenAI-shaped JSON errors."""
    if body.model not in model_ids(services):
        raise ModelNotFound(f"model {body.model!r} does not exist; see GET /v1/models")
    question = _question(body)
    started = time.perf_counter()
    hits = await run_in_threadpool(retrieve, services, question, body.video_ids, body.top_k)
    public = await run_in_threadpool(public_hits, services, hits)
    titles = {h.video_id: h.title for h in public}
    answerer = _answerer_for(services, body.model)
    ident = f"chatcmpl-{uuid.uuid4().hex}"
    hit_dicts = [h.model_dump(mode="json") for h in public]
    if body.stream:
        events = answerer.stream(question, hits, titles, started=started)
        chunks = _chunks(events, ident, body.model, titles, hit_dicts)
        return StreamingResponse(
            chunks, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )
    r = await answerer.answer(question, hits, titles, started=started)
    cited = _citations(r.citations, titles)
    text = with_marks(r.answer, cited)
    return ChatCompletion(
        id=ident,
        created=int(time.time()),
        model=body.model,
        choices=[Choice(message=AssistantMessage(content=text))],
        usage=_usage(r.usage, question, hits, text),
        citations=cited,
        hits=hit_dicts,
    )


def _chunk(ident: str, model: str, delta: dict[str, Any], **extra: Any) -> str:
    body = {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": extra.pop("finish", None)}],
        **extra,
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


async def _chunks(
    events: AsyncIterator[Any],
    ident: str,
    model: str,
    titles: Mapping[str, str],
    hits: list[dict[str, Any]],
) -> AsyncIterator[str]:
    """Answerer events as OpenAI chunks. A `reset` (the LMM failed mid-answer) cannot take back
    text already sent, so it becomes a visible line before the fallback answer."""
    yield _chunk(ident, model, {"role": "assistant", "content": ""})
    sent = ""
    async for ev in events:
        if ev.event == "delta":
            sent += ev.data["text"]
            yield _chunk(ident, model, {"content": ev.data["text"]})
        elif ev.event == "reset":
            note = f"\n\n[the language model failed: {ev.data.get('reason', '')}]\n\n"
            sent += note
            yield _chunk(ident, model, {"content": note})
        elif ev.event == "done":
            cited = _citations(ev.data.get("citations", []), titles)
            tail = with_marks(sent, cited)[len(sent) :]
            if tail:
                yield _chunk(ident, model, {"content": tail})
            yield _chunk(
                ident,
                model,
                {},
                finish="stop",
                citations=[c.model_dump() for c in cited],
                hits=hits,
            )
    yield "data: [DONE]\n\n"
