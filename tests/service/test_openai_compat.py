"""The OpenAI-compatible face through the real `openai` client (sync and async, streaming and
not) against the gateway, over a video indexed with `vidrag index` and the offline models; then
that video's transcript (WebVTT, SRT, JSON; speech and on-screen text) and chapters."""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import webvtt
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import AppSettings
from tests import synth

pytestmark = pytest.mark.slow
QUESTION = "Which gate does flight BA 4022 leave from?"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    data = tmp_path_factory.mktemp("openai") / "data"
    card = synth.save_png(synth.text_card(["FLIGHT BA 4022", "GATE A34"]), "gate-card")
    speech = synth.speech_wav("Passengers for London, please go to the gate shown on the board.")
    video = synth.still_with_speech(card, speech, 12.0)
    env = {**os.environ, "VIDRAG_DATA_DIR": str(data), "VIDRAG_HF_OFFLINE": "true"}
    env["VIDRAG_DETECT__BACKEND"] = "none"  # objects play no part here; keeps the test short
    cli = Path(sys.executable).with_name("vidrag")
    p = subprocess.run([str(cli), "index", str(video)], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    settings = AppSettings(
        data_dir=data, hf_offline=True, warm_up=False, detect={"backend": "none"}
    )
    with TestClient(create_app(settings)) as client:
        ids = [v["id"] for v in client.get("/v1/videos").json()["videos"]]
        assert len(ids) == 1, "the video indexed by the CLI is in the service's library"
        yield client, ids[0]


def _client(gateway: tuple[TestClient, str]) -> openai.OpenAI:
    http, _ = gateway
    return openai.OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=http)


def test_models_list_names_the_answer_modes(gateway: Any) -> None:
    models = _client(gateway).models.list()
    assert [m.id for m in models.data] == ["extractive"]  # no LMM configured here
    assert all(m.object == "model" for m in models.data)


def test_chat_completion_answers_with_citations(gateway: Any) -> None:
    _, video_id = gateway
    r = _client(gateway).chat.completions.create(
        model="extractive",
        messages=[{"role": "user", "content": QUESTION}],
        extra_body={"video_ids": [video_id], "top_k": 3},
    )
    text = r.choices[0].message.content or ""
    assert "A34" in text and r.choices[0].finish_reason == "stop"
    citations = r.model_extra["citations"]  # type: ignore[index]
    assert citations and citations[0]["video_id"] == video_id
    # the citation's [hh:mm:ss] mark stands in the text (extractive spans: [hh:mm:ss–hh:mm:ss])
    assert citations[0]["mark"].rstrip("]") in text
    assert r.usage and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_streamed_chat_completion_ends_with_citations(gateway: Any) -> None:
    stream = _client(gateway).chat.completions.create(
        model="extractive", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "A34" in text
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra and last.model_extra["citations"]


def test_async_client_streams_too(gateway: Any) -> None:
    http, _ = gateway

    async def run() -> str:
        transport = httpx.ASGITransport(app=http.app)  # the app already started by the fixture
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as h:
            client = openai.AsyncOpenAI(base_url="http://testserver/v1", api_key="x", http_client=h)
            stream = await client.chat.completions.create(
                model="extractive", messages=[{"role": "user", "content": QUESTION}], stream=True
            )
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    # a loop of its own in its own thread: an earlier test (the browser's sync API) may leave
    # one running in this thread
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert "A34" in pool.submit(asyncio.run, run()).result(timeout=300)


def test_bad_requests_raise_openai_errors(gateway: Any) -> None:
    client = _client(gateway)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="extractive", messages=[])
    assert e.value.body and e.value.body["type"] == "validation_error"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="extractive", messages=[{"role": "assistant", "content": "hi"}]
        )
    with pytest.raises(openai.NotFoundError) as nf:
        client.chat.completions.create(
            model="gpt-nothing", messages=[{"role": "user", "content": QUESTION}]
        )
    assert nf.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="extractive",
            messages=[{"role": "user", "content": QUESTION}],
            extra_body={"video_ids": ["nosuchvideo"]},
        )


# --- transcripts and chapters of the same video --------------------------------------------------
def test_transcript_vtt_validates_and_its_cues_match_the_speech(gateway: Any) -> None:
    http, video_id = gateway
    r = http.get(f"/v1/videos/{video_id}/transcript", params={"format": "vtt"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/vtt")
    captions = webvtt.from_buffer(io.StringIO(r.text)).captions  # raises on invalid WebVTT
    spoken = " ".join(c.text for c in captions).lower()
    assert "london" in spoken and "gate" in spoken
    # the sentence is spoken from 0 s for about 4 s of the 12-s video
    assert captions[0].start_in_seconds < 1.5 and captions[-1].end_in_seconds < 8.0
    doc = http.get(f"/v1/videos/{video_id}/transcript").json()
    assert doc["language"] == "en" and doc["cues"][0]["words"]
    srt_text = http.get(f"/v1/videos/{video_id}/transcript?format=srt").text
    assert srt_text.startswith("1\n00:00:0")
    ocr = http.get(f"/v1/videos/{video_id}/transcript?track=ocr").json()
    assert any("A34" in c["text"] for c in ocr["cues"])


def test_chapters_cover_the_video_without_overlap(gateway: Any) -> None:
    http, video_id = gateway
    duration = http.get(f"/v1/videos/{video_id}").json()["duration_s"]
    chapters = http.get(f"/v1/videos/{video_id}/chapters").json()["chapters"]
    assert chapters[0]["start_s"] == 0.0 and chapters[-1]["end_s"] >= duration - 0.05
    assert all(a["end_s"] == b["start_s"] for a, b in itertools.pairwise(chapters))
