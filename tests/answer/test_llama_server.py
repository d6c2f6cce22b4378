"""The Answerer against a REAL OpenAI-compatible server: llama-cpp-python serving SmolLM2-135M
(a text-only model) with a 2048-token context. What is checked is the protocol — streaming,
frames dropped for a model without vision, usage, max_tokens and stop, context overflow, a server
dying mid-answer — never the (poor) wisdom of a 135M model."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from app.answer.prompt import build_prompt
from app.answer.service import Answerer, AnswerEvent
from app.answer.settings import LMMSettings
from indexer.store import Library
from indexer.types import Hit
from tests.answer.fakes import TITLES, make_hit
from tests.answer.llama import ALIAS, N_CTX, LlamaServer

QUESTION = "What is the launch code?"


def smol(url: str, **kw: Any) -> LMMSettings:
    values: dict[str, Any] = dict(
        base_urls=[url],
        model=ALIAS,
        max_context_tokens=N_CTX,
        max_tokens=40,
        temperature=0.0,
        # a loaded 2-core machine evaluates a prompt slowly: wait for it
        read_timeout_s=600.0,
        total_timeout_s=900.0,
        retries=1,
        backoff_base_s=0.2,
    )
    values.update(kw)
    return LMMSettings(**values)


def events(answerer: Answerer, hits: list[Hit], question: str = QUESTION) -> list[AnswerEvent]:
    async def run() -> list[AnswerEvent]:
        return [e async for e in answerer.stream(question, hits, TITLES)]

    return asyncio.run(run())


def spans(hits: list[Hit]) -> set[tuple[str, float, float]]:
    return {(h.video_id, round(h.start_s, 3), round(h.end_s, 3)) for h in hits}


def assert_lmm_answer(evs: list[AnswerEvent], hits: list[Hit]) -> dict[str, Any]:
    """One streamed LMM answer: hits, several deltas, done; citations only of retrieved clips."""
    kinds = [e.event for e in evs]
    assert kinds[0] == "hits" and kinds[-1] == "done" and "reset" not in kinds
    deltas = [e.data["text"] for e in evs if e.event == "delta"]
    done = evs[-1].data
    assert len(deltas) >= 3 and "".join(deltas) == done["answer"]
    assert done["model"] == ALIAS and "degraded" not in done, done.get("degraded")
    assert {(c["video_id"], c["start_s"], c["end_s"]) for c in done["citations"]} <= spans(hits)
    assert done["finish_reason"] in ("stop", "length")
    usage = done["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    if usage["estimated"]:  # llama-cpp-python counts no tokens in a stream: the gateway's estimate
        assert usage["prompt_tokens"] == done["prompt"]["estimated_tokens"]
    return dict(done)


def test_streams_an_answer_from_a_text_only_model(
    llama: LlamaServer, library: Library, hits: list[Hit]
) -> None:
    answerer = Answerer(smol(llama.url), library)  # vision=auto: frames are tried first
    ok, line = asyncio.run(answerer.ready())
    assert ok and ALIAS in line
    done = assert_lmm_answer(events(answerer, hits), hits)
    # the server cannot take the frames (its chat template fails on content parts, and the stream
    # ends empty): the answer was asked again as text, and the server is known as text-only
    assert done["adapted"][0].startswith("sent without frames after: ")
    assert done["prompt"]["images"] == 0 and answerer.asker.traits.vision is False
    again = assert_lmm_answer(events(answerer, hits), hits)
    assert "adapted" not in again


def test_token_estimate_is_on_the_high_side(
    llama: LlamaServer, library: Library, hits: list[Hit]
) -> None:
    s = smol(llama.url, vision="false")
    p = build_prompt(QUESTION, hits, TITLES, library, s, vision=False)
    body = {**p.request, "max_tokens": 1, "stream": False}
    reply = httpx.post(f"{llama.url}/chat/completions", json=body, timeout=600).json()
    counted = reply["usage"]["prompt_tokens"]
    assert 0 < counted <= p.estimated_tokens


def test_max_tokens_and_stop_are_honoured(
    llama: LlamaServer, library: Library, hits: list[Hit]
) -> None:
    base = events(Answerer(smol(llama.url, vision="false", max_tokens=24), library), hits)
    baseline = base[-1].data["answer"]
    words = baseline.split()
    assert len(words) >= 4, baseline
    short = events(Answerer(smol(llama.url, vision="false", max_tokens=3), library), hits)
    assert short[-1].data["finish_reason"] == "length"
    assert 1 <= sum(e.event == "delta" for e in short) <= 3
    assert baseline.startswith(short[-1].data["answer"])  # temperature 0: the same first tokens
    stop = " " + words[2]
    cut = events(Answerer(smol(llama.url, vision="false", stop=[stop]), library), hits)
    assert cut[-1].data["answer"] == baseline[: baseline.index(stop)]
    assert cut[-1].data["finish_reason"] == "stop"


def test_context_overflow_is_retried_smaller_then_reported(
    llama: LlamaServer, library: Library
) -> None:
    # the gateway believes in a 8192-token window; the server has 2048
    s = smol(llama.url, vision="false", max_context_tokens=8192, text_chars_per_clip=12000)
    s = s.model_copy(update={"max_tokens": 8})
    brief = make_hit("aaaa", 1, 10.0, 20.0, 0.9, speech="the launch code is seven four two")
    huge = make_hit("bbbb", 1, 10.0, 20.0, 0.8, speech="the budget meeting went on " * 400)
    evs = events(Answerer(s, library), [brief, huge])
    done = evs[-1].data
    assert done["model"] == ALIAS and "degraded" not in done
    assert done["adapted"][0].startswith("sent with 1 clip(s) in ")
    assert done["prompt"]["clips"] == 1 and done["prompt"]["estimated_tokens"] < N_CTX
    # a window believed 16 times too large: even half the prompt is 4 times too long, so no
    # answer from the model, and a clear extractive one instead
    s = s.model_copy(update={"max_context_tokens": 32768, "text_chars_per_clip": 80000})
    huger = make_hit("bbbb", 1, 10.0, 20.0, 0.8, speech="the budget meeting went on " * 3000)
    evs = events(Answerer(s, library), [huger, brief])  # the best clip is the long one
    assert "reset" not in [e.event for e in evs]
    done = evs[-1].data
    assert done["model"] == "extractive"
    assert done["degraded"].startswith("lmm_context_overflow: the prompt did not fit")
    assert done["citations"] == [{"video_id": "aaaa", "start_s": 10.0, "end_s": 20.0}]


def test_server_dying_mid_answer_ends_in_a_clear_event(
    tmp_path: Path, library: Library, hits: list[Hit]
) -> None:
    server = LlamaServer(tmp_path).start()  # its own server: this test kills it
    try:
        answerer = Answerer(smol(server.url, vision="false", max_tokens=300), library)

        async def run() -> list[AnswerEvent]:
            out = []
            async for ev in answerer.stream(QUESTION, hits, TITLES):
                out.append(ev)
                if ev.event == "delta" and sum(e.event == "delta" for e in out) == 2:
                    server.kill()
            return out

        evs = asyncio.run(run())
    finally:
        server.stop()
    kinds = [e.event for e in evs]
    assert kinds[:3] == ["hits", "delta", "delta"] and kinds[-1] == "done"
    assert kinds.count("reset") == 1 and kinds.count("done") == 1
    reset = evs[kinds.index("reset")].data["reason"]
    assert reset.startswith("lmm_unavailable: ") and "after the answer began" in reset
    done = evs[-1].data
    assert done["model"] == "extractive" and done["degraded"] == reset
    after = "".join(e.data["text"] for e in evs[kinds.index("reset") :] if e.event == "delta")
    assert after == done["answer"] and "launch code is seven four two" in after
