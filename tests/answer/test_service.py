"""`Answerer`: the LMM answer with citations, and the extractive answer whenever the LMM is not
configured, down, slow or broken — with the hits always returned."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from app.answer.prompt import build_prompt
from app.answer.service import Answerer, AnswerEvent, AnswerResult
from app.answer.settings import LMMSettings
from app.schemas import HitPublic
from indexer.store import Library
from indexer.types import Hit
from tests.answer.fakes import MODEL, TITLES, FakeVLLM, Reply, chunk, error_reply, stream_reply

QUESTION = "What is the launch code?"
ANSWER = (
    "The launch code is 742 [00:12:35], written on screen [Lecture one · 00:12:30–00:12:41]. "
    "It was changed at [01:30:00]."
)


def lmm(*urls: str, **kw: Any) -> LMMSettings:
    values: dict[str, Any] = dict(
        base_urls=list(urls),
        model=MODEL,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
        read_timeout_s=5.0,
        total_timeout_s=10.0,
        max_clips=3,
        frames_per_clip=2,
        max_images=5,
    )
    values.update(kw)
    return LMMSettings(**values)


def ask(answerer: Answerer, hits: list[Hit], **kw: Any) -> AnswerResult:
    return asyncio.run(answerer.answer(QUESTION, hits, TITLES, **kw))


def events(answerer: Answerer, hits: list[Hit]) -> list[AnswerEvent]:
    async def run() -> list[AnswerEvent]:
        return [e async for e in answerer.stream(QUESTION, hits, TITLES)]

    return asyncio.run(run())


def test_lmm_answer_with_citations(fake_vllm: FakeVLLM, library: Library, hits: list[Hit]) -> None:
    fake_vllm.script.append(stream_reply(*ANSWER.split(" ")))
    s = lmm(fake_vllm.url)
    r = ask(Answerer(s, library), hits, timings={"retrieve": 12.5})
    (req,) = fake_vllm.requests
    # exactly the prompt of these hits, streamed
    sent = {**build_prompt(QUESTION, hits, TITLES, library, s).request, "stream": True}
    assert req.body == {**sent, "stream_options": {"include_usage": True}}
    assert r.answer == "".join(ANSWER.split(" "))
    assert r.citations == [{"video_id": "aaaa", "start_s": 750.4, "end_s": 760.6}]
    assert r.dropped_citations == 1  # [01:30:00] is in no clip that was shown
    assert (r.model, r.degraded, r.hits) == (MODEL, None, hits)
    assert set(r.timings_ms) == {"retrieve", "prompt", "first_token", "total"}
    assert r.timings_ms["retrieve"] == 12.5
    assert 0 < r.timings_ms["first_token"] <= r.timings_ms["total"]


def test_stream_events(fake_vllm: FakeVLLM, library: Library, hits: list[Hit]) -> None:
    fake_vllm.script.append(stream_reply("Code 742 ", "[00:12:35]."))
    evs = events(Answerer(lmm(fake_vllm.url), library), hits)
    assert [e.event for e in evs] == ["hits", "delta", "delta", "done"]
    public = [HitPublic.model_validate(h) for h in evs[0].data["hits"]]  # the API's shape
    assert [(h.video_id, h.title, h.clip_index) for h in public] == [
        ("aaaa", "Lecture one", 75),
        ("bbbb", "Board meeting", 1),
        ("aaaa", "Lecture one", 1),
    ]
    assert "frames" not in evs[0].data["hits"][0]
    done = evs[-1].data
    assert "".join(e.data["text"] for e in evs if e.event == "delta") == done["answer"]
    assert done["citations"] == [{"video_id": "aaaa", "start_s": 750.4, "end_s": 760.6}]
    assert done["model"] == MODEL and "degraded" not in done
    sse = evs[-1].sse()
    assert sse.startswith("event: done\ndata: {") and sse.endswith("}\n\n")
    assert json.loads(sse.split("data: ", 1)[1]) == done


def assert_extractive(r: AnswerResult, hits: list[Hit], degraded: str) -> None:
    assert r.model == "extractive"
    assert r.degraded is not None and r.degraded.startswith(degraded)
    assert r.hits == hits
    assert r.answer.startswith("said: “the launch code is seven four two”")  # the matching quote
    assert r.citations == [{"video_id": "aaaa", "start_s": 750.4, "end_s": 760.6}]


def test_no_lmm_configured(library: Library, hits: list[Hit]) -> None:
    r = ask(Answerer(LMMSettings(), library), hits)
    assert_extractive(r, hits, "no_lmm_configured")
    assert set(r.timings_ms) == {"first_token", "total"}


def test_timeout_degrades_within_the_deadline(
    fake_vllm: FakeVLLM, library: Library, hits: list[Hit]
) -> None:
    fake_vllm.script.extend([Reply(delay_s=5.0, events=["[DONE]"])] * 3)
    t0 = time.monotonic()
    r = ask(Answerer(lmm(fake_vllm.url, read_timeout_s=0.4, total_timeout_s=1.0), library), hits)
    # each reply would take 5 s (three retries: 15 s); ending before one reply's delay proves the
    # 1-s deadline cut the wait, with room for a loaded machine (no tight timing here)
    assert time.monotonic() - t0 < 5.0
    assert_extractive(r, hits, "lmm_timeout: ")


def test_failover_then_all_down(
    fake_vllm: FakeVLLM, fake_vllm2: FakeVLLM, library: Library, hits: list[Hit]
) -> None:
    fake_vllm.script.extend([error_reply(500)] * 3)
    fake_vllm2.script.append(stream_reply("Code 742 [00:12:35]."))
    answerer = Answerer(lmm(fake_vllm.url, fake_vllm2.url), library)
    r = ask(answerer, hits)
    assert (r.model, r.degraded, len(fake_vllm.requests)) == (MODEL, None, 3)
    # the next request starts at the second replica: make both fail
    fake_vllm.script.extend([error_reply(503)] * 3)
    fake_vllm2.script.extend([error_reply(500)] * 3)
    assert_extractive(ask(answerer, hits), hits, "lmm_unavailable: ")
    assert len(fake_vllm.requests) == 6 and len(fake_vllm2.requests) == 4


def test_malformed_chunk_mid_answer_resets(
    fake_vllm: FakeVLLM, library: Library, hits: list[Hit]
) -> None:
    fake_vllm.script.append(Reply(events=[chunk("The code ", role="assistant"), "{garbage"]))
    t0 = time.monotonic()
    evs = events(Answerer(lmm(fake_vllm.url), library), hits)
    assert time.monotonic() - t0 < 3.0
    kinds = [e.event for e in evs]
    assert kinds[:3] == ["hits", "delta", "reset"] and kinds[-1] == "done"
    assert evs[1].data == {"text": "The code "}
    assert evs[2].data["reason"].startswith("lmm_bad_response: malformed stream chunk")
    after = "".join(e.data["text"] for e in evs[3:] if e.event == "delta")
    assert after == evs[-1].data["answer"]
    assert evs[-1].data["model"] == "extractive"
    assert evs[-1].data["degraded"] == evs[2].data["reason"]


def test_no_hits_asks_no_model(fake_vllm: FakeVLLM, library: Library) -> None:
    r = ask(Answerer(lmm(fake_vllm.url), library), [])
    assert fake_vllm.requests == []
    assert r.model == "extractive" and r.degraded is None
    assert r.answer.startswith("Nothing in the indexed videos matches") and r.citations == []


def test_readiness(fake_vllm: FakeVLLM, dead_url: str, library: Library) -> None:
    assert asyncio.run(Answerer(LMMSettings(), library).ready())[0] is True
    ok, line = asyncio.run(Answerer(lmm(fake_vllm.url), library).ready())
    assert ok and MODEL in line
    ok, line = asyncio.run(Answerer(lmm(fake_vllm.url, model="other/model"), library).ready())
    assert not ok and "not served" in line
    ok, line = asyncio.run(Answerer(lmm(dead_url), library).ready())
    assert not ok and line.startswith("lmm_unavailable")


def test_client_going_away_closes_the_lmm_request(
    fake_vllm: FakeVLLM, library: Library, hits: list[Hit]
) -> None:
    fake_vllm.script.append(stream_reply(*["word "] * 50, event_delay_s=0.1))
    answerer = Answerer(lmm(fake_vllm.url), library)

    async def run() -> list[str]:
        seen = []
        gen = answerer.stream(QUESTION, hits, TITLES)
        async for ev in gen:
            seen.append(ev.event)
            if ev.event == "delta":
                break
        await gen.aclose()  # what the web server does when the browser goes away
        await asyncio.sleep(0.6)
        return seen

    assert asyncio.run(run()) == ["hits", "delta"]
    assert fake_vllm.disconnects == 1
