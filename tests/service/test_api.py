"""The gateway in-process (no worker): uploads are stored, catalogued and enqueued by task name;
the player's endpoints; delete; start-up recovery; a broker that is down loses no upload."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import AppSettings
from tests.synth import SMALL_VIDEO_S
from tests.weights import detect_settings


def _settings(data: Path, **kw: Any) -> AppSettings:
    return AppSettings(
        data_dir=data,
        hf_offline=True,
        warm_up=False,
        detect=detect_settings(),
        **kw,
    )


def _queued_tasks(data: Path) -> list[tuple[str, list[Any]]]:
    """The task messages waiting in the embedded broker: (task name, args)."""
    out = []
    for f in sorted((data / "broker" / "queue").glob("*.msg")):
        msg = json.loads(f.read_text())
        body = json.loads(__import__("base64").b64decode(msg["body"]))
        out.append((msg["headers"]["task"], body[0]))
    return out


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path / "data"))) as c:
        yield c


def _upload(client: TestClient, path: Path, **data: str) -> Any:
    with path.open("rb") as f:
        return client.post("/v1/videos", files={"file": (path.name, f, "video/mp4")}, data=data)


def test_upload_is_stored_catalogued_and_enqueued(
    client: TestClient, tmp_path: Path, small_video: Path
) -> None:
    data = tmp_path / "data"
    r = _upload(client, small_video, title="The evening news", language="en")
    assert r.status_code == 202, r.text
    v = r.json()
    assert r.headers["location"] == f"/v1/videos/{v['id']}"
    assert v["status"] == "queued" and v["progress"] == {
        "stage": "queued",
        "percent": 0.0,
        "parts_done": 0,
        "parts_total": 0,
    }
    assert v["title"] == "The evening news" and v["language"] == "en"
    assert v["filename"] == small_video.name and abs(v["duration_s"] - SMALL_VIDEO_S) < 0.1
    assert (data / "videos" / v["id"] / "source.mp4").read_bytes() == small_video.read_bytes()
    assert _queued_tasks(data) == [("vidrag.prepare", [v["id"], 1])]

    again = _upload(client, small_video, title="another title")
    assert again.status_code == 200 and again.json()["id"] == v["id"]
    assert again.json()["title"] == "The evening news"
    assert len(_queued_tasks(data)) == 1  # no second job for the same bytes

    listed = client.get("/v1/videos").json()
    assert listed["total"] == 1 and listed["videos"][0]["id"] == v["id"]
    assert client.get(f"/v1/videos/{v['id']}").json()["status"] == "queued"
    assert not any((data / "tmp").iterdir())


def test_media_ranges_frames_and_delete(
    client: TestClient, tmp_path: Path, small_video: Path
) -> None:
    vid = _upload(client, small_video).json()["id"]
    raw = small_video.read_bytes()
    full = client.get(f"/v1/videos/{vid}/media")
    assert full.status_code == 200 and full.content == raw
    assert full.headers["content-type"] == "video/mp4" and full.headers["accept-ranges"] == "bytes"
    part = client.get(f"/v1/videos/{vid}/media", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == raw[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(raw)}"
    tail = client.get(f"/v1/videos/{vid}/media", headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == raw[-100:]

    frame = client.get(f"/v1/videos/{vid}/frames/4.5")
    assert frame.status_code == 200 and frame.headers["content-type"] == "image/jpeg"
    assert frame.content[:3] == b"\xff\xd8\xff" and len(frame.content) > 1000

    assert client.delete(f"/v1/videos/{vid}").status_code == 204
    assert client.get(f"/v1/videos/{vid}").status_code == 404
    assert client.get(f"/v1/videos/{vid}/media").status_code == 404
    assert not (tmp_path / "data" / "videos" / vid).exists()
    assert client.get("/v1/videos").json()["total"] == 0


def test_unfinished_jobs_are_enqueued_again_at_start_up(tmp_path: Path, small_video: Path) -> None:
    data = tmp_path / "data"
    with TestClient(create_app(_settings(data))) as c:
        vid = _upload(c, small_video).json()["id"]
    for f in (data / "broker" / "queue").glob("*.msg"):
        f.unlink()  # the broker lost its queue
    with TestClient(create_app(_settings(data))) as c:
        assert c.get(f"/v1/videos/{vid}").json()["status"] == "queued"
    assert _queued_tasks(data) == [("vidrag.prepare", [vid, 1])]


def test_a_broker_that_is_down_loses_no_upload(tmp_path: Path, small_video: Path) -> None:
    data = tmp_path / "data"
    down = _settings(data, broker_url="redis://127.0.0.1:1/0")  # nothing listens on port 1
    with TestClient(create_app(down)) as c:
        r = _upload(c, small_video)
        assert r.status_code == 202 and r.json()["status"] == "queued"
        ready = c.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "not_ready"
        assert ready.json()["checks"]["broker"].startswith("error")
        assert ready.json()["checks"]["database"] == "ok"
    # the job stays in the database, not dispatched; a gateway with a working broker sends it
    with TestClient(create_app(_settings(data))) as c:
        assert c.get("/v1/videos").json()["total"] == 1
    assert _queued_tasks(data) == [("vidrag.prepare", [r.json()["id"], 1])]


def test_openapi_documents_every_v1_endpoint(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = {(p, m) for p, ops in spec["paths"].items() for m in ops}
    assert paths >= {
        ("/v1/videos", "post"),
        ("/v1/videos", "get"),
        ("/v1/videos/{video_id}", "get"),
        ("/v1/videos/{video_id}", "delete"),
        ("/v1/videos/{video_id}/media", "get"),
        ("/v1/videos/{video_id}/frames/{t}", "get"),
        ("/v1/search", "post"),
        ("/v1/ask", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    }
    upload = spec["paths"]["/v1/videos"]["post"]["requestBody"]["content"]
    assert set(upload) == {"multipart/form-data", "application/json"}
    assert "ErrorResponse" in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 200
