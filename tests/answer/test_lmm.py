"""The LMM client against a real HTTP server on loopback that speaks vLLM's OpenAI protocol."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from app.answer.lmm import (
    LMMBadResponse,
    LMMClient,
    LMMContextOverflow,
    LMMEmptyStream,
    LMMError,
    LMMImagesRefused,
    LMMTimeout,
    LMMUnavailable,
    StreamInfo,
    parse_chunk,
    retry_after_seconds,
)
from app.answer.settings import LMMSettings
from tests.answer.fakes import MODEL, FakeVLLM, Reply, chunk, error_reply, stream_reply

REQUEST = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 64}


def client(*urls: str, **kw: Any) -> LMMClient:
    values: dict[str, Any] = dict(
        base_urls=list(urls),
        model=MODEL,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
        connect_timeout_s=1.0,
        read_timeout_s=5.0,
        total_timeout_s=10.0,
        retries=2,
    )
    values.update(kw)
    return LMMClient(LMMSettings(**values))


def collect(
    c: LMMClient, request: dict[str, Any] = REQUEST, info: StreamInfo | None = None
) -> list[str]:
    async def run() -> list[str]:
        return [t async for t in c.stream_chat(request, info)]

    return asyncio.run(run())


def test_streams_deltas_and_sends_the_request(fake_vllm: FakeVLLM) -> None:
    fake_vllm.script.append(stream_reply("The code ", "is 742 ", "[00:12:35]."))
    c = client(fake_vllm.url, api_key="k-123")
    assert collect(c) == ["The code ", "is 742 ", "[00:12:35]."]
    (req,) = fake_vllm.requests
    assert req.path == "/v1/chat/completions"
    assert req.body == {**REQUEST, "stream": True, "stream_options": {"include_usage": True}}
    assert req.headers["authorization"] == "Bearer k-123"
    assert req.headers["content-type"] == "application/json"
    fake_vllm.script.append(stream_reply("ok"))
    collect(client(fake_vllm.url, stream_usage=False))
    assert fake_vllm.requests[1].body == {**REQUEST, "stream": True}


def test_usage_and_finish_reason(fake_vllm: FakeVLLM) -> None:
    usage = {"prompt_tokens": 30, "completion_tokens": 2, "total_tokens": 32}
    last = '{"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": %s}'
    fake_vllm.script.append(
        Reply(
            events=[
                chunk("", role="assistant"),
                chunk("a "),
                chunk("b"),
                chunk(finish="length"),
                last % str(usage).replace("'", '"'),
                "[DONE]",
            ]
        )
    )
    info = StreamInfo()
    assert collect(client(fake_vllm.url), info=info) == ["a ", "b"]
    assert (info.finish_reason, info.usage) == ("length", usage)


@pytest.mark.parametrize(
    ("status", "message", "error", "limit"),
    [
        (
            400,
            "This model's maximum context length is 2048 tokens. However, you requested 13925 "
            "tokens (13920 in the messages, 5 in the completion).",
            LMMContextOverflow,
            2048,
        ),
        (
            500,
            "the request exceeds the available context size, try increasing it",
            LMMContextOverflow,
            None,
        ),
        (400, "Qwen/Qwen2.5-7B-Instruct is not a multimodal model", LMMImagesRefused, None),
        (
            500,
            "image input is not supported - hint: if this is unexpected, you may need to "
            "provide the mmproj",
            LMMImagesRefused,
            None,
        ),
    ],
)
def test_refusals_are_named_and_not_retried(
    fake_vllm: FakeVLLM, status: int, message: str, error: type[LMMError], limit: int | None
) -> None:
    fake_vllm.script.append(error_reply(status, message))
    with pytest.raises(error) as e:
        collect(client(fake_vllm.url))
    assert message[:40] in e.value.message and len(fake_vllm.requests) == 1
    assert getattr(e.value, "limit", None) == limit


def test_stream_closed_before_its_first_event(fake_vllm: FakeVLLM) -> None:
    fake_vllm.script.append(Reply(events=[]))  # llama-cpp-python when a request fails
    with pytest.raises(LMMEmptyStream, match="before its first event"):
        collect(client(fake_vllm.url))


def test_429_is_retried_after_retry_after(fake_vllm: FakeVLLM) -> None:
    fake_vllm.script.extend(
        [error_reply(429, "slow down", headers={"Retry-After": "1"}), stream_reply("ok")]
    )
    t0 = time.monotonic()
    assert collect(client(fake_vllm.url)) == ["ok"]
    first, second = fake_vllm.requests
    # the backoff alone would wait at most 0.05 s: the server's 1 s was honoured
    assert 0.95 <= second.at - first.at < 3.0
    assert time.monotonic() - t0 < 4.0


def test_500_is_retried_then_the_next_replica_answers(
    fake_vllm: FakeVLLM, fake_vllm2: FakeVLLM
) -> None:
    fake_vllm.script.extend([error_reply(500), error_reply(503), error_reply(502)])
    fake_vllm2.script.append(stream_reply("from ", "two"))
    assert collect(client(fake_vllm.url, fake_vllm2.url)) == ["from ", "two"]
    assert len(fake_vllm.requests) == 3  # 1 + retries=2
    assert len(fake_vllm2.requests) == 1


def test_refused_connection_fails_over_at_once(dead_url: str, fake_vllm: FakeVLLM) -> None:
    fake_vllm.script.append(stream_reply("up"))
    t0 = time.monotonic()
    assert collect(client(dead_url, fake_vllm.url, backoff_base_s=2.0)) == ["up"]
    assert time.monotonic() - t0 < 1.5  # no backoff spent on a replica that refuses


def test_replicas_take_turns(fake_vllm: FakeVLLM, fake_vllm2: FakeVLLM) -> None:
    fake_vllm.script.append(stream_reply("a"))
    fake_vllm2.script.append(stream_reply("b"))
    c = client(fake_vllm.url, fake_vllm2.url)
    assert collect(c) + collect(c) == ["a", "b"]


def test_all_down_is_unavailable(fake_vllm: FakeVLLM, dead_url: str) -> None:
    fake_vllm.script.extend([error_reply(500)] * 3)
    with pytest.raises(LMMUnavailable) as e:
        collect(client(fake_vllm.url, dead_url))
    assert type(e.value) is LMMUnavailable
    assert "HTTP 500" in e.value.message and "cannot connect" in e.value.message
    assert e.value.status == 503


def test_timeout_is_bounded(fake_vllm: FakeVLLM) -> None:
    fake_vllm.script.extend([Reply(delay_s=5.0, events=["[DONE]"])] * 3)
    c = client(fake_vllm.url, read_timeout_s=0.3, total_timeout_s=1.0)
    t0 = time.monotonic()
    with pytest.raises(LMMTimeout):
        collect(c)
    assert time.monotonic() - t0 < 1.0 + 0.5


def test_deadline_beats_a_long_read_timeout(fake_vllm: FakeVLLM) -> None:
    fake_vllm.script.append(Reply(delay_s=5.0, events=["[DONE]"]))
    c = client(fake_vllm.url, read_timeout_s=30.0, total_timeout_s=0.5)
    t0 = time.monotonic()
    with pytest.raises(LMMTimeout, match=r"no answer within 0\.5s"):
        collect(c)
    assert time.monotonic() - t0 < 0.5 + 0.5
    assert len(fake_vllm.requests) == 1


def test_slow_stream_hits_the_deadline(fake_vllm: FakeVLLM) -> None:
    # every chunk arrives within the read timeout, but the whole answer takes too long
    pieces = ["x"] * 40
    fake_vllm.script.append(stream_reply(*pieces, event_delay_s=0.1))
    c = client(fake_vllm.url, read_timeout_s=1.0, total_timeout_s=1.0)
    got: list[str] = []

    async def run() -> None:
        async for t in c.stream_chat(REQUEST):
            got.append(t)

    t0 = time.monotonic()
    with pytest.raises(LMMTimeout, match="after the answer began"):
        asyncio.run(run())
    assert time.monotonic() - t0 < 1.5
    assert 0 < len(got) < 40


def test_malformed_chunk_is_a_specific_error(fake_vllm: FakeVLLM) -> None:
    fake_vllm.script.append(
        Reply(
            events=[
                chunk("", role="assistant"),
                chunk("ok "),
                '{"choices": [{"delta": {"content": "cut',
                "[DONE]",
            ]
        )
    )
    with pytest.raises(LMMBadResponse, match="not JSON"):
        collect(client(fake_vllm.url))
    assert len(fake_vllm.requests) == 1  # a broken reply is not retried


@pytest.mark.parametrize(
    ("events", "match"),
    [
        ([chunk("a"), chunk(finish="stop")], "without \\[DONE\\]"),
        ([chunk(""), "[DONE]"], "empty answer"),
        (['{"object": "chat.completion.chunk"}', "[DONE]"], "no choices"),
        (['{"choices": [{"delta": {"content": 5}}]}', "[DONE]"], "content"),
        (["[1, 2]", "[DONE]"], "not an object"),
    ],
)
def test_protocol_violations(fake_vllm: FakeVLLM, events: list[str], match: str) -> None:
    fake_vllm.script.append(Reply(events=events))
    with pytest.raises(LMMBadResponse, match=match):
        collect(client(fake_vllm.url))


def test_error_object_in_stream(fake_vllm: FakeVLLM) -> None:
    err = '{"error": {"message": "engine died", "type": "InternalServerError", "code": 500}}'
    fake_vllm.script.append(Reply(events=[chunk("par"), err, "[DONE]"]))
    with pytest.raises(LMMError, match="engine died"):
        collect(client(fake_vllm.url))


def test_json_instead_of_a_stream(fake_vllm: FakeVLLM) -> None:
    fake_vllm.script.append(Reply(body=b'{"choices": []}', content_type="application/json"))
    with pytest.raises(LMMBadResponse, match="event stream"):
        collect(client(fake_vllm.url))


def test_refused_request_is_not_retried(fake_vllm: FakeVLLM, fake_vllm2: FakeVLLM) -> None:
    fake_vllm.script.append(error_reply(400, "At most 12 image(s) may be provided in one prompt."))
    with pytest.raises(LMMError, match="At most 12 image") as e:
        collect(client(fake_vllm.url, fake_vllm2.url))
    assert type(e.value) is LMMError
    assert len(fake_vllm.requests) == 1 and fake_vllm2.requests == []


def test_no_base_url() -> None:
    with pytest.raises(LMMUnavailable, match="no LMM"):
        collect(client())


def test_list_models(fake_vllm: FakeVLLM, dead_url: str) -> None:
    assert asyncio.run(client(dead_url, fake_vllm.url).list_models()) == [MODEL]
    with pytest.raises(LMMUnavailable):
        asyncio.run(client(dead_url).list_models())


def test_parse_chunk_and_retry_after() -> None:
    assert parse_chunk(chunk("hé")) == "hé"
    assert parse_chunk(chunk(role="assistant")) == ""
    assert parse_chunk('{"choices": [], "usage": {"prompt_tokens": 3}}') == ""
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
