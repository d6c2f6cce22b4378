"""Issue 12, must-hold 3: a real gateway and a real one-process Celery worker on Redis. A video
is cancelled while a part is being indexed; the worker terminates that task within a heartbeat
or two (10 s at most), and the same worker then indexes the next upload to ready, whose webhook
receiver (a real local HTTP server) gets exactly one signed `ready` call; the cancelled video is
re-indexed to ready. And a video that failed because a required model would not load is ready
after `reindex` on a worker whose model works."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from indexer.part_stages import PART_STAGES
from tests.service.conftest import Gateway, is_ready, service_env, upload, wait_until, worker
from tests.service.test_webhooks import Receiver

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _in_a_part(body: dict[str, Any]) -> bool:
    return body["status"] == "processing" and body["progress"]["stage"] in PART_STAGES


def _tasks_of(inspector: Any, video_id: str) -> list[str]:
    """The tasks the worker runs now for the video (asked over the broker's control channel)."""
    active = inspector.active() or {}
    return [t["id"] for tasks in active.values() for t in tasks if video_id in str(t["args"])]


def test_cancel_frees_the_worker(
    tmp_path: Path, redis_url: str, needle_video: Any, small_video: Path
) -> None:
    secret = "e2e-secret"
    env = service_env(tmp_path / "data", VIDRAG_BROKER_URL=redis_url, VIDRAG_WEBHOOK_SECRET=secret)
    receiver = Receiver()
    control = Celery(broker=redis_url)
    inspector = control.control.inspect(timeout=1.0)
    gw = Gateway(env).start()
    w = worker(env, concurrency=1).start()
    try:
        with gw.client() as client:
            vid = upload(client, needle_video.path, title="to cancel").json()["id"]
            wait_until(client, vid, _in_a_part, 600, (gw, w))
            deadline = time.monotonic() + 60.0
            while not _tasks_of(inspector, vid):  # a part runs (not the gap between two)
                assert time.monotonic() < deadline, "the inspection sees no running task"
                time.sleep(0.2)
            r = client.post(f"/v1/videos/{vid}/cancel")
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "failed" and r.json()["error"]["type"] == "cancelled"
            # the worker runs no task of the cancelled video any more (stopped at its next
            # progress write, or terminated by the worker's heartbeat), within 10 s
            deadline = time.monotonic() + 10.0
            while _tasks_of(inspector, vid):
                assert time.monotonic() < deadline, "the cancelled task still runs\n" + w.tail()
                time.sleep(0.2)
            # the one pool process is free again: the next video is indexed
            other = upload(client, small_video, title="next", webhook_url=receiver.url).json()["id"]
            wait_until(client, other, is_ready, 600, (gw, w))
            # the gateway's sweep (every 2 s here) delivers the event
            wait_until(
                client, other, lambda b: [d["status"] for d in b["webhooks"]] == ["delivered"], 60
            )
            assert len(receiver.calls) == 1
            headers, raw = receiver.calls[0]
            sig = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
            assert headers["x-vidrag-signature"] == f"sha256={sig}"
            event = json.loads(raw)
            assert event["event"] == "video.ready" and event["video"]["id"] == other
            # and the cancelled one stayed cancelled (its redelivered task did nothing)
            body = client.get(f"/v1/videos/{vid}").json()
            assert body["status"] == "failed" and body["error"]["type"] == "cancelled"
            # re-index resumes it from its stored source
            assert client.post(f"/v1/videos/{vid}/reindex").status_code == 202
            done = wait_until(client, vid, is_ready, 600, (gw, w))
            assert done["clip_count"] > 0 and done["error"] is None
            assert len(receiver.calls) == 1  # still exactly one: nothing was sent twice
    finally:
        w.stop()
        gw.stop()
        receiver.close()
        control.close()


def test_a_failed_video_is_ready_after_reindex_with_a_working_model(
    tmp_path: Path, redis_url: str, small_video: Path
) -> None:
    """Speech is required (`VIDRAG_REQUIRE=asr`) and the first worker's Whisper will not load:
    the video fails with `model_unavailable`. A worker with a working model then re-indexes it
    to ready on `reindex`, with speech."""
    broken = tmp_path / "broken-whisper"
    broken.mkdir()
    (broken / "model.bin").write_bytes(b"not a model")
    (broken / "config.json").write_text("{}")
    env = service_env(tmp_path / "data", VIDRAG_BROKER_URL=redis_url, VIDRAG_REQUIRE="asr")
    bad_env = {**env, "VIDRAG_ASR__BACKEND": "faster-whisper", "VIDRAG_ASR__MODEL": str(broken)}
    gw = Gateway(env).start()
    w = worker(bad_env).start()
    try:
        with gw.client() as client:
            vid = upload(client, small_video, title="needs speech").json()["id"]
            failed = wait_until(client, vid, lambda b: b["status"] == "failed", 600, (gw, w))
            assert failed["error"]["type"] == "model_unavailable", failed
            assert "asr is required" in failed["error"]["message"], failed
            w.stop()
            w = worker(env).start()
            assert client.post(f"/v1/videos/{vid}/reindex").status_code == 202
            done = wait_until(client, vid, is_ready, 600, (gw, w))
            assert done["error"] is None and done["clip_count"] > 0
            assert done["capabilities"]["asr"]["ok"], done["capabilities"]
    finally:
        w.stop()
        gw.stop()


def test_a_part_past_its_time_limit_is_killed_and_fails_typed(
    tmp_path: Path, redis_url: str, small_video: Path
) -> None:
    """A 1-s limit on a part that needs longer (its first run loads Whisper): the pool kills the
    task with its process and starts a fresh one, and the video fails as `time_limit_exceeded`
    (not a generic error, and not a worker that runs on forever); the worker itself lives on.
    No retry: a process interrupted mid-import (Celery's soft limit did that to torch) is not
    safe to reuse, so the limit is a hard one."""
    env = service_env(
        tmp_path / "data",
        VIDRAG_BROKER_URL=redis_url,
        VIDRAG_JOBS__PART_TIME_LIMIT_S="1",
        VIDRAG_JOBS__RETRY_BACKOFF_S="0.5",
    )
    gw = Gateway(env).start()
    w = worker(env).start()
    try:
        with gw.client() as client:
            vid = upload(client, small_video, title="too slow").json()["id"]
            failed = wait_until(client, vid, lambda b: b["status"] == "failed", 600, (gw, w))
            assert failed["error"]["type"] == "time_limit_exceeded", failed
            assert "time limit of 1" in failed["error"]["message"], failed
        assert w.alive() and "Hard time limit (1" in w.tail(400), w.tail()
    finally:
        w.stop()
        gw.stop()
