"""URL uploads: the SSRF guard (every resolved address checked, redirects checked again, the
connection pinned to the checked address) and the size limit, against a real local HTTP server."""

from __future__ import annotations

import http.server
import ipaddress
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient

from app import fetch
from app.main import create_app
from app.settings import AppSettings, FetchSettings
from indexer.store import sha256_file, video_id_for
from tests.synth import small_video


class _Handler(http.server.BaseHTTPRequestHandler):
    hosts: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hosts.append(self.headers.get("Host", ""))
        if self.path == "/video.mp4":
            body = small_video().read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/to-loopback":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/video.mp4")
            self.end_headers()
        elif self.path == "/huge.mp4":
            self.send_response(200)
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    # 127.0.0.2 is loopback too; binding it lets a test tell "the checked address" apart
    httpd = http.server.ThreadingHTTPServer(("127.0.0.2", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_port
    httpd.shutdown()


def _client(tmp_path: Path, allow_private: bool) -> TestClient:
    settings = AppSettings(
        data_dir=tmp_path / "data",
        hf_offline=True,
        warm_up=False,
        fetch=FetchSettings(allow_private=allow_private, total_timeout_s=60),
        max_upload_bytes=50_000_000,
    )
    return TestClient(create_app(settings))


@pytest.mark.parametrize(
    ("ip", "allowed"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("127.0.0.1", False),
        ("10.0.0.8", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:10.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
    ],
)
def test_only_public_addresses_are_fetched(ip: str, allowed: bool) -> None:
    assert fetch.address_allowed(ipaddress.ip_address(ip)) is allowed


def test_url_upload_connects_to_the_checked_address(server: int, tmp_path: Path) -> None:
    with _client(tmp_path, allow_private=True) as client:
        _Handler.hosts.clear()
        r = client.post(
            "/v1/videos",
            json={"url": f"http://127.0.0.2:{server}/video.mp4", "title": "From a URL"},
        )
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["id"] == video_id_for(sha256_file(small_video()))
        assert body["title"] == "From a URL" and body["filename"] == "video.mp4"
        assert _Handler.hosts == [f"127.0.0.2:{server}"]
        again = client.post("/v1/videos", json={"url": f"http://127.0.0.2:{server}/video.mp4"})
        assert again.status_code == 200 and again.json()["id"] == body["id"]
        assert not any((tmp_path / "data" / "tmp").iterdir())


def test_a_redirect_is_checked_again(
    server: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the policy allows exactly the server's address; the redirect points at another one
    monkeypatch.setattr(fetch, "address_allowed", lambda ip: str(ip) == "127.0.0.2")
    with _client(tmp_path, allow_private=False) as client:
        ok = client.post("/v1/videos", json={"url": f"http://127.0.0.2:{server}/video.mp4"})
        assert ok.status_code == 202, ok.text
        r = client.post("/v1/videos", json={"url": f"http://127.0.0.2:{server}/to-loopback"})
        assert r.status_code == 400 and r.json()["error"]["type"] == "url_not_allowed"


def test_remote_failures_are_4xx(server: int, tmp_path: Path) -> None:
    with _client(tmp_path, allow_private=True) as client:
        r = client.post("/v1/videos", json={"url": f"http://127.0.0.2:{server}/missing.mp4"})
        assert (r.status_code, r.json()["error"]["type"]) == (422, "url_fetch_failed")
        r = client.post("/v1/videos", json={"url": f"http://127.0.0.2:{server}/huge.mp4"})
        assert (r.status_code, r.json()["error"]["type"]) == (413, "upload_too_large")
        r = client.post("/v1/videos", json={"url": "http://no-such-host.invalid/a.mp4"})
        assert (r.status_code, r.json()["error"]["type"]) == (422, "url_fetch_failed")
        assert not any((tmp_path / "data" / "tmp").iterdir())
