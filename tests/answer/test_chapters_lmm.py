"""Chapters titled by a language model: the offline boundaries stay, the model's titles and
summary replace the offline ones; a model that is down leaves the offline chapters and says why;
the result is cached per model and indexing. Against the loopback vLLM double (what is sent and
parsed) and against the real llama.cpp server with SmolLM2 (the protocol, not the titles'
wisdom)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from app.answer.chapters import parse
from app.answer.settings import LMMSettings
from app.main import create_app
from app.settings import AppSettings
from indexer.chapters import Chapter
from indexer.settings import TextSettings
from tests.answer.fakes import FakeVLLM, error_reply, stream_reply
from tests.answer.llama import ALIAS, LlamaServer
from tests.answer.test_llama_http import SPEECH, VID, make_ready
from tests.answer.test_llama_server import smol
from tests.answer.test_service import lmm
from tests.index_helpers import clip_docs

OFFLINE = [Chapter(title="planning meeting", start_s=0.0, end_s=20.0),
           Chapter(title="launch code", start_s=20.0, end_s=40.0)]  # fmt: skip


def test_parse_takes_numbered_titles_and_the_summary() -> None:
    text = (
        'Here are the titles:\n1. **Welcome and the new office**\nChapter 2: "The demo\'s code"\n'
        "2. a second title for 2 is ignored\nSummary: A planning meeting.\nIt ends on Thursday."
    )
    found, summary = parse(text, OFFLINE)
    assert [c.title for c in found] == ["Welcome and the new office", "The demo's code"]
    assert [(c.start_s, c.end_s) for c in found] == [(0.0, 20.0), (20.0, 40.0)]
    assert summary == "A planning meeting. It ends on Thursday."


def test_parse_keeps_offline_titles_the_model_left_out() -> None:
    found, summary = parse("1. Welcome\n7. no such chapter", OFFLINE)
    assert [c.title for c in found] == ["Welcome", "launch code"] and summary is None


def _app(tmp_path: Path, model: LMMSettings) -> Any:
    settings = AppSettings(
        data_dir=tmp_path / "data",
        hf_offline=True,
        warm_up=False,
        requeue_on_start=False,
        text=TextSettings(backend="none"),
        lmm=model,
    )
    return create_app(settings)


def _ready(app: Any) -> None:
    """The test video, ready, with the clips file the chapters are read from."""
    make_ready(app)
    app.state.services.library.store(VID).write_jsonl("clips.jsonl", clip_docs(SPEECH))


def test_chapters_titled_by_the_lmm_once(fake_vllm: FakeVLLM, tmp_path: Path) -> None:
    app = _app(tmp_path, lmm(fake_vllm.url, vision="false"))
    with TestClient(app) as client:
        _ready(app)
        offline = client.get(f"/v1/videos/{VID}/chapters?source=offline").json()
        assert offline["source"] == "offline" and offline["summary"] is None
        n = len(offline["chapters"])
        titles = "".join(f"{i}. Title {i}\n" for i in range(1, n + 1))
        fake_vllm.script.append(stream_reply(titles, "Summary: A meeting about an office."))
        body = client.get(f"/v1/videos/{VID}/chapters").json()
        again = client.get(f"/v1/videos/{VID}/chapters").json()
    assert body["source"] == "lmm" and body["degraded"] is None, body
    assert [c["title"] for c in body["chapters"]] == [f"Title {i}" for i in range(1, n + 1)]
    same = [(c["start_s"], c["end_s"]) for c in body["chapters"]]
    assert same == [(c["start_s"], c["end_s"]) for c in offline["chapters"]]
    assert body["summary"] == "A meeting about an office." and again == body
    assert len(fake_vllm.requests) == 1  # the second read came from the cache
    prompt = fake_vllm.requests[0].body["messages"][-1]["content"]
    assert "launch code" in prompt and "[00:00:00-" in prompt, prompt  # each chapter's text


def test_chapters_stay_offline_when_the_lmm_is_down(fake_vllm: FakeVLLM, tmp_path: Path) -> None:
    app = _app(tmp_path, lmm(fake_vllm.url, vision="false", retries=0))
    fake_vllm.script.append(error_reply(500, "model crashed"))
    with TestClient(app) as client:
        _ready(app)
        body = client.get(f"/v1/videos/{VID}/chapters").json()
    assert body["source"] == "offline" and body["summary"] is None
    assert "model crashed" in body["degraded"] or "500" in body["degraded"], body
    assert body["chapters"][0]["start_s"] == 0.0


def test_chapters_from_a_real_llama_server(llama: LlamaServer, tmp_path: Path) -> None:
    app = _app(tmp_path, smol(llama.url))
    with TestClient(app) as client:
        _ready(app)
        body = client.get(f"/v1/videos/{VID}/chapters").json()
    # a 135M model's titles are poor; what must hold is the protocol: it answered, the
    # answer was parsed into titles over the offline boundaries, and nothing was left empty
    assert body["source"] == "lmm" and body["model"] == ALIAS, body
    assert body["chapters"] and all(c["title"].strip() for c in body["chapters"])
    assert body["chapters"][0]["start_s"] == 0.0 and body["chapters"][-1]["end_s"] == 40.0
