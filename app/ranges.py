"""Serve a file with HTTP Range support (single ranges: what video players ask for)."""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
from starlette.responses import StreamingResponse

from app.errors import RangeNotSatisfiable

CHUNK = 256 * 1024
# at most 19 digits: no file is larger, and longer numbers would not even parse (int() refuses
# strings of over 4,300 digits) -- a malformed header, answered 416 like any other
_RANGE = re.compile(r"^bytes=(\d{0,19})-(\d{0,19})$")
MEDIA_TYPES = {
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".avi": "video/x-msvideo",
    ".mpg": "video/mpeg",
    ".ts": "video/mp2t",
}


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte, inclusive, for a `Range: bytes=...` header; None means the whole
    file (no header, or several ranges, which RFC 9110 lets a server ignore).
    Raises RangeNotSatisfiable for a malformed or out-of-file range."""
    header = header.strip()
    if not header:
        return None
    if "," in header:
        return None
    m = _RANGE.match(header.replace(" ", ""))
    if not m or (not m.group(1) and not m.group(2)):
        raise RangeNotSatisfiable(f"malformed Range header {header[:60]!r}", _unsat(size))
    first_s, last_s = m.groups()
    if not first_s:  # suffix: the last N bytes
        n = int(last_s)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable("empty suffix range", _unsat(size))
        return max(0, size - n), size - 1
    first = int(first_s)
    last = min(int(last_s), size - 1) if last_s else size - 1
    if first >= size or (last_s and int(last_s) < first):
        raise RangeNotSatisfiable(f"range {header[:60]!r} is outside 0-{size - 1}", _unsat(size))
    return first, last


def _unsat(size: int) -> dict[str, str]:
    return {"Content-Range": f"bytes */{size}"}


def media_type(path: Path) -> str:
    return (
        MEDIA_TYPES.get(path.suffix.lower())
        or mimetypes.guess_type(path.name)[0]
        or ("application/octet-stream")
    )


async def _read(path: Path, first: int, last: int) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as f:
        await f.seek(first)
        left = last - first + 1
        while left > 0:
            chunk = await f.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk


def file_response(path: Path, range_header: str | None) -> StreamingResponse:
    size = os.stat(path).st_size
    rng = parse_range(range_header or "", size)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=3600"}
    if rng is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(_read(path, 0, size - 1), 200, headers, media_type(path))
    first, last = rng
    headers["Content-Length"] = str(last - first + 1)
    headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    return StreamingResponse(_read(path, first, last), 206, headers, media_type(path))
