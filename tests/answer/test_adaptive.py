"""The answer adapts to the server it meets: frames dropped for a text-only model (and remembered),
fewer clips for a small context, a clear extractive fallback when nothing fits; usage and finish
reason reported. Against the loopback double of an OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from app.answer.service import Answerer, AnswerEvent
from indexer.store import Library
from indexer.types import Hit
from tests.answer.fakes import TITLES, FakeVLLM, Reply, chunk, error_reply, stream_reply
from tests.answer.test_service import QUESTION, lmm

NOT_MULTIMODAL = "test/vlm is not a multimodal model"
OVERFLOW = "This model's maximum context length is {n} tokens. However, you requested 9000 tokens"


def events(answerer: Answerer, hits: list[Hit]) -> list[AnswerEvent]:
    async def run() -> list[AnswerEvent]:
        return [e async for e in answerer.stream(QUESTION, hits, TITLES)]

    return asyncio.run(run())


def has_images(body: dict[str, Any]) -> bool:
    return "image_url" in json.dumps(body)


def user_text(body: dict[str, Any]) -> str:
    return str(body["messages"][1]["content"])


def test_text_only_model_is_detected_and_remembered(
    fake_vllm: FakeVLLM, library: Library, hits: list[Hit]
) -> None:
    fake_vllm.script.extend(
        [
            error_reply(400, NOT_MULTIMODAL),
            stream_reply("Code 742 ", "[00:12:35]."),
            stream_reply("again"),
        ]
    )
    answerer = Answerer(lmm(fake_vllm.url), library)
    done = events(answerer, hits)[-1].data
    first, second = (r.body for r in fake_vllm.requests)
    assert has_images(first) and not has_images(second)
    assert isinstance(second["messages"][1]["content"], str)  # text-only: one plain string
    assert "Speech: the launch code is seven four two" in user_text(second)
    assert done["model"] != "extractive" and "degraded" not in done
    assert done["citations"] == [{"video_id": "aaaa", "start_s": 750.4, "end_s": 760.6}]
    assert done["adapted"][0].startswith("sent without frames after:")
    assert done["prompt"]["images"] == 0
    events(answerer, hits)  # the next answer goes text-only at once
    assert len(fake_vllm.requests) == 3 and not has_images(fake_vllm.requests[2].body)


def test_empty_stream_with_frames_is_retried_as_text(
    fake_vllm: FakeVLLM, library: Library, hits: list[Hit]
) -> None:
    # llama-cpp-python: 200, then the stream closes (its chat template cannot render parts)
    fake_vllm.script.extend([Reply(events=[]), stream_reply("fine")])
    answerer = Answerer(lmm(fake_vllm.url), library)
    assert events(answerer, hits)[-1].data["answer"] == "fine"
    assert answerer.asker.traits.vision is False


def test_other_refusals_are_retried_as_text_but_teach_nothing(
    fake_vllm: FakeVLLM, library: Library, hits: list[Hit]
) -> None:
    fake_vllm.script.extend(
        [error_reply(400, "At most 2 image(s) may be provided in one prompt."), stream_reply("ok")]
    )
    answerer = Answerer(lmm(fake_vllm.url), library)
    assert events(answerer, hits)[-1].data["answer"] == "ok"
    assert answerer.asker.traits.vision is None


def test_vision_false_never_sends_frames(
    fake_vllm: FakeVLLM, library: Library, hits: list[Hit]
) -> None:
    fake_vllm.script.append(stream_reply("ok"))
    events(Answerer(lmm(fake_vllm.url, vision="false"), library), hits)
    (req,) = fake_vllm.requests
    assert not has_images(req.body) and "frames" not in req.body["messages"][0]["content"]


def test_vision_true_falls_back_when_refused(
    fake_vllm: FakeVLLM, library: Library, hits: list[Hit]
) -> None:
    fake_vllm.script.append(error_reply(400, NOT_MULTIMODAL))
    done = events(Answerer(lmm(fake_vllm.url, vision="true"), library), hits)[-1].data
    assert len(fake_vllm.requests) == 1
    assert done["model"] == "extractive" and done["degraded"].startswith("lmm_images_refused: ")


def test_context_overflow_is_retried_smaller_and_learned(
    fake_vllm: FakeVLLM, library: Library, hits: list[Hit]
) -> None:
    s = lmm(fake_vllm.url, vision="false", max_tokens=64, max_context_tokens=8192)
    fake_vllm.script.extend(
        [error_reply(400, OVERFLOW.format(n=600)), stream_reply("short"), stream_reply("again")]
    )
    answerer = Answerer(s, library)
    done = events(answerer, hits)[-1].data
    assert done["answer"] == "short" and done["prompt"]["context_tokens"] == 600
    assert done["prompt"]["clips"] == 1  # half of the three clips
    assert done["prompt"]["estimated_tokens"] + 64 <= 600
    assert done["adapted"][0].startswith("sent with 1 clip(s) in 600 tokens after:")
    events(answerer, hits)  # the window the server named is kept
    assert answerer.asker.context_tokens() == 600 and len(fake_vllm.requests) == 3


def test_context_overflow_twice_ends_extractive(
    fake_vllm: FakeVLLM, library: Library, hits: list[Hit]
) -> None:
    fake_vllm.script.extend([error_reply(400, "prompt is too long")] * 2)
    done = events(Answerer(lmm(fake_vllm.url), library), hits)[-1].data
    assert len(fake_vllm.requests) == 2
    assert done["model"] == "extractive" and done["answer"].startswith("said: “the launch code")
    assert done["degraded"].startswith("lmm_context_overflow: the prompt did not fit")


def test_usage_from_the_server_or_estimated(
    fake_vllm: FakeVLLM, library: Library, hits: list[Hit]
) -> None:
    usage = {"prompt_tokens": 900, "completion_tokens": 3, "total_tokens": 903}
    tail = json.dumps({"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": usage})
    fake_vllm.script.append(
        Reply(
            events=[chunk("Code ", role="assistant"), chunk("742", finish="length"), tail, "[DONE]"]
        )
    )
    fake_vllm.script.append(stream_reply("Code 742"))
    answerer = Answerer(lmm(fake_vllm.url), library)
    done = events(answerer, hits)[-1].data
    assert done["usage"] == {**usage, "estimated": False} and done["finish_reason"] == "length"
    done = events(answerer, hits)[-1].data
    assert done["usage"]["estimated"] is True and done["finish_reason"] == "stop"
    assert done["usage"]["prompt_tokens"] == done["prompt"]["estimated_tokens"] > 0
