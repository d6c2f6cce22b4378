"""Issue 13: a corrupt SQLite page. `SELECT 1` still answers, so a readiness probe that only
pings passed while every read failed with a 500. Now `/readyz` checks the pages (503, with what
is damaged), reads answer a typed 503 `database_unavailable`, and `/healthz` stays up."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import AppSettings
from indexer.catalog import Catalog
from tests.service.test_catalog import FakeManifest


def _settings(data: Path) -> AppSettings:
    return AppSettings(data_dir=data, warm_up=False, requeue_on_start=False)


def test_a_corrupt_catalog_is_reported_and_typed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with TestClient(create_app(_settings(data))) as client:
        assert client.get("/readyz").json()["checks"]["database"] == "ok"
    catalog = Catalog(_settings(data).db_url())
    for i in range(300):  # enough rows for the videos table to span many pages
        catalog.add_video(FakeManifest(f"{i:04d}" + "a" * 12, title="t" * 400))
    catalog.dispose()
    db = data / "vidrag.db"
    raw = bytearray(db.read_bytes())
    page = int.from_bytes(raw[16:18], "big")  # the header's page size
    for start in range(2 * page, len(raw), 2 * page):  # every other page after the schema
        raw[start + 8 : start + page] = b"\xa5" * (page - 8)
    db.write_bytes(bytes(raw))

    # the error handler answers, then Starlette re-raises for the server's log: don't re-raise
    with TestClient(create_app(_settings(data)), raise_server_exceptions=False) as client:
        assert client.get("/healthz").status_code == 200
        r = client.get("/readyz")
        assert r.status_code == 503, r.text
        assert r.json()["checks"]["database"].startswith("error: damaged"), r.json()
        r = client.get("/v1/videos")
        assert r.status_code == 503, r.text
        assert r.json()["error"]["type"] == "database_unavailable"
