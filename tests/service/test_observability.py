"""Operations: Prometheus metrics that parse, a request id on every response and log line, and
API docs whose assets come from the installed package (no CDN)."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.main import create_app
from app.observability import JsonFormatter, RequestIdFilter, request_id
from app.settings import AppSettings


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = AppSettings(data_dir=tmp_path / "data", hf_offline=True, warm_up=False)
    with TestClient(create_app(settings)) as c:
        yield c


def test_metrics_parse_and_count_requests_by_route(client: TestClient) -> None:
    assert client.get("/v1/videos").status_code == 200
    assert client.get("/v1/videos/nosuchvideo").status_code == 404
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    latency = families["vidrag_http_request_duration_seconds"]
    counts = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in latency.samples
        if s.name.endswith("_count")
    }
    assert counts[("/v1/videos", "200")] == 1
    # the route's template, not the raw path: labels stay bounded
    assert counts[("/v1/videos/{video_id}", "404")] == 1
    videos = {s.labels["status"]: s.value for s in families["vidrag_videos"].samples}
    assert videos == {"queued": 0, "processing": 0, "ready": 0, "failed": 0}
    kinds = {s.labels["kind"] for s in families["vidrag_capability_up"].samples}
    assert {"asr", "ocr", "text"} <= kinds


def test_request_id_is_echoed_or_made_and_reaches_the_log(client: TestClient) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    made = client.get("/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    # a header that could forge log lines is replaced, not echoed
    bad = client.get("/healthz", headers={"X-Request-ID": "x" * 500}).headers["x-request-id"]
    assert bad != "x" * 500
    # the access log line of a request carries its id (JSON logs, as an operator sets them)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logging.getLogger("vidrag.gateway").addHandler(handler)
    try:
        logging.getLogger("vidrag.gateway").warning("outside a request")
        token = request_id.set("r-42")  # what the middleware sets while a request runs
        logging.getLogger("vidrag.gateway").warning("inside")
        request_id.reset(token)
    finally:
        logging.getLogger("vidrag.gateway").removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(x["message"], x["request_id"]) for x in lines] == [
        ("outside a request", "-"),
        ("inside", "r-42"),
    ]


def test_docs_are_served_from_the_package(client: TestClient) -> None:
    html = client.get("/docs").text
    assert "cdn" not in html.lower()
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls and all(u.startswith("/") for u in urls), urls
    for url in urls:
        r = client.get(url)
        assert r.status_code == 200 and len(r.content) > 100, url
    assert client.get("/openapi.json").json()["paths"]["/v1/chat/completions"]
