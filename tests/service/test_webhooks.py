"""Webhooks, through the gateway in-process and a real local HTTP receiver: a video that became
ready is POSTed exactly once, signed with HMAC-SHA256 over the body; a receiver that fails is
retried with backoff and given up after the configured attempts; the state shows in the API."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app import webhooks
from app.main import create_app
from app.settings import AppSettings
from indexer.catalog import FINISH, Catalog, Claim
from indexer.service_settings import JobSettings, WebhookSettings

SECRET = "s3cret-for-tests"


class Receiver:
    """A real HTTP server on 127.0.0.1 that records every POST and answers `status`."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = AppSettings(
        data_dir=tmp_path / "data",
        hf_offline=True,
        warm_up=False,
        webhook_secret=SECRET,
        # the periodic sweep stays out of the way: the test runs its passes itself
        jobs=JobSettings(sweep_s=3600),
        webhooks=WebhookSettings(max_attempts=3, backoff_s=0.0),
    )
    with TestClient(create_app(settings)) as c:
        yield c


def _services(client: TestClient) -> Any:
    return client.app.state.services  # type: ignore[attr-defined]


def _upload_watched(client: TestClient, path: Path, receiver: Receiver) -> tuple[Any, Any, Any]:
    """An upload with `receiver` as its webhook: its body, the services, its job state."""
    v = _upload(client, path, webhook_url=receiver.url)
    services = _services(client)
    return v, services, services.catalog.get(v["id"])


def _upload(client: TestClient, path: Path, **data: str) -> Any:
    with path.open("rb") as f:
        r = client.post("/v1/videos", files={"file": (path.name, f, "video/mp4")}, data=data)
    assert r.status_code == 202, r.text
    return r.json()


def _finish(catalog: Catalog, job_id: int) -> None:
    """What a worker does for a video with no parts: start, plan, finish, ready."""
    assert catalog.start_job(job_id)
    catalog.set_parts(job_id, 0)
    claim, _ = catalog.claim_step(job_id, FINISH, "task-f", 60.0)
    assert claim is Claim.CLAIMED
    assert catalog.mark_ready(job_id, "task-f", {"clip_count": 3, "capabilities": {}})


def test_ready_is_posted_once_and_signed(
    client: TestClient, receiver: Receiver, small_video: Path
) -> None:
    v, services, state = _upload_watched(client, small_video, receiver)
    webhooks.run(services.catalog, services.settings)
    assert receiver.calls == []  # nothing finished yet
    _finish(services.catalog, state.job_id)
    for _ in range(3):  # later sweeps find nothing more to send
        webhooks.run(services.catalog, services.settings)
    assert len(receiver.calls) == 1
    headers, body = receiver.calls[0]
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-vidrag-signature"] == f"sha256={expected}"
    assert headers["x-vidrag-event"] == "video.ready"
    event = json.loads(body)
    assert event["event"] == "video.ready"
    assert event["video"]["id"] == v["id"] and event["video"]["status"] == "ready"
    assert event["video"]["clip_count"] == 3
    shown = client.get(f"/v1/videos/{v['id']}").json()["webhooks"]
    assert len(shown) == 1 and shown[0]["status"] == "delivered"
    assert shown[0]["attempts"] == 1 and shown[0]["response_code"] == 200
    assert headers["x-vidrag-delivery"] == str(shown[0]["id"])


def test_a_failing_receiver_is_retried_then_given_up(
    client: TestClient, receiver: Receiver, small_video: Path
) -> None:
    receiver.status = 503
    v, services, state = _upload_watched(client, small_video, receiver)
    r = client.post(f"/v1/videos/{v['id']}/cancel")
    assert r.status_code == 200
    webhooks.run(services.catalog, services.settings)
    shown = client.get(f"/v1/videos/{v['id']}").json()["webhooks"]
    assert [(d["event"], d["status"], d["attempts"]) for d in shown] == [("failed", "pending", 1)]
    assert shown[0]["last_error"] == "HTTP 503" and shown[0]["next_attempt_at"] is not None
    for _ in range(4):
        webhooks.run(services.catalog, services.settings)
    shown = client.get(f"/v1/videos/{v['id']}").json()["webhooks"]
    assert [(d["status"], d["attempts"]) for d in shown] == [("failed", 3)]
    assert len(receiver.calls) == 3
    # every retry sent the same signed bytes
    assert len({body for _, body in receiver.calls}) == 1
    assert json.loads(receiver.calls[0][1])["video"]["error"]["type"] == "cancelled"
    assert state is not None


@pytest.mark.parametrize("bad", ["ftp://example.org/x", "not a url", "http://"])
def test_bad_webhook_url_is_422(client: TestClient, small_video: Path, bad: str) -> None:
    with small_video.open("rb") as f:
        r = client.post(
            "/v1/videos", files={"file": ("a.mp4", f, "video/mp4")}, data={"webhook_url": bad}
        )
    assert r.status_code == 422 and r.json()["error"]["type"] == "invalid_field"


def test_a_failure_requeued_before_the_sweep_is_not_announced(
    client: TestClient, receiver: Receiver, small_video: Path
) -> None:
    _, services, state = _upload_watched(client, small_video, receiver)
    assert services.catalog.mark_failed(state.job_id, "decode_failed", "bad")
    assert _upload_again(client, small_video).status_code == 202  # queued again
    webhooks.run(services.catalog, services.settings)
    assert receiver.calls == []
    _finish(services.catalog, state.job_id)
    webhooks.run(services.catalog, services.settings)
    assert [json.loads(body)["event"] for _, body in receiver.calls] == ["video.ready"]


def _upload_again(client: TestClient, path: Path) -> Any:
    with path.open("rb") as f:
        return client.post("/v1/videos", files={"file": (path.name, f, "video/mp4")})
