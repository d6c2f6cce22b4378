"""`POST /v1/ask` in-process against the loopback LMM double: a slow streamed answer is not cut by
the gateway's body timeout (the request body is long done; only the answer is slow)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import AppSettings
from indexer.settings import TextSettings
from tests.answer.fakes import FakeVLLM, stream_reply
from tests.answer.test_llama_http import VID, make_ready, sse
from tests.answer.test_service import lmm


def test_a_slow_answer_outlasts_the_body_timeout(fake_vllm: FakeVLLM, tmp_path: Path) -> None:
    settings = AppSettings(
        data_dir=tmp_path / "data",
        hf_offline=True,
        warm_up=False,
        requeue_on_start=False,
        body_timeout_s=0.5,
        text=TextSettings(backend="none"),
        lmm=lmm(fake_vllm.url, vision="false"),
    )
    fake_vllm.script.append(stream_reply(*["word "] * 8, "[00:00:25].", event_delay_s=0.25))
    app = create_app(settings)
    with TestClient(app) as client:
        make_ready(app)
        r = client.post("/v1/ask", json={"question": "What is the launch code?", "stream": True})
    evs = sse(r.text)
    assert [k for k, _ in evs].count("delta") == 9 and evs[-1][0] == "done"
    done = evs[-1][1]
    assert done["answer"] == "word " * 8 + "[00:00:25]." and "degraded" not in done
    assert done["citations"] == [{"video_id": VID, "start_s": 20.0, "end_s": 30.0}]
