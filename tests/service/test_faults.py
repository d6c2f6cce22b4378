"""Issue 3, must-hold 3: faults mid-ingest lose nothing.

- the worker is SIGKILLed (its whole process group: no warm shutdown, no requeue) while a part
  is running, and a new worker is started: the dead step's heartbeat stops, the gateway's sweep
  re-enqueues the job, and the video completes with every clip exactly once;
- Redis is flushed (queues, unacked messages and chord counters gone) while a part is running,
  and the gateway is restarted: it re-enqueues the unfinished job from the database row;
- the same without a restart: the gateway's sweep sees a job in which nothing happens while the
  queues are empty, and sends it again (issue 13: faults heal without a person);
- a job's message is lost before any worker took it (uploaded while no worker runs, the queue
  flushed, then a worker starts): the sweep sends it again."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import redis

from tests import synth
from tests.service.checks import clips_complete, needles_indexed, searchable
from tests.service.conftest import Gateway, is_ready, service_env, upload, wait_until, worker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]
EXTRACTING = {"speech", "ocr", "objects"}


def _mid_part(body: dict[str, Any]) -> bool:
    """A part is past decoding and inside an extractor, and no part is finished yet."""
    p = body["progress"]
    return body["status"] == "processing" and p["stage"] in EXTRACTING and p["parts_done"] == 0


def test_killed_worker_is_replaced_without_losing_the_video(
    tmp_path: Path, redis_url: str, needle_video: Any
) -> None:
    data = tmp_path / "data"
    env = service_env(data, VIDRAG_BROKER_URL=redis_url)
    for timing in ("STALE_AFTER_S", "HEARTBEAT_S", "SWEEP_S"):  # the defaults, as deployed
        del env[f"VIDRAG_JOBS__{timing}"]
    gw = Gateway(env).start()
    first = worker(env).start()
    second = worker(env)
    try:
        with gw.client() as client:
            vid = upload(client, needle_video.path).json()["id"]
            wait_until(client, vid, _mid_part, 600, (gw, first))
            first.kill()
            killed = time.monotonic()
            assert not first.alive()
            second.start()
            # issue 13: the gateway notices the death within 30 s (25 s stale + a 5-s sweep)
            while "a step stopped beating" not in gw.tail(400):
                assert time.monotonic() - killed < 31, gw.tail()
                time.sleep(0.25)
            body = wait_until(client, vid, is_ready, 900, (gw, second))
            assert body["progress"]["parts_done"] == 2
            assert body["attempts"] >= 2  # the job was planned again after the death
            clips_complete(data, vid, body["duration_s"], body["clip_count"])
            needles_indexed(data, vid, needle_video)
            searchable(client, vid, needle_video)
    finally:
        first.kill()
        second.stop()
        gw.stop()


def test_flushed_broker_and_restarted_gateway_lose_nothing(
    tmp_path: Path, redis_url: str, needle_video: Any
) -> None:
    data = tmp_path / "data"
    env = service_env(data, VIDRAG_BROKER_URL=redis_url)
    gw = Gateway(env).start()
    w = worker(env).start()
    try:
        with gw.client() as client:
            vid = upload(client, needle_video.path).json()["id"]
            wait_until(client, vid, _mid_part, 600, (gw, w))
        broker = redis.Redis.from_url(redis_url)
        assert broker.dbsize() > 0
        broker.flushdb()
        gw.restart()
        with gw.client() as client:
            body = wait_until(client, vid, is_ready, 900, (gw, w))
            assert body["progress"]["parts_done"] == 2
            clips_complete(data, vid, body["duration_s"], body["clip_count"])
            needles_indexed(data, vid, needle_video)
            searchable(client, vid, needle_video)
    finally:
        w.stop()
        gw.stop()


def test_flushed_broker_heals_without_a_restart(
    tmp_path: Path, redis_url: str, needle_video: Any
) -> None:
    data = tmp_path / "data"
    env = service_env(data, VIDRAG_BROKER_URL=redis_url, VIDRAG_JOBS__RESEND_AFTER_S="10")
    gw = Gateway(env).start()
    w = worker(env).start()
    try:
        with gw.client() as client:
            vid = upload(client, needle_video.path).json()["id"]
            wait_until(client, vid, _mid_part, 600, (gw, w))
            redis.Redis.from_url(redis_url).flushdb()
            body = wait_until(client, vid, is_ready, 900, (gw, w))
            assert body["progress"]["parts_done"] == 2
            clips_complete(data, vid, body["duration_s"], body["clip_count"])
            searchable(client, vid, needle_video)
    finally:
        w.stop()
        gw.stop()


def test_a_message_lost_before_any_worker_took_it_is_sent_again(
    tmp_path: Path, redis_url: str, small_video: Path
) -> None:
    env = service_env(
        tmp_path / "data", VIDRAG_BROKER_URL=redis_url, VIDRAG_JOBS__RESEND_AFTER_S="5"
    )
    gw = Gateway(env).start()
    w = worker(env)
    try:
        with gw.client() as client:
            vid = upload(client, small_video).json()["id"]
            broker = redis.Redis.from_url(redis_url)
            assert broker.llen(f"{env['VIDRAG_QUEUE_PREFIX']}.cpu") == 1  # the job's message
            broker.flushdb()
            w.start()
            body = wait_until(client, vid, is_ready, 600, (gw, w))
            assert body["clip_count"] > 0 and body["error"] is None
    finally:
        w.stop()
        gw.stop()


LIBRARY = [
    ("zidane.jpg", "The harbour bridge opens to traffic on the first of June."),
    ("bus.jpg", "Our quarterly budget grew by eleven percent this spring."),
    ("zidane.jpg", "Tomorrow the orchestra plays Sibelius in the old cathedral."),
]


def test_a_damaged_index_is_rebuilt_while_the_library_answers(
    tmp_path: Path, redis_url: str
) -> None:
    """Issue 13, must-hold 2: three ready videos, one index truncated on disk, the gateway
    restarted (it loads the indexes anew). A library-wide search answers 200 from the other two
    at once, and the gateway's sweep re-indexes the damaged one from its source: it is ready
    and searchable again within a bounded time, without a restart by hand."""
    data = tmp_path / "data"
    env = service_env(data, VIDRAG_BROKER_URL=redis_url)
    videos = [
        synth.still_with_speech(
            synth.ultralytics_asset(image), synth.speech_wav(text), synth.SMALL_VIDEO_S
        )
        for image, text in LIBRARY
    ]
    gw = Gateway(env).start()
    w = worker(env).start()
    try:
        with gw.client() as client:
            ids = [upload(client, v).json()["id"] for v in videos]
            for vid in ids:
                wait_until(client, vid, is_ready, 600, (gw, w))
        damaged = ids[1]
        index_dir = data / "videos" / damaged / "index"
        npz = next(index_dir.glob("*/index.npz"))
        npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
        gw.restart()
        with gw.client() as client:
            r = client.post("/v1/search", json={"query": "harbour bridge orchestra", "top_k": 10})
            assert r.status_code == 200, r.text
            found = {h["video_id"] for h in r.json()["hits"]}
            assert found and damaged not in found and found <= {ids[0], ids[2]}
            # the video says why it is not searched (issue 11, must-hold 1)
            search = client.get(f"/v1/videos/{damaged}").json()["search"]
            assert search["state"] == "failed" and search["reason"], search
            assert client.get(f"/v1/videos/{ids[0]}").json()["search"]["state"] == "loaded"
            # the sweep (every 2 s here) re-indexes it; then it answers again
            deadline = time.monotonic() + 300
            while True:
                body = client.get(f"/v1/videos/{damaged}").json()
                r = client.post(
                    "/v1/search",
                    json={"query": "quarterly budget", "video_ids": [damaged], "top_k": 3},
                )
                if body["status"] == "ready" and r.status_code == 200 and r.json()["hits"]:
                    break
                assert body["status"] != "failed", body
                assert time.monotonic() < deadline, (body, r.text, gw.tail())
                time.sleep(1.0)
            assert body["attempts"] >= 2  # it was indexed again
            assert "budget" in " ".join(e["text"] for e in r.json()["hits"][0]["evidence"])
    finally:
        w.stop()
        gw.stop()
