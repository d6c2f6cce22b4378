"""Issue 13, must-hold 4: API keys map to tenants, on PostgreSQL. Each tenant sees, counts,
searches, plays and deletes only its own videos; another tenant's video is a 404 everywhere (as
if it did not exist); the same bytes uploaded by two tenants are two videos (dedupe is per
tenant, so uploading bytes never reveals another tenant's title)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import AppSettings
from indexer.catalog import FINISH, part_step
from tests.conftest import detect_settings

ALICE, BOB = {"Authorization": "Bearer key-a"}, {"Authorization": "Bearer key-b"}


@pytest.fixture
def app(tmp_path: Path, postgres_url: str) -> Iterator[Any]:
    settings = AppSettings(
        data_dir=tmp_path / "data",
        database_url=postgres_url,
        api_keys=["alice:key-a", "bob:key-b"],
        warm_up=False,
        requeue_on_start=False,
        hf_offline=True,
        detect=detect_settings(),
        frames={"backend": "none"},  # type: ignore[arg-type]
    )
    yield create_app(settings)


def _index_and_mark_ready(app: Any, vid: str) -> None:
    """Index the upload in this process (no worker runs here) and close its job as a worker
    would."""
    services = app.state.services
    store = services.library.store(vid)
    services.indexer.run(store)
    catalog, job = services.catalog, services.catalog.get(vid).job_id
    assert catalog.start_job(job)
    parts = catalog.set_parts(job, len(services.indexer.plan(store)))
    for k in parts:
        catalog.claim_step(job, part_step(k), "t", stale_s=600)
        assert catalog.step_done(job, part_step(k), "t")
    catalog.claim_step(job, FINISH, "t", stale_s=600)
    assert catalog.mark_ready(job, "t", {"clip_count": 1})


def _upload(client: TestClient, path: Path, headers: dict[str, str]) -> Any:
    with path.open("rb") as f:
        return client.post(
            "/v1/videos", files={"file": ("news.mp4", f, "video/mp4")}, headers=headers
        )


def test_tenants_see_only_their_own_videos(app: Any, small_video: Path) -> None:
    with TestClient(app) as client:
        assert client.get("/v1/videos").status_code == 401
        a = _upload(client, small_video, ALICE)
        assert a.status_code == 202, a.text
        a_id = a.json()["id"]
        client.patch(f"/v1/videos/{a_id}", json={"title": "Alice's secret"}, headers=ALICE)
        # the same bytes: bob's own video, not alice's record (nor its title)
        b = _upload(client, small_video, BOB)
        assert b.status_code == 202, b.text
        b_id = b.json()["id"]
        assert b_id != a_id and b.json()["title"] != "Alice's secret"

        for who, own in ((ALICE, a_id), (BOB, b_id)):
            listing = client.get("/v1/videos", headers=who).json()
            assert [v["id"] for v in listing["videos"]] == [own] and listing["total"] == 1

        _index_and_mark_ready(app, a_id)
        for method, path in [
            ("GET", f"/v1/videos/{a_id}"),
            ("GET", f"/v1/videos/{a_id}/media"),
            ("GET", f"/v1/videos/{a_id}/frames/2"),
            ("GET", f"/v1/videos/{a_id}/transcript"),
            ("GET", f"/v1/videos/{a_id}/chapters"),
            ("PATCH", f"/v1/videos/{a_id}"),
            ("POST", f"/v1/videos/{a_id}/reindex"),
            ("POST", f"/v1/videos/{a_id}/cancel"),
            ("DELETE", f"/v1/videos/{a_id}"),
        ]:
            body = {"title": "mine now"} if method == "PATCH" else None
            r = client.request(method, path, headers=BOB, json=body)
            assert r.status_code == 404, (method, path, r.status_code, r.text)
            assert r.json()["error"]["type"] == "video_not_found"
        r = client.post(
            "/v1/search", json={"query": "presenters", "video_ids": [a_id]}, headers=BOB
        )
        assert r.status_code == 404, r.text
        r = client.post("/v1/search", json={"query": "presenters news studio"}, headers=BOB)
        assert r.status_code == 200 and r.json()["hits"] == []  # bob's own is not ready yet
        r = client.post("/v1/ask", json={"question": "who reads the news?"}, headers=BOB)
        assert r.status_code == 200 and r.json()["hits"] == []

        # alice still has everything, and finds her video
        r = client.post("/v1/search", json={"query": "presenters news studio"}, headers=ALICE)
        assert r.status_code == 200 and {h["video_id"] for h in r.json()["hits"]} == {a_id}
        assert client.get(f"/v1/videos/{a_id}", headers=ALICE).json()["title"] == "Alice's secret"
        assert client.get(f"/v1/videos/{a_id}/media", headers=ALICE).status_code == 200
        assert client.delete(f"/v1/videos/{a_id}", headers=ALICE).status_code == 204
        assert client.get(f"/v1/videos/{b_id}", headers=BOB).status_code == 200
