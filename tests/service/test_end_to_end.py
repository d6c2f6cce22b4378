"""Issue 3, must-holds 1, 2 and the restart part of 3: a real uvicorn gateway and a real Celery
worker process (two pool processes, so the two parts run side by side) against the real Redis on
127.0.0.1:6379, with the job state in SQLite or in PostgreSQL. A real needle video is uploaded
over HTTP, indexed through the chord of parts, and its needles are found through /v1/search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from indexer.part_stages import PART_STAGES
from indexer.pipeline import FINISH_STAGES
from tests.service.checks import clips_complete, findable, needles_found
from tests.service.conftest import Gateway, is_ready, service_env, upload, wait_until, worker
from tests.weights import yolo_weights

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def _progress_was_visible(seen: list[dict[str, Any]]) -> None:
    percents = [b["progress"]["percent"] for b in seen]
    assert percents == sorted(percents), "progress moved back"
    stages = {b["progress"]["stage"] for b in seen}
    assert stages & set(PART_STAGES + FINISH_STAGES), stages
    assert any(0 < p < 100 for p in percents) and percents[-1] == 100
    assert {b["status"] for b in seen} >= {"processing", "ready"}


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_upload_index_search_restart_delete(
    database: str, tmp_path: Path, redis_url: str, needle_video: Any, request: pytest.FixtureRequest
) -> None:
    data = tmp_path / "data"
    extra = {"VIDRAG_BROKER_URL": redis_url}
    if database == "postgres":
        extra["VIDRAG_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    env = service_env(data, **extra)
    gw = Gateway(env).start()
    w = worker(env, concurrency=2).start()
    try:
        with gw.client() as client:
            r = upload(client, needle_video.path, title="Needle haystack", language="en")
            assert r.status_code == 202, r.text
            video = r.json()
            assert video["status"] == "queued" and video["title"] == "Needle haystack"
            vid = video["id"]
            seen: list[dict[str, Any]] = []
            body = wait_until(client, vid, is_ready, 900, (gw, w), seen)
            _progress_was_visible(seen)
            assert body["progress"]["parts_total"] == body["progress"]["parts_done"] == 2
            assert body["error"] is None and body["clip_count"] > 0
            caps = body["capabilities"]
            assert caps["asr"]["ok"] and caps["ocr"]["ok"]
            # detection runs where YOLO weights can be had, else it is off with the reason
            assert caps["detect"]["ok"] == (yolo_weights() is not None), caps["detect"]
            assert caps["detect"]["ok"] or caps["detect"]["reason"]
            assert not caps["frames"]["ok"] and caps["frames"]["reason"]
            clips_complete(data, vid, body["duration_s"], body["clip_count"])
            needles_found(client, vid, needle_video)
            needles_found(client, None, needle_video)  # all ready videos

            # the same bytes again: the existing video, not a second job
            again = upload(client, needle_video.path, title="other")
            assert again.status_code == 200 and again.json()["id"] == vid
            assert again.json()["status"] == "ready"

            # an answer from the evidence, citing the needle's clip; and the same as a stream
            needle = findable(needle_video)[0]
            ask = client.post("/v1/ask", json={"question": needle.query, "video_ids": [vid]})
            assert ask.status_code == 200, ask.text
            a = ask.json()
            assert a["model"] == "extractive" and a["citations"] and a["hits"]
            assert any(
                c["start_s"] < needle.end_s and c["end_s"] > needle.start_s for c in a["citations"]
            )
            with client.stream(
                "POST", "/v1/ask", json={"question": needle.query, "stream": True}
            ) as s:
                assert s.headers["content-type"].startswith("text/event-stream")
                events = [ln[7:] for ln in s.iter_lines() if ln.startswith("event: ")]
            assert events[0] == "hits" and events[-1] == "done" and "delta" in events

            # the player's requests: a range of the file, and a thumbnail
            size = needle_video.path.stat().st_size
            part = client.get(f"/v1/videos/{vid}/media", headers={"Range": "bytes=100-199"})
            assert part.status_code == 206
            assert part.content == needle_video.path.read_bytes()[100:200]
            assert part.headers["content-range"] == f"bytes 100-199/{size}"
            frame = client.get(f"/v1/videos/{vid}/frames/{needle.start_s + 1:.1f}")
            assert frame.status_code == 200 and frame.content[:2] == b"\xff\xd8"

        # a restarted gateway keeps every video and its index
        gw.restart()
        with gw.client() as client:
            listed = client.get("/v1/videos").json()
            assert [v["id"] for v in listed["videos"]] == [vid]
            assert listed["videos"][0]["status"] == "ready"
            needles_found(client, vid, needle_video)

            # delete: the row, the files and the index entries go; searches never see it again
            assert client.delete(f"/v1/videos/{vid}").status_code == 204
            assert client.get(f"/v1/videos/{vid}").status_code == 404
            assert not (data / "videos" / vid).exists()
            hits = client.post("/v1/search", json={"query": needle.query}).json()["hits"]
            assert hits == []
            gone = client.post("/v1/search", json={"query": "x", "video_ids": [vid]})
            assert gone.status_code == 404
    finally:
        w.stop()
        gw.stop()
