"""Receive a multipart upload as a stream, straight into a temp file inside the data directory.

Starlette's form parser would spool the whole file to the system temp dir before we could look at
its size; this parser counts bytes as they arrive and stops at the limit. The client's file name
is metadata only: the temp file's name is ours, and the stored name is content-derived."""

from __future__ import annotations

import contextlib
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from app.errors import (
    InvalidField,
    InvalidFilename,
    MalformedMultipart,
    MissingFile,
    UploadTooLarge,
)

TEXT_FIELDS = ("title", "language", "webhook_url")
MULTIPART_OVERHEAD = 64 * 1024  # boundaries, part headers and the small text fields


@dataclass
class Upload:
    """A received upload: the temp file (caller removes it) and the form's text fields."""

    path: Path
    filename: str
    size: int = 0
    fields: dict[str, str] = field(default_factory=dict)


def check_filename(name: str) -> str:
    """The client's file name if it is a plain name; raises InvalidFilename for paths
    (`../x`, `a/b`, `C:\\x`), control characters and absurd lengths."""
    if not name or name in {".", ".."} or len(name.encode("utf-8", "replace")) > 255:
        raise InvalidFilename("the file name must be a plain name of 1-255 bytes")
    if "/" in name or "\\" in name or any(unicodedata.category(c) == "Cc" for c in name):
        raise InvalidFilename("the file name must not contain a path or control characters")
    return name


class _Receiver:
    def __init__(self, dest: Path, max_bytes: int, max_field_bytes: int) -> None:
        self.dest = dest
        self.max_bytes = max_bytes
        self.max_field_bytes = max_field_bytes
        self.upload: Upload | None = None
        self.fields: dict[str, str] = {}
        self.file: IO[bytes] | None = None
        self.pending: list[bytes] = []  # file bytes parsed from the current chunk, not written
        self.ended = False
        self._headers: dict[bytes, bytes] = {}
        self._hname = b""
        self._hvalue = b""
        self._field: str | None = None
        self._is_file = False
        self._buf = bytearray()

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self._headers, self._buf, self._field, self._is_file = {}, bytearray(), None, False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._hvalue += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._hname.lower()] = self._hvalue
        self._hname = self._hvalue = b""

    def on_headers_finished(self) -> None:
        _, opts = parse_options_header(self._headers.get(b"content-disposition", b""))
        if b"name" not in opts:
            raise MalformedMultipart("a form part has no name")
        name = opts[b"name"].decode("utf-8", "replace")
        self._field = name
        if name == "file":
            if self.upload is not None:
                raise InvalidField("send exactly one file per upload")
            filename = opts.get(b"filename", b"").decode("utf-8", "replace")
            if not filename:
                raise MissingFile("the `file` part carries no file name (no file chosen?)")
            self.upload = Upload(path=self.dest, filename=check_filename(filename))
            self._is_file = True
        elif name not in TEXT_FIELDS:
            raise InvalidField(
                f"unknown form field {name[:40]!r} (expected file, {', '.join(TEXT_FIELDS)})"
            )
        elif b"filename" in opts:
            raise InvalidField(f"`{name}` must be a text field, not a file")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._is_file:
            assert self.upload is not None
            self.upload.size += len(chunk)
            if self.upload.size > self.max_bytes:
                raise UploadTooLarge(f"the upload exceeds {self.max_bytes} bytes")
            self.pending.append(chunk)
        else:
            self._buf += chunk
            if len(self._buf) > self.max_field_bytes:
                raise InvalidField(f"`{self._field}` is longer than {self.max_field_bytes} bytes")

    def on_part_end(self) -> None:
        if not self._is_file and self._field:
            try:
                self.fields[self._field] = self._buf.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise InvalidField(f"`{self._field}` is not UTF-8 text") from None

    def on_end(self) -> None:
        self.ended = True


async def receive_multipart(
    request: Request, tmp_dir: Path, max_bytes: int, max_field_bytes: int
) -> Upload:
    """Stream the request's multipart body; the `file` part goes to a new file in `tmp_dir`.
    Raises UploadTooLarge, MalformedMultipart, MissingFile, InvalidField, InvalidFilename."""
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise MalformedMultipart("multipart/form-data without a boundary")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + MULTIPART_OVERHEAD:
        raise UploadTooLarge(f"the upload ({declared} bytes) exceeds {max_bytes} bytes")

    tmp_dir.mkdir(parents=True, exist_ok=True)
    dest = tmp_dir / f"upload-{uuid.uuid4().hex}.part"
    rx = _Receiver(dest, max_bytes, max_field_bytes)
    try:
        parser = MultipartParser(boundary, rx.callbacks())  # type: ignore[arg-type]
    except (FormParserError, ValueError) as e:
        raise MalformedMultipart(f"bad multipart boundary: {e}") from None
    f = await anyio.to_thread.run_sync(dest.open, "wb")
    try:
        async for chunk in request.stream():
            try:
                parser.write(chunk)
            except FormParserError as e:
                raise MalformedMultipart(f"malformed multipart body: {e}") from None
            if rx.pending:
                data, rx.pending = b"".join(rx.pending), []
                await anyio.to_thread.run_sync(f.write, data)
        parser.finalize()
        if not rx.ended:
            raise MalformedMultipart("the multipart body ended before its closing boundary")
        if rx.upload is None:
            raise MissingFile("no `file` part in the form")
        rx.upload.fields = rx.fields
        return rx.upload
    except BaseException:
        with contextlib.suppress(OSError):  # a full disk can fail the final flush too
            f.close()
        with contextlib.suppress(OSError):
            dest.unlink()
        raise
    finally:
        if not f.closed:
            f.close()


def upload_openapi(url_upload_schema: dict[str, Any]) -> dict[str, Any]:
    """The upload's two bodies as OpenAPI documents them: a multipart form read by
    `receive_multipart` (FastAPI cannot see it: the route streams the body itself), or JSON
    with a URL to fetch."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {
                                "type": "string",
                                "format": "binary",
                                "description": "the video file (any format ffmpeg reads)",
                            },
                            "title": {
                                "type": "string",
                                "maxLength": 300,
                                "description": "the video's title (printable characters); "
                                "left out: the file name without its extension",
                            },
                            "language": {
                                "type": "string",
                                "example": "en",
                                "description": "the spoken language as a code such as `en` or "
                                "`pt-BR`, passed to speech recognition; left out: the "
                                "server's default, else detected from the audio",
                            },
                            "webhook_url": {
                                "type": "string",
                                "format": "uri",
                                "maxLength": 2000,
                                "description": "an http(s) URL POSTed a signed `video.ready` or "
                                "`video.failed` event when indexing ends",
                            },
                        },
                    }
                },
                "application/json": {"schema": url_upload_schema},
            },
        }
    }
