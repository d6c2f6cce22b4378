"""Answer a question from retrieved clips: the LMM when one is configured and answers, else an
extractive answer from the evidence — the service stays useful without a GPU, and an LMM that
is down, slow or talking nonsense costs quality, never an error page.

`Answerer.stream` yields the events of `POST /v1/ask` with `stream: true`:

    hits    {"hits": [...]}                         first, before the LMM is asked
    delta   {"text": "..."}                         answer text as it arrives
    reset   {"reason": "..."}                       the LMM failed mid-answer: drop the text so far
    done    {"answer", "citations", "dropped_citations", "model", "timings_ms", "degraded"?,
             "usage"?, "finish_reason"?, "prompt"?, "adapted"?}

Every stream ends with exactly one `done`, whatever happens to the LMM (down, dead mid-answer,
refusing the prompt): then the answer is extractive and `degraded` says why ("<error type>:
<message>"), after a `reset` when some of the LMM's text had already been sent. The LMM's own
`done` adds `usage` (prompt, completion and total tokens: the server's count, or the gateway's
estimate with `"estimated": true` when the server gives none), `finish_reason` ("stop", or
"length" when `max_tokens` cut the answer), `prompt` (clips, frames, estimated tokens and the
context window it was fitted into) and, when the request had to be changed to be accepted (no
frames for a text-only model, fewer clips for a small context: see `adaptive.py`), `adapted`.

`Answerer.answer` runs the same steps and returns the `done` data as an `AnswerResult`."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.answer import extractive, tokens
from app.answer.adaptive import AdaptiveAsker, Attempt
from app.answer.citations import resolve_citations
from app.answer.lmm import LMMClient, LMMError
from app.answer.neighbours import NeighbourSpeech
from app.answer.settings import LMMSettings
from app.schemas import clip_urls
from indexer.store import Library
from indexer.types import Hit

log = logging.getLogger("vidrag.answer")


@dataclass
class AnswerEvent:
    """One server-sent event of a streamed answer."""

    event: str  # hits | delta | reset | done
    data: dict[str, Any]

    def sse(self) -> str:
        return f"event: {self.event}\ndata: {json.dumps(self.data, ensure_ascii=False)}\n\n"


@dataclass
class AnswerResult:
    """A finished answer. `model` is the LMM's name or "extractive"; `degraded` is None when
    the LMM answered (or there was nothing to answer from), "no_lmm_configured", or
    "<error type>: <message>" when the LMM failed and the answer fell back to extractive."""

    answer: str
    citations: list[dict[str, Any]]
    dropped_citations: int
    hits: list[Hit]
    model: str
    timings_ms: dict[str, float]
    degraded: str | None = None
    usage: dict[str, Any] | None = None  # the LMM's answers only (see the module)


def hit_payload(hit: Hit, titles: Mapping[str, str]) -> dict[str, Any]:
    """A hit as the API shows it (the fields of `HitPublic`: no frame paths)."""
    return {
        "video_id": hit.video_id,
        "title": titles.get(hit.video_id, hit.video_id),
        "clip_index": hit.clip_index,
        "start_s": round(hit.start_s, 3),
        "end_s": round(hit.end_s, 3),
        "score": float(hit.score),
        "evidence": [e.model_dump(mode="json") for e in hit.evidence],
        **clip_urls(hit.video_id, hit.start_s, hit.end_s),
    }


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)


class Answerer:
    """Composes answers for the gateway. Cheap to build: holds settings, the library (to read
    frames) and an `LMMClient`; no connection outlives a call."""

    def __init__(
        self, settings: LMMSettings, library: Library, client: LMMClient | None = None
    ) -> None:
        self.settings = settings
        self.library = library
        self.client = client or LMMClient(settings)
        self.asker = AdaptiveAsker(settings, library, self.client)
        self.neighbours = NeighbourSpeech(library)  # extractive quotes run on into them

    @property
    def model(self) -> str:
        """The model answers come from when all is well."""
        return self.settings.model if self.settings.enabled else extractive.MODEL

    async def answer(
        self,
        question: str,
        hits: Sequence[Hit],
        titles: Mapping[str, str],
        *,
        started: float | None = None,
        timings: Mapping[str, float] | None = None,
    ) -> AnswerResult:
        """The whole answer at once (see `stream` for the arguments). Never raises for an LMM
        failure: the result is extractive and `degraded` says why."""
        done: dict[str, Any] = {}
        async for ev in self.stream(question, hits, titles, started=started, timings=timings):
            if ev.event == "done":
                done = ev.data
        return AnswerResult(
            answer=done["answer"],
            citations=done["citations"],
            dropped_citations=done["dropped_citations"],
            hits=list(hits),
            model=done["model"],
            timings_ms=done["timings_ms"],
            degraded=done.get("degraded"),
            usage=done.get("usage"),
        )

    async def stream(
        self,
        question: str,
        hits: Sequence[Hit],
        titles: Mapping[str, str],
        *,
        started: float | None = None,
        timings: Mapping[str, float] | None = None,
    ) -> AsyncGenerator[AnswerEvent, None]:
        """Events of the answer to `question` over `hits` (in retrieval order). `titles` maps
        video ids to titles; `started` is the request's `time.perf_counter()` start, so
        `first_token` and `total` are what the user waited; `timings` (e.g. `retrieve`) are
        passed through into `timings_ms`."""
        t0 = time.perf_counter() if started is None else started
        hits = list(hits)
        timing = dict(timings or {})
        yield AnswerEvent("hits", {"hits": [hit_payload(h, titles) for h in hits]})
        if not hits:  # nothing to show a model: say so without asking one
            async for ev in self._extractive(question, hits, titles, t0, timing, None):
                yield ev
            return
        if not self.settings.enabled:
            async for ev in self._extractive(
                question, hits, titles, t0, timing, "no_lmm_configured"
            ):
                yield ev
            return

        attempt = Attempt()
        parts: list[str] = []
        try:
            async for text in self.asker.stream(question, hits, titles, attempt):
                if not parts:
                    timing["first_token"] = _ms(t0)
                parts.append(text)
                yield AnswerEvent("delta", {"text": text})
        except LMMError as e:
            reason = f"{e.type}: {e.message}"
            log.warning("LMM answer failed, answering extractively: %s", reason)
            if parts:
                yield AnswerEvent("reset", {"reason": reason})
            timing.pop("first_token", None)
            timing["prompt"] = round(attempt.prompt_ms, 1)
            async for ev in self._extractive(question, hits, titles, t0, timing, reason):
                yield ev
            return
        text = "".join(parts)
        prompt = attempt.prompt
        assert prompt is not None  # an answer came, so a prompt was sent
        cited = resolve_citations(text, prompt.clips)
        timing["prompt"] = round(attempt.prompt_ms, 1)
        timing["total"] = _ms(t0)
        done: dict[str, Any] = {
            "answer": text,
            "citations": [_rounded(c) for c in cited.citations],
            "dropped_citations": cited.dropped,
            "model": self.settings.model,
            "timings_ms": timing,
            "usage": _usage(attempt, text),
            "finish_reason": attempt.info.finish_reason,
            "prompt": {
                "clips": len(prompt.clips),
                "images": prompt.images,
                "estimated_tokens": prompt.estimated_tokens,
                "context_tokens": prompt.context_tokens,
            },
        }
        if attempt.adapted:
            done["adapted"] = attempt.adapted
        yield AnswerEvent("done", done)

    async def _extractive(
        self,
        question: str,
        hits: list[Hit],
        titles: Mapping[str, str],
        t0: float,
        timing: dict[str, float],
        degraded: str | None,
    ) -> AsyncGenerator[AnswerEvent, None]:
        # reading a neighbouring clip's speech is file I/O: keep it off the event loop
        result = await asyncio.to_thread(
            extractive.answer, question, hits, dict(titles), self.neighbours
        )
        for i, piece in enumerate(extractive.chunks(result.answer)):
            if i == 0:
                timing["first_token"] = _ms(t0)
            yield AnswerEvent("delta", {"text": piece})
        timing["total"] = _ms(t0)
        done: dict[str, Any] = {
            "answer": result.answer,
            "citations": [
                _rounded({"video_id": h.video_id, "start_s": h.start_s, "end_s": h.end_s})
                for h in result.cited
            ],
            "dropped_citations": 0,
            "model": extractive.MODEL,
            "timings_ms": timing,
        }
        if degraded:
            done["degraded"] = degraded
        yield AnswerEvent("done", done)

    async def ready(self) -> tuple[bool, str]:
        """Whether answers will come from the LMM, and a line saying why (for `/readyz`)."""
        if not self.settings.enabled:
            return True, "extractive (no LMM configured)"
        try:
            models = await self.client.list_models()
        except LMMError as e:
            return False, f"{e.type}: {e.message}"
        if self.settings.model not in models:
            return False, f"model {self.settings.model!r} not served (serving: {models})"
        return True, f"{self.settings.model} at {', '.join(self.settings.base_urls)}"


def _usage(attempt: Attempt, answer: str) -> dict[str, Any]:
    """The server's token counts, or (marked `estimated`) the gateway's."""
    if attempt.info.usage:
        return {**attempt.info.usage, "estimated": False}
    prompt = attempt.prompt.estimated_tokens if attempt.prompt else 0
    completion = tokens.estimate(answer)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "estimated": True,
    }


def _rounded(c: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "video_id": c["video_id"],
        "start_s": round(float(c["start_s"]), 3),
        "end_s": round(float(c["end_s"]), 3),
    }
