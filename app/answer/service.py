"""Answer a question from retrieved clips: the LMM when one is configured and answers, else an
extractive answer from the evidence — the service stays useful without a GPU, and an LMM that
is down, slow or talking nonsense costs quality, never an error page.

`Answerer.stream` yields the events of `POST /v1/ask` with `stream: true`:

    hits    {"hits": [...]}                         first, before the LMM is asked
    delta   {"text": "..."}                         answer text as it arrives
    reset   {"reason": "..."}                       the LMM failed mid-answer: drop the text so far
    done    {"answer", "citations", "dropped_citations", "model", "timings_ms", "degraded"?}

`Answerer.answer` runs the same steps and returns the `done` data as an `AnswerResult`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.answer import extractive
from app.answer.citations import resolve_citations
from app.answer.lmm import LMMClient, LMMError
from app.answer.prompt import build_prompt
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

        tp = time.perf_counter()
        # reading and resizing frames is file I/O and CPU: keep it off the event loop
        prompt = await asyncio.to_thread(
            build_prompt, question, hits, titles, self.library, self.settings
        )
        timing["prompt"] = _ms(tp)
        parts: list[str] = []
        try:
            # aclosing: a client that goes away closes the LMM request too (vLLM then stops)
            async with contextlib.aclosing(self.client.stream_chat(prompt.request)) as chunks:
                async for text in chunks:
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
            async for ev in self._extractive(question, hits, titles, t0, timing, reason):
                yield ev
            return
        text = "".join(parts)
        cited = resolve_citations(text, prompt.clips)
        timing["total"] = _ms(t0)
        yield AnswerEvent(
            "done",
            {
                "answer": text,
                "citations": [_rounded(c) for c in cited.citations],
                "dropped_citations": cited.dropped,
                "model": self.settings.model,
                "timings_ms": timing,
            },
        )

    async def _extractive(
        self,
        question: str,
        hits: list[Hit],
        titles: Mapping[str, str],
        t0: float,
        timing: dict[str, float],
        degraded: str | None,
    ) -> AsyncGenerator[AnswerEvent, None]:
        result = extractive.answer(question, hits, dict(titles))
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


def _rounded(c: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "video_id": c["video_id"],
        "start_s": round(float(c["start_s"]), 3),
        "end_s": round(float(c["end_s"]), 3),
    }
