"""Issue 12, must-hold 3 (cancel): a real gateway and a real one-process Celery worker on Redis.
A video is cancelled while a part is being indexed; the worker terminates that task within a
heartbeat or two (10 s at most), and the same worker then indexes the next upload to ready."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from indexer.pipeline import PART_STAGES
from tests.service.conftest import Gateway, is_ready, service_env, upload, wait_until, worker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _in_a_part(body: dict[str, Any]) -> bool:
    return body["status"] == "processing" and body["progress"]["stage"] in PART_STAGES


def test_cancel_frees_the_worker(
    tmp_path: Path, redis_url: str, needle_video: Any, small_video: Path
) -> None:
    env = service_env(tmp_path / "data", VIDRAG_BROKER_URL=redis_url)
    gw = Gateway(env).start()
    w = worker(env, concurrency=1).start()
    try:
        with gw.client() as client:
            vid = upload(client, needle_video.path, title="to cancel").json()["id"]
            wait_until(client, vid, _in_a_part, 600, (gw, w))
            r = client.post(f"/v1/videos/{vid}/cancel")
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "failed" and r.json()["error"]["type"] == "cancelled"
            deadline = time.monotonic() + 10.0
            while "was cancelled: terminating task" not in w.tail(400):
                assert time.monotonic() < deadline, "the cancelled task still runs\n" + w.tail()
                time.sleep(0.2)
            # the one pool process is free again: the next video is indexed
            other = upload(client, small_video, title="next").json()["id"]
            wait_until(client, other, is_ready, 600, (gw, w))
            # and the cancelled one stayed cancelled (its redelivered task did nothing)
            body = client.get(f"/v1/videos/{vid}").json()
            assert body["status"] == "failed" and body["error"]["type"] == "cancelled"
            # re-index resumes it from its stored source
            assert client.post(f"/v1/videos/{vid}/reindex").status_code == 202
            done = wait_until(client, vid, is_ready, 600, (gw, w))
            assert done["clip_count"] > 0 and done["error"] is None
    finally:
        w.stop()
        gw.stop()
