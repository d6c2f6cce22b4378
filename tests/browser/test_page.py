"""The web page in a real browser against a real gateway and worker: upload with progress,
indexing to ready, a streamed extractive answer whose citation seeks the player into the cited
clip, thumbnails, deletion; rejected uploads, server errors and the API-key prompt as messages.

Screenshots land in .artifacts/browser/; VIDRAG_UPDATE_SCREENSHOT=1 also refreshes
docs/screenshot.png (the README shows it)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import ARTIFACTS, REPO

pytestmark = pytest.mark.browser

INDEX_TIMEOUT_MS = 8 * 60_000
LIBRARY_LOADED = (
    "() => document.querySelector('#library-list').getAttribute('aria-busy') === 'false'"
)


def _envelope(status: int, type_: str, message: str) -> dict[str, Any]:
    return {
        "status": status,
        "content_type": "application/json",
        "body": json.dumps({"error": {"type": type_, "message": message, "code": status}}),
    }


def _current_time(page: Any) -> float:
    return float(page.eval_on_selector("#player", "v => v.currentTime"))


def _seeked_into(page: Any, start: float, end: float) -> float:
    """Waits until the player has metadata and sits inside [start, end]; returns the time."""
    page.wait_for_function(
        """([a, b]) => { const v = document.querySelector('#player');
             return v.readyState >= 1 && v.currentTime >= a - 0.05 && v.currentTime <= b; }""",
        arg=[start, end],
    )
    return _current_time(page)


def _contents_play_their_moments(page: Any, needle: Any) -> None:
    """Chapters tile the video from 00:00:00; the transcript lists what was said and, as its
    second track, what was written on screen (the text needle among it); a line plays its
    moment and is marked as the one playing."""
    page.locator("#contents").wait_for()
    chapters = page.locator("#chapters .line")
    chapters.first.wait_for()
    assert chapters.first.get_attribute("data-start") == "0"
    ends = [float(c.get_attribute("data-end")) for c in chapters.all()]
    assert ends == sorted(ends) and abs(ends[-1] - 40) < 1, ends
    page.click("#tab-transcript")
    assert page.locator("#chapters-panel").is_hidden()
    page.locator("#transcript .line").first.wait_for()
    page.select_option("#transcript-track", "ocr")
    page.wait_for_function(
        "words => [...document.querySelectorAll('#transcript .line-text')]"
        ".some(t => words.some(w => t.textContent.toLowerCase().includes(w)))",
        arg=list(needle.answer_words),
    )
    line = next(
        li
        for li in page.locator("#transcript .line").all()
        if any(w in li.inner_text().lower() for w in needle.answer_words)
    )
    a, b = float(line.get_attribute("data-start")), float(line.get_attribute("data-end"))
    page.eval_on_selector("#player", "v => { v.pause(); v.currentTime = 0; }")
    line.click()
    _seeked_into(page, a, b)
    # paused inside the line (a seek fires timeupdate), it is the one marked as playing
    page.eval_on_selector("#player", "(v, t) => { v.pause(); v.currentTime = t; }", (a + b) / 2)
    page.wait_for_function(
        "el => el.getAttribute('aria-current') === 'true'", arg=line.element_handle()
    )
    page.click("#tab-chapters")


@pytest.mark.timeout(900)
def test_upload_index_ask_cite_and_delete(page: Any, gateway: str, needle_video: Any) -> None:
    needle = next(n for n in needle_video.needles if n.kind == "text")
    page.goto("/")
    page.set_input_files("#file-input", str(needle_video.path))
    assert "browser-haystack" in page.inner_text("#file-chosen")
    page.fill("#title-input", "Needle haystack")
    page.click("#upload-button")

    # the upload shows a progress bar, then follows the indexing until the video is ready
    transfer = page.locator(".transfer").first
    assert transfer.locator("progress").count() == 1
    status = transfer.locator(".transfer-status")
    status.filter(has_text=re.compile("indexing|ready|rejected|failed", re.I)).wait_for(
        timeout=60_000
    )
    assert not transfer.evaluate("t => t.classList.contains('error')"), status.inner_text()
    row = page.locator(".video", has_text="Needle haystack")
    row.wait_for()
    video_id = row.get_attribute("data-id")
    assert video_id
    page.wait_for_selector(
        f'.video[data-id="{video_id}"]:is([data-status="ready"], [data-status="failed"])',
        timeout=INDEX_TIMEOUT_MS,
    )
    assert row.get_attribute("data-status") == "ready", row.inner_text()
    transfer.locator(".transfer-status", has_text="Ready").wait_for()
    assert row.locator(".video-meta").inner_text().startswith("0:40")
    # the first ready video is selected: the player shows it and questions default to it
    page.wait_for_function("() => document.querySelector('#player').readyState >= 1")
    assert f"/v1/videos/{video_id}/media" in page.eval_on_selector("#player", "v => v.src")
    assert page.input_value("#scope") == "selected"

    page.fill("#question", needle.query)
    # the first question loads the text embedder in the gateway: allow for it
    with page.expect_response(re.compile(r"/v1/ask$"), timeout=120_000) as ask_info:
        page.press("#question", "Enter")  # the keyboard submits the form
    assert ask_info.value.headers["content-type"].startswith("text/event-stream")
    body = json.loads(ask_info.value.request.post_data or "{}")
    assert body["stream"] is True and body["video_ids"] == [video_id]
    page.wait_for_selector('#answer[aria-busy="false"]')
    assert page.locator("#answer-error").is_hidden(), page.inner_text("#answer-error")
    answer = page.inner_text("#answer")
    assert "Quoted from the videos" in answer, answer
    assert "Extractive answer" in page.inner_text("#answer-note")

    # citations: chips [hh:mm:ss]; one of them cites the needle's clip
    chips = page.locator("#citations .citation")
    assert chips.count() >= 1
    cited = [
        (float(c.get_attribute("data-start")), float(c.get_attribute("data-end")), c)
        for c in chips.all()
    ]
    for _, _, c in cited:
        assert re.fullmatch(r"\[\d\d:\d\d:\d\d\]", c.inner_text().strip())
    on_needle = [c for c in cited if c[0] <= needle.end_s and c[1] >= needle.start_s]
    assert on_needle, f"no citation overlaps the needle {needle}: {[c[:2] for c in cited]}"
    start, end, chip = on_needle[0]
    # the answer quotes the needle's clip with its time, as a button that plays it
    assert page.locator("#answer .inline-time", has_text=re.compile(r"^00:00:\d\d")).count()
    chip.focus()
    page.keyboard.press("Enter")  # a chip is a button: keyboard-operable
    t = _seeked_into(page, start, end)
    assert start - 0.05 <= t <= end

    # retrieved clips: thumbnails that load, evidence text with its modality, click to seek;
    # the needle's clip shows the words the needle is about
    hits = page.locator("#hits .hit")
    assert hits.count() >= 1
    page.wait_for_function(
        "() => [...document.querySelectorAll('#hits .hit img')].every(i => i.naturalWidth > 0)"
    )
    spans = [
        (float(h.get_attribute("data-start")), float(h.get_attribute("data-end")), h)
        for h in hits.all()
    ]
    hit_start, hit_end, hit = next(
        h for h in spans if h[0] <= needle.end_s and h[1] >= needle.start_s
    )
    evidence = hit.locator(".evidence").inner_text().lower()
    assert any(w in evidence for w in needle.answer_words), evidence
    assert hit.locator('.modality[data-modality="ocr"]').count() >= 1
    page.eval_on_selector("#player", "v => { v.pause(); v.currentTime = 0; }")
    hit.locator(".hit-button").click()
    _seeked_into(page, hit_start, hit_end)

    # the timeline under the player marks the retrieved clips; a mark plays its clip
    markers = page.locator("#timeline .marker")
    assert markers.count() == hits.count()
    mark = next(m for m in markers.all() if float(m.get_attribute("data-start")) == hit_start)
    page.eval_on_selector("#player", "v => { v.pause(); v.currentTime = 0; }")
    mark.click()
    _seeked_into(page, hit_start, hit_end)
    _contents_play_their_moments(page, needle)

    # the finished page, as a person sees it (the player paused on the cited moment)
    page.eval_on_selector("#player", "v => v.pause()")
    chip.click()
    _seeked_into(page, start, end)
    page.eval_on_selector("#player", "v => v.pause()")
    page.wait_for_function("() => document.querySelector('#player').readyState >= 2")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "answer-laptop.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("VIDRAG_UPDATE_SCREENSHOT") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, REPO / "docs" / "screenshot.png")
    # a phone: one column, nothing wider than the screen
    page.set_viewport_size({"width": 375, "height": 812})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=str(ARTIFACTS / "answer-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # delete, with a confirmation: the row, the player and the video itself go
    page.once("dialog", lambda d: d.accept())
    row.get_by_role("button", name=re.compile("^Delete")).click()
    row.wait_for(state="detached")
    assert page.locator("#player").is_hidden()
    assert httpx.get(f"{gateway}v1/videos/{video_id}", timeout=5).status_code == 404


def test_rejected_upload_says_why(page: Any, tmp_path: Path) -> None:
    fake = tmp_path / "holiday.mp4"
    fake.write_text("this is a text file, not a video\n" * 50)
    page.goto("/")
    page.set_input_files("#file-input", str(fake))
    page.click("#upload-button")
    status = page.locator(".transfer.error .transfer-status")
    status.wait_for()
    text = status.inner_text()
    # the server's own message, its error type and status (e.g. "not_a_video, 415")
    assert text.startswith("Rejected: "), text
    assert re.search(
        r"\((not_a_video|no_video_stream|invalid_media|corrupt_media), 4\d\d\)", text
    ), text
    assert status.get_attribute("role") == "alert"
    assert page.locator(".video").count() == page.locator(".video[data-status]").count()
    assert "holiday" not in page.inner_text("#library-list")


def test_server_errors_are_shown(page: Any) -> None:
    # the library fails to load: a 503 with the error envelope
    page.route(
        "**/v1/videos",
        lambda r: r.fulfill(**_envelope(503, "queue_unavailable", "The queue is down")),
    )
    page.goto("/")
    alert = page.locator("#messages [role=alert]").first
    alert.wait_for()
    assert "The queue is down (queue_unavailable, 503)" in alert.inner_text()

    # asking fails with a bare 500 from a proxy
    page.route(
        "**/v1/ask",
        lambda r: r.fulfill(status=500, body="Internal Server Error", content_type="text/plain"),
    )
    page.select_option("#scope", "all")
    page.fill("#question", "what happens?")
    page.click("#ask-button")
    error = page.locator("#answer-error")
    error.wait_for()
    assert "Internal Server Error (server_error, 500)" in error.inner_text()
    assert page.locator("#ask-button").is_enabled()

    # the stream breaks off with an `error` event after part of the answer
    page.unroute("**/v1/ask")
    stream = (
        'event: hits\ndata: {"hits": []}\n\n'
        'event: delta\ndata: {"text": "The answer starts"}\n\n'
        'event: error\ndata: {"error": {"type": "lmm_unavailable", '
        '"message": "The language model did not answer", "code": 503}}\n\n'
    )
    page.route(
        "**/v1/ask", lambda r: r.fulfill(status=200, body=stream, content_type="text/event-stream")
    )
    page.click("#ask-button")
    page.wait_for_function(
        "() => !document.querySelector('#answer-error').hidden "
        "&& document.querySelector('#answer-error').textContent"
        ".includes('lmm_unavailable')"
    )
    assert "The language model did not answer (lmm_unavailable, 503)" in page.inner_text(
        "#answer-error"
    )
    assert page.inner_text("#answer") == "The answer starts"


def test_api_key_prompt_and_header(page: Any) -> None:
    seen: list[tuple[str, str | None]] = []

    def guard(route: Any) -> None:
        """Only the key opens /v1; media elements may carry it in the query instead."""
        url, auth = route.request.url, route.request.headers.get("authorization")
        seen.append((url, auth))
        by_query = re.search(r"/(media|frames/[\d.]+)\?api_key=sekrit$", url)
        if auth == "Bearer sekrit" or by_query:
            route.continue_()
        else:
            kind = "missing_api_key" if not auth else "invalid_api_key"
            route.fulfill(**_envelope(401, kind, "this endpoint needs an API key"))

    def all_keyed() -> bool:
        return all(a == "Bearer sekrit" or u.endswith("api_key=sekrit") for u, a in seen)

    page.route("**/v1/**", guard)
    page.goto("/")
    key = page.locator("#api-key")
    key.wait_for(state="visible")
    assert page.evaluate("document.activeElement.id") == "api-key"
    assert "missing_api_key" in page.inner_text("#messages")
    key.fill("sekrit")
    seen.clear()
    key.press("Enter")
    page.wait_for_function(LIBRARY_LOADED)
    assert page.locator("#messages [role=alert]").count() == 0
    assert seen and all_keyed(), seen
    assert page.evaluate("localStorage.getItem('vidrag.apiKey')") == "sekrit"
    # media elements cannot send headers: the player's URL carries the key instead
    media = page.evaluate("import('./api.js').then(m => m.mediaUrl('abc'))")
    assert media.endswith("/v1/videos/abc/media?api_key=sekrit")
    # the key survives a reload and is sent from the first request on
    seen.clear()
    page.reload()
    page.wait_for_function(LIBRARY_LOADED)
    assert seen and all_keyed(), seen
    assert page.locator("#key-form").is_visible()
    assert page.locator("#messages [role=alert]").count() == 0


def test_sse_framing(page: Any) -> None:
    """The stream parser: CRLF split across chunks, multi-line data, comments, no final blank."""
    page.goto("/")
    events = page.evaluate(
        """async () => {
          const { EventParser } = await import('./sse.js');
          const p = new EventParser();
          const chunks = [': hello\\r', '\\nevent: delta\\r\\ndata: {"text":', ' "a"}\\r',
                          '\\n\\r\\ndata: line1\\ndata: line2\\n\\nevent: done\\ndata: {}'];
          const out = [];
          chunks.forEach((c, i) => { for (const e of p.push(c, false)) out.push(e); });
          for (const e of p.push('', true)) out.push(e);
          return out.map(e => [e.event, e.data]);
        }"""
    )
    assert events == [["delta", '{"text": "a"}'], ["message", "line1\nline2"], ["done", "{}"]]


def test_keyboard_reaches_every_control(page: Any) -> None:
    page.goto("/")
    reached: set[str] = set()
    for _ in range(40):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id || document.activeElement.className"))
    assert {"file-input", "title-input", "question", "scope", "top-k", "ask-button"} <= reached
    # focus is visible: the focused control gets an outline
    page.focus("#question")
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")


def test_answer_times_become_buttons(page: Any) -> None:
    """Times in an answer link to the cited clip of the right video, even at equal times."""
    page.goto("/")
    parts = page.evaluate(
        """async () => {
          const { linkify } = await import('./moments.js');
          const text = 'Moments:\\n[vidA 00:00:10–00:00:20] said: “x”\\n' +
                       '[vidB 00:00:10–00:00:20] on screen: “y” at 1:02:03 too';
          const cites = [{video_id: 'vidA', start_s: 10, end_s: 20},
                         {video_id: 'vidB', start_s: 10, end_s: 20}];
          return linkify(text, cites).map(n => typeof n === 'string' ? n
                                         : [n.textContent, n.getAttribute('aria-label')]);
        }"""
    )
    buttons = [p for p in parts if isinstance(p, list)]
    assert buttons == [
        ["00:00:10–00:00:20", "Play vidA from 00:00:10"],
        ["00:00:10–00:00:20", "Play vidB from 00:00:10"],
    ]  # 1:02:03 is in no cited clip and two videos are in play: it stays text
    assert "".join(p if isinstance(p, str) else p[0] for p in parts).endswith("at 1:02:03 too")


def test_api_docs_render_with_no_network(page: Any, gateway: str) -> None:
    """Swagger UI at /docs draws every route from the package's own assets: a request that
    leaves the gateway (a CDN, as FastAPI's default page would make) fails the test."""
    outside: list[str] = []

    def only_local(route: Any) -> None:
        if route.request.url.startswith(gateway.rstrip("/")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto("/docs")
    page.locator(".swagger-ui .opblock").first.wait_for()
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/v1/ask" in paths and "/v1/chat/completions" in paths, paths
    assert page.locator(".swagger-ui .info .title").inner_text().strip()
    assert not outside, outside
