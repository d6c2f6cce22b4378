"""Inputs at the edges of what the storage and the parsers hold are refused with a 4xx, never a
500: integers beyond a 64-bit column, Range numbers of thousands of digits, JSON nested
thousands deep; and every timestamp says its time zone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import AppSettings
from tests import synth
from tests.service.conftest import free_port, wait_http


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


# --- over a real socket: what a slow or lying client does to a real server ----------------------
@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {
        **os.environ,
        "VIDRAG_DATA_DIR": str(tmp_path / "data"),
        "VIDRAG_HF_OFFLINE": "true",
        "VIDRAG_WARM_UP": "false",
        "VIDRAG_BODY_TIMEOUT_S": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app",
         "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 30)
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        proc.wait(10)


def _raw(addr: tuple[str, int], head: bytes, body: bytes = b"", wait_s: float = 10) -> bytes:
    with socket.create_connection(addr, timeout=wait_s) as s:
        s.sendall(head + body)
        out = b""
        while True:  # the whole reply: the server closes after an error it answers mid-body
            head, _, rest = out.partition(b"\r\n\r\n")
            length = [int(v) for k, _, v in (h.partition(b": ") for h in head.split(b"\r\n"))
                      if k.lower() == b"content-length"]  # fmt: skip
            if length and len(rest) >= length[0]:
                return out
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def test_declared_huge_body_is_refused_before_it_is_sent(server: tuple[str, int]) -> None:
    head = (
        b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000000000\r\n\r\n"
    )
    reply = _raw(server, head)  # nothing of the body is sent: the answer must not wait for it
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    upload = (
        b"POST /v1/videos HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        b"Content-Length: " + b"9" * 40 + b"\r\n\r\n"
    )
    # a number that long is refused by the HTTP parser itself (400) or by us (413): a 4xx
    assert _raw(server, upload)[9:12] in (b"400", b"413")


def test_a_stalled_body_is_answered_408_and_the_server_stays_up(server: tuple[str, int]) -> None:
    head = (
        b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n"
    )
    reply = _raw(server, head, b'{"query": "half a bo')  # ...and then nothing more
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b'"type":"request_timeout"' in reply and b"x-request-id" in reply
    with httpx.Client() as c:
        assert c.get(f"http://{server[0]}:{server[1]}/healthz").status_code == 200
