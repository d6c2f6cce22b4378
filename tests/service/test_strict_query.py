"""Unknown query parameters are refused by name, and a documented path asked with a method it
does not serve answers 405 with every method it does serve in `Allow` (issue 12's silently
ignored `?status=`; schemathesis's undeclared-method and Allow checks)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import AppSettings

VID = "0123456789abcdef"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = AppSettings(data_dir=tmp_path / "data", warm_up=False, requeue_on_start=False)
    with TestClient(create_app(settings)) as c:
        yield c


def test_a_misspelt_query_parameter_is_named(client: TestClient) -> None:
    r = client.get("/v1/videos?stauts=ready&limit=5")
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["type"] == "unknown_parameter" and "stauts" in err["message"]
    assert "status" in err["message"]  # and says what it takes
    assert client.get("/v1/videos?status=ready&limit=5").status_code == 200


def test_the_player_may_pass_its_key_on_media_urls_only(client: TestClient) -> None:
    # no such video: 404 from the route, not a 422 for the parameter
    assert client.get(f"/v1/videos/{VID}/media?api_key=k").status_code == 404
    assert client.get(f"/v1/videos/{VID}/frames/1.5?api_key=k").status_code == 404
    r = client.get(f"/v1/videos/{VID}?api_key=k")
    assert r.status_code == 422 and r.json()["error"]["type"] == "unknown_parameter"


def test_pages_outside_the_api_take_any_query(client: TestClient) -> None:
    assert client.get("/?utm_source=x").status_code == 200
    assert client.get("/healthz?probe=1").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v1/search", "POST"),  # would fall through to the page's files: 404 before
        ("PUT", "/v1/videos", "GET, HEAD, POST"),
        ("POST", f"/v1/videos/{VID}", "DELETE, GET, HEAD, PATCH"),
    ],
)
def test_undeclared_methods_get_405_with_allow(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    r = client.request(method, path)
    assert r.status_code == 405 and r.json()["error"]["type"] == "method_not_allowed"
    assert r.headers["allow"] == allow
