"""Inputs at the edges of what the storage and the parsers hold are refused with a 4xx, never a
500: integers beyond a 64-bit column, Range numbers of thousands of digits, JSON nested
thousands deep; and every timestamp says its time zone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import AppSettings
from tests import synth


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = AppSettings(data_dir=tmp_path / "data", hf_offline=True, warm_up=False)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("param", ["offset=9223372036854775808", "limit=9223372036854775808"])
def test_huge_integers_are_422(client: TestClient, param: str) -> None:
    r = client.get(f"/v1/videos?{param}")
    assert r.status_code == 422 and r.json()["error"]["type"] == "validation_error"


def test_deeply_nested_json_is_400(client: TestClient) -> None:
    deep = "[" * 2000 + "]" * 2000
    for path, field in (("/v1/videos", "url"), ("/v1/search", "query"), ("/v1/ask", "question")):
        r = client.post(
            path, content=f'{{"{field}": {deep}}}', headers={"content-type": "application/json"}
        )
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text[:200])
    assert client.get("/healthz").status_code == 200


def test_range_with_thousands_of_digits_is_416_and_times_carry_a_zone(client: TestClient) -> None:
    video = synth.lavfi_clip("testsrc2", 2.0)
    with video.open("rb") as f:
        r = client.post("/v1/videos", files={"file": ("clip.mp4", f, "video/mp4")})
    assert r.status_code == 202, r.text
    v = r.json()
    for field in ("created_at", "updated_at"):
        assert datetime.fromisoformat(v[field]).utcoffset() is not None, v[field]
    media = f"/v1/videos/{v['id']}/media"
    r = client.get(media, headers={"Range": "bytes=" + "9" * 5000 + "-"})
    assert r.status_code == 416 and r.json()["error"]["type"] == "range_not_satisfiable"
    assert client.get(media, headers={"Range": "bytes=0-9"}).status_code == 206
