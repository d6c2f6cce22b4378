"""Test doubles of the answering tests: a real OpenAI-compatible HTTP server on loopback standing in
for vLLM (it records every request and plays scripted replies), and a small library on disk with
real JPEG frames."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from indexer.types import Evidence, Hit

MODEL = "test/vlm"


@dataclass
class Reply:
    """One scripted reply. `events` are the SSE `data:` payloads of a 200 stream, sent one per
    event; `body` is sent as is for other statuses."""

    status: int = 200
    events: list[str] = field(default_factory=list)
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # before the status line
    event_delay_s: float = 0.0  # before each event
    content_type: str = "text/event-stream"


def chunk(content: str | None = None, *, role: str | None = None, finish: str | None = None) -> str:
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    return json.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
    )


def stream_reply(*pieces: str, done: bool = True, **kw: Any) -> Reply:
    """What vLLM streams: a role chunk, one chunk per piece, a finish chunk, `[DONE]`."""
    events = [chunk("", role="assistant"), *(chunk(p) for p in pieces), chunk(finish="stop")]
    if done:
        events.append("[DONE]")
    return Reply(events=events, **kw)


def error_reply(status: int, message: str = "boom", **kw: Any) -> Reply:
    body = json.dumps({"error": {"message": message, "type": "Error", "code": status}}).encode()
    return Reply(status=status, body=body, content_type="application/json", **kw)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


class FakeVLLM:
    """An HTTP server on 127.0.0.1 speaking the parts of vLLM's OpenAI API the gateway uses."""

    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.requests: list[Recorded] = []
        self.disconnects = 0  # streams the client closed before the end
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != "/v1/models":
                    self.send_error(404)
                    return
                body = json.dumps({"object": "list", "data": [{"id": MODEL}]}).encode()
                self._send(200, body, "application/json", {})

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n))
                fake.requests.append(
                    Recorded(
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        time.monotonic(),
                    )
                )
                reply = fake.script.popleft() if fake.script else error_reply(500, "no script")
                try:
                    self._play(reply)
                except OSError:  # the client went away: nothing left to send
                    fake.disconnects += 1

            def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str]):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _play(self, reply: Reply) -> None:
                time.sleep(reply.delay_s)
                if reply.status != 200 or reply.content_type != "text/event-stream":
                    self._send(reply.status, reply.body, reply.content_type, reply.headers)
                    return
                # HTTP/1.0: the body ends when the connection closes, as a stream may
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream; charset=utf-8")
                self.end_headers()
                for data in reply.events:
                    time.sleep(reply.event_delay_s)
                    self.wfile.write(f"data: {data}\n\n".encode())
                    self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- a library with real frames -------------------------------------------------------------------
FRAME_SIZE = (640, 360)


def write_frame(
    path: Path, color: tuple[int, int, int], label: str, size: tuple[int, int] = FRAME_SIZE
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.new("RGB", size, color)
    ImageDraw.Draw(im).text((10, 10), label, fill=(255, 255, 255))
    im.save(path, format="JPEG", quality=90)


def make_hit(
    video_id: str,
    clip_index: int,
    start_s: float,
    end_s: float,
    score: float,
    speech: str = "",
    ocr: str = "",
    objects: str = "",
) -> Hit:
    ev = [
        Evidence(modality=m, text=t, start_s=start_s, end_s=end_s)  # type: ignore[arg-type]
        for m, t in (("speech", speech), ("ocr", ocr), ("objects", objects))
        if t
    ]
    s = int(start_s)  # the library fixture names frames from the clip's whole start second
    frames = [f"frames/{s + 2 * k:06d}.jpg" for k in range(4)]
    return Hit(
        video_id=video_id,
        clip_index=clip_index,
        start_s=start_s,
        end_s=end_s,
        score=score,
        evidence=ev,
        frames=frames,
    )


TITLES = {"aaaa": "Lecture one", "bbbb": "Board meeting"}
