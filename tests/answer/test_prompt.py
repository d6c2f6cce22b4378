"""The chat request built from retrieved clips: layout, budgets, images, determinism."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.answer.frames import allot_images, pick_frames
from app.answer.lmm import LMMContextOverflow
from app.answer.prompt import SYSTEM_PROMPT, SYSTEM_PROMPT_TEXT, build_prompt, clip_label
from app.answer.settings import LMMSettings
from app.answer.tokens import estimate, fit, request_tokens
from indexer.store import Library
from indexer.types import Hit
from tests.answer.fakes import MODEL, TITLES, make_hit


def settings(**kw: object) -> LMMSettings:
    base: dict[str, object] = dict(
        base_urls=["http://vllm:8000/v1"],
        model=MODEL,
        max_clips=3,
        frames_per_clip=2,
        max_images=5,
        image_max_side=448,
        max_tokens=256,
        temperature=0.0,
    )
    base.update(kw)
    return LMMSettings(**base)  # type: ignore[arg-type]


def decode(part: dict) -> Image.Image:
    url = part["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    im = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert im.format == "JPEG"
    return im.convert("RGB")


def test_request_layout(library: Library, hits: list[Hit]) -> None:
    p = build_prompt("What is the launch code?", hits, TITLES, library, settings())
    req = p.request
    assert set(req) == {"model", "messages", "max_tokens", "temperature"}
    assert (req["model"], req["max_tokens"], req["temperature"]) == (MODEL, 256, 0.0)
    system, user = req["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert user["role"] == "user"
    parts = user["content"]
    # grouped by video (Lecture one holds the best hit), in time order; images round-robin by
    # rank within the budget of 5: best clip 2, second 2, third 1
    assert [p_["type"] for p_ in parts] == [
        "text", "image_url",
        "text", "image_url", "image_url",
        "text", "image_url", "image_url",
        "text",
    ]  # fmt: skip
    texts = [p_["text"] for p_ in parts if p_["type"] == "text"]
    assert texts[0] == "[Lecture one · 00:00:10–00:00:20]\nOn-screen text: EXIT 12"
    assert texts[1] == (
        "[Lecture one · 00:12:30–00:12:41]\nSpeech: the launch code is seven four two\n"
        "On-screen text: CODE 742\nObjects: 1 person, 1 laptop"
    )
    assert texts[2] == "[Board meeting · 00:00:10–00:00:20]\nSpeech: welcome to the budget meeting"
    assert texts[3].startswith("Question: What is the launch code?\n")
    images = [decode(p_) for p_ in parts if p_["type"] == "image_url"]
    assert [im.size for im in images] == [(448, 252)] * 5  # 640x360 frames, long side 448
    # which frames: the fixture paints frame k of a clip with red = 40 * k; one frame of four
    # is the third (k=2), two frames of four are the second and fourth (k=1, 3)
    reds = [round(im.getchannel("R").getpixel((400, 200)) / 40) for im in images]  # type: ignore[operator]
    assert reds == [2, 1, 3, 1, 3]
    assert [(c.video_id, c.clip_index, c.rank, c.images) for c in p.clips] == [
        ("aaaa", 1, 2, 1), ("aaaa", 75, 0, 2), ("bbbb", 1, 1, 2)]  # fmt: skip
    assert p.images == 5 and p.skipped_frames == []


def test_same_input_same_request(library: Library, hits: list[Hit]) -> None:
    a = build_prompt("q?", hits, TITLES, library, settings())
    b = build_prompt("q?", hits, TITLES, library, settings())
    assert json.dumps(a.request) == json.dumps(b.request)


def test_image_budget_is_a_hard_cap(library: Library) -> None:
    many = [make_hit("aaaa", i, 10.0, 20.0, 1 - i / 10) for i in range(6)]
    s = settings(max_clips=6, frames_per_clip=3, max_images=4)
    p = build_prompt("q", many, TITLES, library, s)
    sent = [x for x in p.request["messages"][1]["content"] if x["type"] == "image_url"]
    assert len(sent) == p.images == 4
    # the four best-ranked clips get one frame each before any gets a second
    assert sorted((c.rank, c.images) for c in p.clips) == [
        (0, 1), (1, 1), (2, 1), (3, 1), (4, 0), (5, 0)]  # fmt: skip


def test_clips_are_deduplicated_and_capped(library: Library, hits: list[Hit]) -> None:
    p = build_prompt(
        "q", [hits[0], hits[0], hits[1], hits[2]], TITLES, library, settings(max_clips=2)
    )
    assert [(c.video_id, c.clip_index) for c in p.clips] == [("aaaa", 75), ("bbbb", 1)]


def test_text_budget_shares_characters(library: Library) -> None:
    hit = make_hit("aaaa", 1, 10.0, 20.0, 1.0, speech="word " * 200, ocr="EXIT 12")
    p = build_prompt("q", [hit], TITLES, library, settings(text_chars_per_clip=120))
    text = p.request["messages"][1]["content"][0]["text"]
    _header, speech, ocr = text.split("\n")
    assert ocr == "On-screen text: EXIT 12"  # short lines stay whole
    assert speech.startswith("Speech: word word") and speech.endswith("…")
    assert len(speech) - len("Speech: ") + len("EXIT 12") <= 120


def test_unreadable_and_escaping_frames_are_left_out(library: Library) -> None:
    root = library.store("aaaa").root
    (root / "frames" / "broken.jpg").write_bytes(b"not a jpeg")
    hit = make_hit("aaaa", 1, 10.0, 20.0, 1.0, speech="hi")
    hit.frames = [
        "frames/missing.jpg",
        "../bbbb/frames/000010.jpg",
        "frames/broken.jpg",
        "frames/000012.jpg",
    ]
    p = build_prompt("q", [hit], TITLES, library, settings(frames_per_clip=4))
    assert p.images == 1
    assert p.skipped_frames == [
        "aaaa/frames/missing.jpg",
        "aaaa/../bbbb/frames/000010.jpg",
        "aaaa/frames/broken.jpg",
    ]


def test_titles_cannot_break_the_label() -> None:
    assert clip_label("a [weird]\ntitle · x", 3599.5, 3600.2) == (
        "[a (weird) title - x · 00:59:59–01:00:01]"
    )


def test_helpers() -> None:
    assert allot_images([4, 1, 0, 4], per_clip=2, total=10) == [2, 1, 0, 2]
    assert allot_images([4, 4], per_clip=3, total=3) == [2, 1]
    assert pick_frames(["a", "b", "c", "d", "e"], 1) == ["c"]
    assert pick_frames(["a", "b"], 5) == ["a", "b"]
    assert pick_frames([], 2) == []


def test_vllm_flags_follow_the_budget() -> None:
    s = LMMSettings(max_images=7, max_model_len=8192)
    assert s.vllm_args() == [
        "--limit-mm-per-prompt",
        '{"image":7,"video":0}',
        "--max-model-len",
        "8192",
    ]


class _Env(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIDRAG_", env_nested_delimiter="__")
    lmm: LMMSettings = LMMSettings()


@pytest.mark.parametrize(
    "value", ["http://a:8000/v1/, http://b:8000/v1", '["http://a:8000/v1/", "http://b:8000/v1"]']
)
def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("VIDRAG_LMM__BASE_URLS", value)
    monkeypatch.setenv("VIDRAG_LMM__MAX_IMAGES", "9")
    monkeypatch.setenv("VIDRAG_LMM__API_KEY", "sekrit")
    s = _Env().lmm
    assert s.base_urls == ["http://a:8000/v1", "http://b:8000/v1"]
    assert s.max_images == 9 and s.enabled
    assert s.api_key is not None and s.api_key.get_secret_value() == "sekrit"
    assert "sekrit" not in repr(s)


def test_settings_refuse_non_http_urls() -> None:
    with pytest.raises(ValueError, match="http"):
        LMMSettings(base_urls=["vllm:8000"])
    assert not LMMSettings().enabled


def test_text_only_request(library: Library, hits: list[Hit]) -> None:
    p = build_prompt("What is the launch code?", hits, TITLES, library, settings(), vision=False)
    system, user = p.request["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT_TEXT}
    assert "frames" not in SYSTEM_PROMPT_TEXT and "frames" in SYSTEM_PROMPT
    assert isinstance(user["content"], str) and "image" not in json.dumps(p.request)
    blocks = user["content"].split("\n\n")
    assert blocks[0] == "[Lecture one · 00:00:10–00:00:20]\nOn-screen text: EXIT 12"
    assert blocks[1].startswith("[Lecture one · 00:12:30–00:12:41]\nSpeech: the launch code")
    assert blocks[3].startswith("Question: What is the launch code?")
    assert p.images == 0 and not p.vision and len(p.clips) == 3


def test_prompt_fits_the_context(library: Library) -> None:
    long = [
        make_hit("aaaa", i, 10.0, 20.0, 1 - i / 10, speech=f"clip {i} " + "word " * 300)
        for i in range(6)
    ]
    s = settings(max_clips=6, max_tokens=200, text_chars_per_clip=1200, image_tokens=300)
    roomy = build_prompt("q?", long, TITLES, library, s, vision=False, context_tokens=16384)
    assert len(roomy.clips) == 6
    for ctx in (4096, 1500, 700):
        p = build_prompt("q?", long, TITLES, library, s, vision=False, context_tokens=ctx)
        assert p.estimated_tokens + 200 <= ctx and p.context_tokens == ctx
        assert p.estimated_tokens == request_tokens(p.request["messages"], 300)
        assert 1 <= len(p.clips) <= 6 and p.clips[0].rank == 0  # the best clip stays
    small = build_prompt("q?", long, TITLES, library, s, vision=False, context_tokens=700)
    assert len(small.clips) < 6  # fewer clips rather than crumbs of each
    # frames take at most half of the room left for evidence
    p = build_prompt("q?", long, TITLES, library, s, context_tokens=1500)
    assert p.images >= 1 and p.images * 300 <= (1500 - 200) / 2
    assert p.estimated_tokens + 200 <= 1500 and p.skipped_frames == []
    with pytest.raises(LMMContextOverflow, match="cannot hold the question"):
        build_prompt("q?", long, TITLES, library, s, context_tokens=300)


def test_token_estimate_and_fit() -> None:
    assert estimate("00:12:30") == 6 + 1  # digits one token each
    assert estimate("hello world") == 4  # 11 bytes / 3
    assert estimate("愚园路") == 3
    cut = fit("the quick brown fox jumps over the lazy dog", 6)
    assert cut.endswith("…") and estimate(cut) <= 6 and cut.startswith("the quick")
    assert fit("short", 10) == "short"


def test_new_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDRAG_LMM__VISION", "false")
    monkeypatch.setenv("VIDRAG_LMM__MAX_CONTEXT_TOKENS", "2048")
    monkeypatch.setenv("VIDRAG_LMM__STOP", '["\\nQuestion:"]')
    s = _Env().lmm
    assert (s.vision, s.context_tokens, s.stop) == ("false", 2048, ["\nQuestion:"])
    assert LMMSettings().context_tokens == LMMSettings().max_model_len
    with pytest.raises(ValueError):
        LMMSettings(vision="maybe")
    with pytest.raises(ValueError):
        LMMSettings(max_context_tokens=100)
