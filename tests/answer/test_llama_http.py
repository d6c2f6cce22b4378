"""`POST /v1/ask` over HTTP (the gateway in-process) with a real llama.cpp server behind it: the
whole answer path — retrieval from an indexed video, the prompt, the LMM's streamed answer as
server-sent events, citations of retrieved clips only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import AppSettings
from indexer.catalog import FINISH, part_step
from indexer.settings import TextSettings
from indexer.types import MediaInfo
from tests.answer.llama import ALIAS, LlamaServer
from tests.answer.test_llama_server import smol
from tests.index_helpers import HashEmbedder, add_video

VID = "a1b2c3d4e5f60718"
SPEECH = [
    "welcome to the quarterly planning meeting everyone please take a seat",
    "the new office opens in march on the fourth floor of the harbour building",
    "the launch code for the demo is seven four two and nobody else should know it",
    "thanks everyone the next meeting is on thursday at ten",
]


class Manifest:
    """What the catalog reads of an accepted upload."""

    def __init__(self) -> None:
        self.id, self.sha256, self.title, self.filename = VID, VID * 4, "Planning", "plan.mp4"
        self.media = MediaInfo(
            size_bytes=1000,
            duration_s=40.0,
            container="mp4",
            video_codec="h264",
            width=640,
            height=360,
            fps=25.0,
            has_audio=True,
        )


def make_ready(app: Any) -> None:
    """A video indexed (keyword index and vectors written directly) and marked ready."""
    services = app.state.services
    add_video(services.library, VID, SPEECH, services.settings.index, HashEmbedder())
    catalog = services.catalog
    state, _ = catalog.add_video(Manifest())
    job = state.job_id
    assert catalog.start_job(job) and catalog.set_parts(job, 1) == [0]
    catalog.claim_step(job, part_step(0), "t0", stale_s=600)
    assert catalog.step_done(job, part_step(0), "t0")
    catalog.claim_step(job, FINISH, "t1", stale_s=600)
    assert catalog.mark_ready(job, "t1", {"clip_count": len(SPEECH)})


@pytest.fixture
def client(llama: LlamaServer, tmp_path: Path) -> Iterator[TestClient]:
    settings = AppSettings(
        data_dir=tmp_path / "data",
        hf_offline=True,
        warm_up=False,
        requeue_on_start=False,
        text=TextSettings(backend="none"),  # keyword retrieval is enough here
        lmm=smol(llama.url),
    )
    app = create_app(settings)
    with TestClient(app) as c:
        make_ready(app)
        yield c


def sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((fields["event"], json.loads(fields["data"])))
    return out


def test_ask_streams_the_answer_of_a_real_llm(client: TestClient) -> None:
    r = client.post("/v1/ask", json={"question": "What is the launch code?", "stream": True})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    evs = sse(r.text)
    kinds = [k for k, _ in evs]
    assert kinds[0] == "hits" and kinds[-1] == "done" and "reset" not in kinds
    assert kinds.count("delta") >= 3
    hits = evs[0][1]["hits"]
    assert hits and any("launch code" in e["text"] for e in hits[0]["evidence"])  # retrieved
    done = evs[-1][1]
    assert done["model"] == ALIAS and "degraded" not in done
    assert done["answer"] == "".join(d["text"] for k, d in evs if k == "delta")
    retrieved = {(h["video_id"], h["start_s"], h["end_s"]) for h in hits}
    assert {(c["video_id"], c["start_s"], c["end_s"]) for c in done["citations"]} <= retrieved
    assert done["prompt"]["images"] == 0  # a text-only model: the frames were dropped

    whole = client.post("/v1/ask", json={"question": "When is the next meeting?"}).json()
    assert whole["model"] == ALIAS and whole["degraded"] is None and whole["answer"]
    retrieved = {(h["video_id"], h["start_s"], h["end_s"]) for h in whole["hits"]}
    assert {(c["video_id"], c["start_s"], c["end_s"]) for c in whole["citations"]} <= retrieved
