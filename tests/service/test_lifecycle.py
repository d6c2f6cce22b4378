"""The library listing and a job's life on request, through the gateway in-process (no worker):
cursor pages that reach every video under filters and sorts; re-index, re-upload of a failed
video, cancel and rename, with what a worker of the old run sees afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import AppSettings
from indexer.catalog import CANCELLED, FAILED, PROCESSING, QUEUED, Catalog, Claim, part_step
from indexer.catalog.progress import StepLost, StepReporter
from indexer.service_settings import JobSettings
from tests.service.test_catalog import FakeManifest

STALE_S = 3600.0


def _queued_prepares(data: Path) -> list[list[Any]]:
    """The args of the `vidrag.prepare` messages waiting in the embedded broker."""
    out = []
    for f in sorted((data / "broker" / "queue").glob("*.msg")):
        msg = json.loads(f.read_text())
        if msg["headers"]["task"] == "vidrag.prepare":
            body = json.loads(__import__("base64").b64decode(msg["body"]))
            out.append(body[0])
    return out


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = AppSettings(
        data_dir=tmp_path / "data",
        hf_offline=True,
        warm_up=False,
        jobs=JobSettings(stale_after_s=STALE_S),
    )
    with TestClient(create_app(settings)) as c:
        yield c


def _catalog(client: TestClient) -> Catalog:
    catalog: Catalog = client.app.state.services.catalog  # type: ignore[attr-defined]
    return catalog


def _upload(client: TestClient, path: Path) -> Any:
    with path.open("rb") as f:
        return client.post("/v1/videos", files={"file": (path.name, f, "video/mp4")})


# --- listing -------------------------------------------------------------------------------------
@pytest.fixture
def library(client: TestClient) -> list[str]:
    """250 catalogued videos (more than the old fixed page of 100), every fifth one failed."""
    catalog = _catalog(client)
    ids = []
    for i in range(250):
        vid = f"{i:016x}"
        state, _ = catalog.add_video(
            FakeManifest(vid, f"Talk {i:03d} {'Budget' if i % 7 else 'x'}")
        )
        if i % 5 == 0:
            catalog.mark_failed(state.job_id, "indexing_failed", "boom")
        ids.append(vid)
    return ids


def _all_pages(client: TestClient, **params: Any) -> tuple[list[dict[str, Any]], list[int]]:
    videos: list[dict[str, Any]] = []
    totals = []
    cursor = None
    for _ in range(100):
        r = client.get("/v1/videos", params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        videos += body["videos"]
        totals.append(body["total"])
        cursor = body["next_cursor"]
        if cursor is None:
            return videos, totals
    raise AssertionError("the cursor never ended")


def test_cursor_pages_reach_every_video_newest_first(client: TestClient, library: list[str]):
    videos, totals = _all_pages(client, limit=100)
    assert [v["id"] for v in videos] == library[::-1]
    assert set(totals) == {250}
    # the old offset paging still works
    r = client.get("/v1/videos", params={"limit": 10, "offset": 245}).json()
    assert [v["id"] for v in r["videos"]] == library[4::-1] and r["next_cursor"] is None


def test_filters_and_sorts(client: TestClient, library: list[str]) -> None:
    failed, totals = _all_pages(client, status="failed", limit=7)
    assert {v["id"] for v in failed} == set(library[::5]) and set(totals) == {50}
    both, _ = _all_pages(client, status=["failed", "queued"], limit=90)
    assert len(both) == 250
    both_csv, _ = _all_pages(client, status="failed,queued", limit=90)
    assert len(both_csv) == 250
    budget, totals = _all_pages(client, q="bUdGeT", status="queued", limit=33)
    expected = {vid for i, vid in enumerate(library) if i % 7 and i % 5}
    assert {v["id"] for v in budget} == expected and set(totals) == {len(expected)}
    by_title, _ = _all_pages(client, sort="title", limit=60)
    titles = [v["title"] for v in by_title]
    assert titles == sorted(titles) and len(titles) == 250
    back, _ = _all_pages(client, sort="-title", limit=60)
    assert [v["title"] for v in back] == titles[::-1]
    oldest, _ = _all_pages(client, sort="created_at", limit=64)
    assert [v["id"] for v in oldest] == library
    # a literal substring: LIKE's wildcards match only themselves
    assert client.get("/v1/videos", params={"q": "%"}).json()["total"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"status": "done"},
        {"status": "ready,finished"},
        {"sort": "size"},
        {"cursor": "not-a-cursor"},
    ],
)
def test_bad_listing_is_422(client: TestClient, library: list[str], params: dict[str, str]):
    r = client.get("/v1/videos", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["type"] == "invalid_listing"


def test_a_cursor_of_another_sort_is_refused(client: TestClient, library: list[str]) -> None:
    cursor = client.get("/v1/videos", params={"limit": 5}).json()["next_cursor"]
    r = client.get("/v1/videos", params={"cursor": cursor, "sort": "title"})
    assert r.status_code == 422 and r.json()["error"]["type"] == "invalid_listing"


# --- lifecycle -----------------------------------------------------------------------------------
def _start_step(catalog: Catalog, job_id: int, owner: str = "task-1") -> None:
    """What a worker does: start the job, plan two parts, take part 0."""
    assert catalog.start_job(job_id)
    catalog.set_parts(job_id, 2)
    claim, _ = catalog.claim_step(job_id, part_step(0), owner, STALE_S)
    assert claim is Claim.CLAIMED


def test_reupload_of_a_failed_video_queues_it_again(
    client: TestClient, small_video: Path, tmp_path: Path
) -> None:
    v = _upload(client, small_video).json()
    catalog = _catalog(client)
    state = catalog.get(v["id"])
    assert state is not None and catalog.mark_failed(state.job_id, "decode_failed", "bad")
    before = len(_queued_prepares(tmp_path / "data"))
    r = _upload(client, small_video)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == QUEUED and r.json()["error"] is None
    assert len(_queued_prepares(tmp_path / "data")) == before + 1
    # the same bytes of a queued video are still the same record, not queued twice
    assert _upload(client, small_video).status_code == 200


def test_reindex_resets_the_job_and_clears_stage_markers(
    client: TestClient, small_video: Path, tmp_path: Path
) -> None:
    v = _upload(client, small_video).json()
    catalog = _catalog(client)
    state = catalog.get(v["id"])
    assert state is not None
    _start_step(catalog, state.job_id)
    # a live worker holds part 0: re-index is refused
    r = client.post(f"/v1/videos/{v['id']}/reindex")
    assert r.status_code == 409 and r.json()["error"]["type"] == "job_processing"
    assert catalog.get(v["id"]).status == PROCESSING  # type: ignore[union-attr]
    # finished stages of the old run, on disk
    store = client.app.state.services.library.store(v["id"])  # type: ignore[attr-defined]
    for marker in (store.root / "stages" / "clips.json", store.part(0).path("stages/asr.json")):
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("{}")
    catalog.mark_failed(state.job_id, "indexing_failed", "no speech model")
    before = len(_queued_prepares(tmp_path / "data"))
    r = client.post(f"/v1/videos/{v['id']}/reindex")
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == QUEUED and body["error"] is None
    assert body["progress"] == {
        "stage": "queued",
        "percent": 0.0,
        "parts_done": 0,
        "parts_total": 0,
    }
    assert not (store.root / "stages").exists() and not store.part(0).path("stages").exists()
    assert store.path("video.json").exists()  # the source and manifest stay
    assert _queued_prepares(tmp_path / "data")[before:] == [[v["id"], state.job_id]]
    # the old run's worker finds its step gone at its next write
    with pytest.raises(StepLost):
        StepReporter(catalog, state.job_id, part_step(0), "task-1", ["asr"], 0.0)("asr", 0.5)
    assert client.post("/v1/videos/0123456789abcdef/reindex").status_code == 404


def test_reindex_takes_a_stale_job_back(client: TestClient, small_video: Path) -> None:
    v = _upload(client, small_video).json()
    catalog = _catalog(client)
    state = catalog.get(v["id"])
    assert state is not None
    _start_step(catalog, state.job_id)
    outcome, _ = catalog.reset_job(v["id"], STALE_S)
    assert outcome.value == "busy"
    outcome, job = catalog.reset_job(v["id"], stale_s=-1.0)  # every beat is older than "now + 1 s"
    assert outcome.value == "done" and job == state.job_id
    assert catalog.get(v["id"]).status == QUEUED  # type: ignore[union-attr]


def test_cancel_stops_the_workers_and_can_be_undone(
    client: TestClient, small_video: Path, tmp_path: Path
) -> None:
    v = _upload(client, small_video).json()
    catalog = _catalog(client)
    state = catalog.get(v["id"])
    assert state is not None
    _start_step(catalog, state.job_id)
    r = client.post(f"/v1/videos/{v['id']}/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == FAILED and r.json()["error"]["type"] == CANCELLED
    # the worker on part 0 stops at its next progress write; the next step is not taken
    with pytest.raises(StepLost):
        StepReporter(catalog, state.job_id, part_step(0), "task-1", ["asr"], 0.0)("asr", 0.5)
    claim, _ = catalog.claim_step(state.job_id, part_step(1), "task-2", STALE_S)
    assert claim is Claim.GONE
    assert catalog.running_owners(state.job_id) == set()
    again = client.post(f"/v1/videos/{v['id']}/cancel")
    assert again.status_code == 409 and again.json()["error"]["type"] == "job_finished"
    # a cancelled video is re-indexed on request
    r = client.post(f"/v1/videos/{v['id']}/reindex")
    assert r.status_code == 202 and r.json()["status"] == QUEUED


def test_patch_renames(client: TestClient, small_video: Path) -> None:
    v = _upload(client, small_video).json()
    r = client.patch(f"/v1/videos/{v['id']}", json={"title": "Chaplin, renamed"})
    assert r.status_code == 200 and r.json()["title"] == "Chaplin, renamed"
    assert client.get(f"/v1/videos/{v['id']}").json()["title"] == "Chaplin, renamed"
    listed = client.get("/v1/videos", params={"q": "RENAMED"}).json()
    assert [x["id"] for x in listed["videos"]] == [v["id"]]
    for bad in ({"title": ""}, {"title": "x" * 301}, {"name": "y"}, {"title": "a\nb"}):
        r = client.patch(f"/v1/videos/{v['id']}", json=bad)
        assert r.status_code == 422, (bad, r.text)
        assert "error" in r.json()
    assert client.patch("/v1/videos/0123456789abcdef", json={"title": "x"}).status_code == 404
