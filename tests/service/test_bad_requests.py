"""Issue 3, must-hold 4: a corpus of bad requests against a running gateway. Each gets its 4xx
with a specific error type in the one envelope; the gateway stays up; no file lands outside the
data directory; nothing half-uploaded stays behind."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import synth
from tests.service.conftest import Gateway, service_env, upload

KEY = "k-" + "s3cret" * 4
MAX_UPLOAD = 2_000_000
B = "vidragBOUNDARY"


def mp(*parts: tuple[str, str | None, bytes], end: bool = True) -> bytes:
    """A raw multipart body: (field name, file name or None, content)."""
    out = b""
    for name, filename, content in parts:
        disp = f'form-data; name="{name}"' + (
            f'; filename="{filename}"' if filename is not None else ""
        )
        out += f"--{B}\r\nContent-Disposition: {disp}\r\n".encode("utf-8", "surrogateescape")
        if filename is not None:
            out += b"Content-Type: video/mp4\r\n"
        out += b"\r\n" + content + b"\r\n"
    return out + (f"--{B}--\r\n".encode() if end else b"")


MP = {"content-type": f"multipart/form-data; boundary={B}"}
JSON = {"content-type": "application/json"}


@dataclass
class Case:
    id: str
    method: str
    path: str
    status: int
    type: str
    kwargs: Callable[[dict[str, Any]], dict[str, Any]]
    auth: str | None = KEY


def _video() -> bytes:
    return synth.small_video().read_bytes()


def _chunks(n: int) -> Iterator[bytes]:
    head = f'--{B}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n\r\n'
    yield head.encode()
    for _ in range(n):
        yield os.urandom(256 * 1024)
    yield f"\r\n--{B}--\r\n".encode()


def c(
    id: str,
    method: str,
    path: str,
    status: int,
    type_: str,
    kwargs: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    auth: str | None = KEY,
) -> Case:
    return Case(id, method, path, status, type_, kwargs or (lambda ctx: {}), auth)


CASES = [
    # --- uploads: content types, multipart structure, file names, sizes --------------------------
    c(
        "upload-text-plain",
        "POST",
        "/v1/videos",
        415,
        "unsupported_content_type",
        lambda x: {"content": b"hello", "headers": {"content-type": "text/plain"}},
    ),
    c(
        "upload-no-content-type",
        "POST",
        "/v1/videos",
        415,
        "unsupported_content_type",
        lambda x: {"content": b"\x00\x01"},
    ),
    c(
        "upload-raw-video-bytes",
        "POST",
        "/v1/videos",
        415,
        "unsupported_content_type",
        lambda x: {"content": _video(), "headers": {"content-type": "video/mp4"}},
    ),
    c(
        "multipart-without-boundary",
        "POST",
        "/v1/videos",
        400,
        "malformed_multipart",
        lambda x: {"content": b"x", "headers": {"content-type": "multipart/form-data"}},
    ),
    c(
        "multipart-truncated",
        "POST",
        "/v1/videos",
        400,
        "malformed_multipart",
        lambda x: {
            "content": mp(("file", "a.mp4", _video()[:5000]), end=False)[:-10],
            "headers": MP,
        },
    ),
    c(
        "multipart-without-file",
        "POST",
        "/v1/videos",
        422,
        "missing_file",
        lambda x: {"content": mp(("title", None, b"no file here")), "headers": MP},
    ),
    c(
        "multipart-empty-filename",
        "POST",
        "/v1/videos",
        422,
        "missing_file",
        lambda x: {"content": mp(("file", "", b"")), "headers": MP},
    ),
    c(
        "multipart-unknown-field",
        "POST",
        "/v1/videos",
        422,
        "invalid_field",
        lambda x: {
            "content": mp(("owner", None, b"me"), ("file", "a.mp4", _video())),
            "headers": MP,
        },
    ),
    c(
        "multipart-two-files",
        "POST",
        "/v1/videos",
        422,
        "invalid_field",
        lambda x: {"content": mp(("file", "a.mp4", b"1"), ("file", "b.mp4", b"2")), "headers": MP},
    ),
    c(
        "filename-dotdot-traversal",
        "POST",
        "/v1/videos",
        400,
        "invalid_filename",
        lambda x: {"content": mp(("file", "../../../../tmp/evil.mp4", _video())), "headers": MP},
    ),
    c(
        "filename-absolute-path",
        "POST",
        "/v1/videos",
        400,
        "invalid_filename",
        lambda x: {"content": mp(("file", "/etc/cron.d/evil.mp4", _video())), "headers": MP},
    ),
    c(
        "filename-windows-traversal",
        "POST",
        "/v1/videos",
        400,
        "invalid_filename",
        lambda x: {"content": mp(("file", "..\\..\\evil.mp4", _video())), "headers": MP},
    ),
    c(
        "filename-dotdot-alone",
        "POST",
        "/v1/videos",
        400,
        "invalid_filename",
        lambda x: {"content": mp(("file", "..", _video())), "headers": MP},
    ),
    c(
        "filename-control-chars",
        "POST",
        "/v1/videos",
        400,
        "invalid_filename",
        lambda x: {"content": mp(("file", "a\x01b.mp4", _video())), "headers": MP},
    ),
    c(
        "oversize-declared",
        "POST",
        "/v1/videos",
        413,
        "upload_too_large",
        lambda x: {
            "content": mp(("file", "big.mp4", os.urandom(MAX_UPLOAD + 100_000))),
            "headers": MP,
        },
    ),
    c(
        "oversize-streamed-chunked",
        "POST",
        "/v1/videos",
        413,
        "upload_too_large",
        lambda x: {"content": _chunks(12), "headers": MP},
    ),
    c(
        "title-too-long",
        "POST",
        "/v1/videos",
        422,
        "invalid_field",
        lambda x: {
            "content": mp(("title", None, b"t" * 400), ("file", "a.mp4", _video())),
            "headers": MP,
        },
    ),
    c(
        "bad-language",
        "POST",
        "/v1/videos",
        422,
        "invalid_field",
        lambda x: {
            "content": mp(("language", None, b"english!!"), ("file", "a.mp4", _video())),
            "headers": MP,
        },
    ),
    # --- uploads: bad media -----------------------------------------------------------------------
    c(
        "empty-file",
        "POST",
        "/v1/videos",
        422,
        "empty_file",
        lambda x: {"content": mp(("file", "empty.mp4", b"")), "headers": MP},
    ),
    c(
        "random-bytes",
        "POST",
        "/v1/videos",
        415,
        "not_a_video",
        lambda x: {"content": mp(("file", "noise.mp4", os.urandom(200_000))), "headers": MP},
    ),
    c(
        "text-as-video",
        "POST",
        "/v1/videos",
        415,
        "not_a_video",
        lambda x: {"content": mp(("file", "notes.mp4", b"just some text\n" * 500)), "headers": MP},
    ),
    c(
        "audio-only",
        "POST",
        "/v1/videos",
        415,
        "no_video_stream",
        lambda x: {
            "content": mp(
                (
                    "file",
                    "voice.mp4",
                    synth.speech_wav("A voice and no picture: not a video.").read_bytes(),
                )
            ),
            "headers": MP,
        },
    ),
    c(
        "still-image",
        "POST",
        "/v1/videos",
        415,
        "no_video_stream",
        lambda x: {
            "content": mp(("file", "photo.mp4", synth.ultralytics_asset("bus.jpg").read_bytes())),
            "headers": MP,
        },
    ),
    c(
        "truncated-video",
        "POST",
        "/v1/videos",
        422,
        "corrupt_media",
        lambda x: {
            "content": mp(("file", "cut.mp4", _video()[: len(_video()) // 3])),
            "headers": MP,
        },
    ),
    # --- uploads by URL -------------------------------------------------------------------------
    c(
        "json-malformed",
        "POST",
        "/v1/videos",
        400,
        "malformed_json",
        lambda x: {"content": b'{"url": ', "headers": JSON},
    ),
    c(
        "json-not-an-object",
        "POST",
        "/v1/videos",
        422,
        "validation_error",
        lambda x: {"content": b'["http://example.com/a.mp4"]', "headers": JSON},
    ),
    c(
        "json-missing-url",
        "POST",
        "/v1/videos",
        422,
        "validation_error",
        lambda x: {"json": {"title": "x"}},
    ),
    c(
        "json-unknown-field",
        "POST",
        "/v1/videos",
        422,
        "validation_error",
        lambda x: {"json": {"url": "https://example.com/a.mp4", "verbose": True}},
    ),
    c(
        "url-file-scheme",
        "POST",
        "/v1/videos",
        400,
        "url_not_allowed",
        lambda x: {"json": {"url": "file:///etc/passwd"}},
    ),
    c(
        "url-ftp-scheme",
        "POST",
        "/v1/videos",
        400,
        "url_not_allowed",
        lambda x: {"json": {"url": "ftp://example.com/a.mp4"}},
    ),
    c(
        "url-loopback",
        "POST",
        "/v1/videos",
        400,
        "url_not_allowed",
        lambda x: {"json": {"url": f"http://127.0.0.1:{x['port']}/healthz"}},
    ),
    c(
        "url-localhost-name",
        "POST",
        "/v1/videos",
        400,
        "url_not_allowed",
        lambda x: {"json": {"url": f"http://localhost:{x['port']}/a.mp4"}},
    ),
    c(
        "url-ipv6-loopback",
        "POST",
        "/v1/videos",
        400,
        "url_not_allowed",
        lambda x: {"json": {"url": "http://[::1]/a.mp4"}},
    ),
    c(
        "url-ipv4-mapped-loopback",
        "POST",
        "/v1/videos",
        400,
        "url_not_allowed",
        lambda x: {"json": {"url": "http://[::ffff:127.0.0.1]/a.mp4"}},
    ),
    c(
        "url-private-10",
        "POST",
        "/v1/videos",
        400,
        "url_not_allowed",
        lambda x: {"json": {"url": "http://10.1.2.3/a.mp4"}},
    ),
    c(
        "url-private-192-168",
        "POST",
        "/v1/videos",
        400,
        "url_not_allowed",
        lambda x: {"json": {"url": "https://192.168.0.1/a.mp4"}},
    ),
    c(
        "url-link-local-metadata",
        "POST",
        "/v1/videos",
        400,
        "url_not_allowed",
        lambda x: {"json": {"url": "http://169.254.169.254/latest/meta-data/"}},
    ),
    c(
        "url-unspecified",
        "POST",
        "/v1/videos",
        400,
        "url_not_allowed",
        lambda x: {"json": {"url": "http://0.0.0.0/a.mp4"}},
    ),
    c(
        "url-with-credentials",
        "POST",
        "/v1/videos",
        400,
        "url_not_allowed",
        lambda x: {"json": {"url": "http://user:pw@example.com/a.mp4"}},
    ),
    c(
        "url-not-a-url",
        "POST",
        "/v1/videos",
        400,
        "url_not_allowed",
        lambda x: {"json": {"url": "not a url at all"}},
    ),
    # --- unknown ids, traversal in paths, bad ranges and times ----------------------------------
    c("get-unknown-id", "GET", "/v1/videos/00000000deadbeef", 404, "video_not_found"),
    c("get-traversal-id", "GET", "/v1/videos/..%2F..%2Fetc%2Fpasswd", 404, "not_found"),
    c("get-dotdot-id-media", "GET", "/v1/videos/../media", 404, "not_found"),
    c("get-odd-chars-id", "GET", "/v1/videos/ABC$%25", 404, "video_not_found"),
    c("delete-unknown-id", "DELETE", "/v1/videos/00000000deadbeef", 404, "video_not_found"),
    c("media-unknown-id", "GET", "/v1/videos/00000000deadbeef/media", 404, "video_not_found"),
    c("frame-unknown-id", "GET", "/v1/videos/00000000deadbeef/frames/1", 404, "video_not_found"),
    c("frame-negative-time", "GET", "/v1/videos/{vid}/frames/-1", 422, "invalid_time"),
    c("frame-huge-time", "GET", "/v1/videos/{vid}/frames/1e9", 422, "invalid_time"),
    c("frame-nan-time", "GET", "/v1/videos/{vid}/frames/nan", 422, "invalid_time"),
    c("frame-text-time", "GET", "/v1/videos/{vid}/frames/soon", 422, "validation_error"),
    c(
        "media-range-beyond-end",
        "GET",
        "/v1/videos/{vid}/media",
        416,
        "range_not_satisfiable",
        lambda x: {"headers": {"range": "bytes=999999999-"}},
    ),
    c(
        "media-range-garbage",
        "GET",
        "/v1/videos/{vid}/media",
        416,
        "range_not_satisfiable",
        lambda x: {"headers": {"range": "bytes=abc-def"}},
    ),
    c("list-limit-zero", "GET", "/v1/videos?limit=0", 422, "validation_error"),
    c("list-limit-huge", "GET", "/v1/videos?limit=100000", 422, "validation_error"),
    # --- search and ask -------------------------------------------------------------------------
    c(
        "search-malformed-json",
        "POST",
        "/v1/search",
        400,
        "malformed_json",
        lambda x: {"content": b'{"query": "x",', "headers": JSON},
    ),
    c(
        "search-empty-query",
        "POST",
        "/v1/search",
        422,
        "invalid_query",
        lambda x: {"json": {"query": ""}},
    ),
    c(
        "search-blank-query",
        "POST",
        "/v1/search",
        422,
        "invalid_query",
        lambda x: {"json": {"query": " \n\t "}},
    ),
    c(
        "search-missing-query",
        "POST",
        "/v1/search",
        422,
        "validation_error",
        lambda x: {"json": {"top_k": 3}},
    ),
    c(
        "search-query-too-long",
        "POST",
        "/v1/search",
        422,
        "validation_error",
        lambda x: {"json": {"query": "word " * 1000}},
    ),
    c(
        "search-negative-top-k",
        "POST",
        "/v1/search",
        422,
        "invalid_top_k",
        lambda x: {"json": {"query": "cat", "top_k": -5}},
    ),
    c(
        "search-zero-top-k",
        "POST",
        "/v1/search",
        422,
        "invalid_top_k",
        lambda x: {"json": {"query": "cat", "top_k": 0}},
    ),
    c(
        "search-huge-top-k",
        "POST",
        "/v1/search",
        422,
        "invalid_top_k",
        lambda x: {"json": {"query": "cat", "top_k": 10**12}},
    ),
    c(
        "search-text-top-k",
        "POST",
        "/v1/search",
        422,
        "validation_error",
        lambda x: {"json": {"query": "cat", "top_k": "many"}},
    ),
    c(
        "search-unknown-video",
        "POST",
        "/v1/search",
        404,
        "video_not_found",
        lambda x: {"json": {"query": "cat", "video_ids": ["00000000deadbeef"]}},
    ),
    c(
        "search-traversal-video-id",
        "POST",
        "/v1/search",
        404,
        "video_not_found",
        lambda x: {"json": {"query": "cat", "video_ids": ["../../etc"]}},
    ),
    c(
        "search-empty-video-list",
        "POST",
        "/v1/search",
        422,
        "invalid_query",
        lambda x: {"json": {"query": "cat", "video_ids": []}},
    ),
    c(
        "search-video-not-ready",
        "POST",
        "/v1/search",
        409,
        "video_not_ready",
        lambda x: {"json": {"query": "cat", "video_ids": [x["vid"]]}},
    ),
    c(
        "search-wrong-content-type",
        "POST",
        "/v1/search",
        422,
        "validation_error",
        lambda x: {"content": b"query=cat", "headers": {"content-type": "text/plain"}},
    ),
    c(
        "ask-empty-question",
        "POST",
        "/v1/ask",
        422,
        "invalid_query",
        lambda x: {"json": {"question": ""}},
    ),
    c(
        "ask-huge-top-k",
        "POST",
        "/v1/ask",
        422,
        "invalid_top_k",
        lambda x: {"json": {"question": "what?", "top_k": 1000}},
    ),
    c(
        "ask-stream-not-bool",
        "POST",
        "/v1/ask",
        422,
        "validation_error",
        lambda x: {"json": {"question": "what?", "stream": "perhaps"}},
    ),
    c(
        "ask-unknown-video",
        "POST",
        "/v1/ask",
        404,
        "video_not_found",
        lambda x: {"json": {"question": "what?", "video_ids": ["00000000deadbeef"]}},
    ),
    # --- routes, methods, auth ------------------------------------------------------------------
    c("unknown-route", "GET", "/v1/nothing-here", 404, "not_found"),
    c("wrong-method", "PUT", "/v1/search", 405, "method_not_allowed"),
    c("missing-api-key", "GET", "/v1/videos", 401, "missing_api_key", auth=None),
    c("wrong-api-key", "GET", "/v1/videos", 401, "invalid_api_key", auth="k-wrong"),
    c("api-key-prefix-only", "GET", "/v1/videos", 401, "invalid_api_key", auth=KEY[:-1]),
    c("basic-auth-instead", "GET", "/v1/videos", 401, "missing_api_key", auth="BASIC"),
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A running gateway (no worker: nothing gets indexed) with API keys and a 2 MB limit,
    holding one accepted video (status queued)."""
    root = tmp_path_factory.mktemp("badreq")
    data = root / "data"
    env = service_env(
        data,
        VIDRAG_API_KEYS=f"other-key,{KEY}",
        VIDRAG_MAX_UPLOAD_BYTES=str(MAX_UPLOAD),
        VIDRAG_WARM_UP="false",
    )
    gw = Gateway(env).start()
    try:
        with gw.client(headers={"authorization": f"Bearer {KEY}"}) as client:
            r = upload(client, synth.small_video())
            assert r.status_code == 202, r.text
            yield {
                "gw": gw,
                "client": client,
                "root": root,
                "data": data,
                "vid": r.json()["id"],
                "port": gw.port,
            }
    finally:
        gw.stop()


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_bad_request_gets_its_4xx_type(gateway: dict[str, Any], case: Case) -> None:
    ctx = gateway
    headers: dict[str, str] = {}
    if case.auth == "BASIC":
        headers["authorization"] = "Basic dXNlcjpwYXNz"
    elif case.auth:
        headers["authorization"] = f"Bearer {case.auth}"
    kwargs = case.kwargs(ctx)
    headers.update(kwargs.pop("headers", {}))
    before = _files(ctx["root"])
    with httpx.Client(base_url=ctx["gw"].url, timeout=60) as client:
        path = case.path.replace("{vid}", ctx["vid"])
        r = client.request(case.method, path, headers=headers, **kwargs)
        body = r.json()
        assert (r.status_code, body["error"]["type"]) == (case.status, case.type), r.text
        assert body["error"]["code"] == case.status and body["error"]["message"]
        assert set(body) == {"error"}
        # still up and serving
        assert client.get("/healthz").status_code == 200
    assert ctx["gw"].alive()
    # a refused request leaves nothing behind: no temp upload, no new video, no stray file
    assert _files(ctx["root"]) - before <= {"data/vidrag.db-shm", "data/vidrag.db-wal"}
    assert not any((ctx["data"] / "tmp").iterdir())


def test_nothing_escaped_the_data_directory(gateway: dict[str, Any]) -> None:
    # runs after the corpus (file order): only the data directory exists beside it, and the
    # library holds exactly the one video accepted at the start
    assert sorted(p.name for p in gateway["root"].iterdir()) == ["data"]
    videos = [p.name for p in (gateway["data"] / "videos").iterdir()]
    assert videos == [gateway["vid"]]
    assert not Path("/tmp/evil.mp4").exists() and not Path("/etc/cron.d/evil.mp4").exists()
    r = gateway["client"].get("/v1/videos")
    assert r.status_code == 200 and [v["id"] for v in r.json()["videos"]] == [gateway["vid"]]


def test_health_endpoints_need_no_key(gateway: dict[str, Any]) -> None:
    with httpx.Client(base_url=gateway["gw"].url) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/docs").status_code == 200
        assert client.get("/openapi.json").status_code == 200
