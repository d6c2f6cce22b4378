"""OCR: RapidOCR on generated signs, book text and a word crop, PaddleOCR's contract on recorded
outputs, and on-screen text over time (dedupe, blank skipping, span merging) with the real reader
and scripted ones."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pytest

from indexer.errors import ModelUnavailable
from indexer.extractors.base import Availability, TextReader
from indexer.extractors.ocr.paddle import PaddleOCRReader
from indexer.extractors.ocr.rapid import RapidOCRReader
from indexer.extractors.ocr.spans import (
    dhash,
    hamming,
    may_hold_text,
    merge_spans,
    normalise_text,
    read_text_over_time,
)
from indexer.settings import OCRSettings
from indexer.types import OcrSpan, TextBox
from tests.vision_helpers import (
    WORD,
    blank_frame,
    book_page,
    jpeg_roundtrip,
    litter_sign,
    road_sign,
    text_images,
    video_frame,
    word_crop,
)

# the change gate alone: every frame that differs from the last one read is read (the default
# minimum interval between reads is tested in tests/test_frame_sampling.py)
CHANGE_GATE = OCRSettings(min_interval_s=0.0)


def joined(lines: Sequence[TextBox]) -> str:
    return normalise_text(" ".join(line.text for line in lines))


def line_with(lines: Sequence[TextBox], words: str) -> TextBox:
    return next(line for line in lines if normalise_text(words) in normalise_text(line.text))


def assert_boxes_valid(lines: Sequence[TextBox]) -> None:
    for line in lines:
        x0, y0, x1, y1 = line.box
        assert 0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0, line


@pytest.fixture(scope="module")
def rapid() -> RapidOCRReader:
    reader = RapidOCRReader(OCRSettings())
    assert reader.availability().ok
    reader.warm_up()
    return reader


@pytest.fixture(scope="module")
def sign() -> np.ndarray:
    return litter_sign()  # "No Litter / Fine up to 20,000 yen / Minato City", 560x420


@pytest.fixture(scope="module")
def book() -> np.ndarray:
    return book_page()  # three lines of book text


@pytest.fixture(scope="module")
def street() -> np.ndarray:
    return road_sign()  # "Harbour Rd. / Ferry Terminal ->"


# --- RapidOCR on generated images -----------------------------------------------------------------
def test_rapidocr_reads_a_street_sign_top_to_bottom(rapid: RapidOCRReader, sign: np.ndarray):
    [lines] = rapid.read([sign])
    text = joined(lines)
    assert "nolitter" in text and "minatocity" in text and "fineupto20,000yen" in text
    assert_boxes_valid(lines)
    tops = [line.box[1] for line in lines]
    assert tops == sorted(tops)  # reading order
    assert all(line.score >= OCRSettings().min_score for line in lines)


def test_rapidocr_reads_a_page_of_book_text(rapid: RapidOCRReader, book: np.ndarray):
    [lines] = rapid.read([book])
    text = joined(lines)
    assert "technicaldetailsaretoocomplextocover" in text
    assert "inteachingourcourses" in text and "smallimplementationprojects" in text
    assert len(lines) == 3
    tops = [line.box[1] for line in lines]
    assert tops == sorted(tops)


def test_rapidocr_reads_a_word_crop(rapid: RapidOCRReader):
    [lines] = rapid.read([word_crop()])
    assert [line.text for line in lines] == [WORD]


def test_rapidocr_boxes_follow_the_text_into_a_video_frame(rapid: RapidOCRReader, sign: np.ndarray):
    frame = video_frame(sign)
    [direct, framed] = rapid.read([sign, frame])
    # where the sign landed in the letterboxed frame
    scale = min(frame.shape[1] / sign.shape[1], frame.shape[0] / sign.shape[0])
    w, h = sign.shape[1] * scale, sign.shape[0] * scale
    ox, oy = (frame.shape[1] - w) / 2, (frame.shape[0] - h) / 2
    x0, y0, x1, y1 = line_with(direct, "LITTER").box
    expected = (
        (ox + x0 * w) / frame.shape[1],
        (oy + y0 * h) / frame.shape[0],
        (ox + x1 * w) / frame.shape[1],
        (oy + y1 * h) / frame.shape[0],
    )
    assert np.allclose(line_with(framed, "LITTER").box, expected, atol=0.03)


def test_rapidocr_downscales_to_max_side_and_keeps_boxes(sign: np.ndarray):
    reader = RapidOCRReader(OCRSettings(max_side=960))
    big = np.repeat(np.repeat(sign, 2, axis=0), 2, axis=1)  # 1120x840: over max_side
    [small_lines, big_lines] = reader.read([sign, big])
    a, b = line_with(small_lines, "LITTER").box, line_with(big_lines, "LITTER").box
    assert np.allclose(a, b, atol=0.03)


def test_rapidocr_drops_lines_under_min_score(rapid: RapidOCRReader, sign: np.ndarray):
    [all_lines] = rapid.read([sign])
    strict = RapidOCRReader(OCRSettings(min_score=0.97))
    [kept] = strict.read([sign])
    assert all(line.score >= 0.97 for line in kept)
    assert len(kept) < len(all_lines)


def test_rapidocr_hands_bgr_to_its_engine(rapid: RapidOCRReader, monkeypatch):
    seen: list[np.ndarray] = []

    def engine(image: np.ndarray, use_cls: bool) -> tuple[None, None]:
        seen.append(image)
        return None, None  # what RapidOCR answers for an image without text

    monkeypatch.setattr(rapid, "_engine", engine)
    red = np.zeros((40, 60, 3), dtype=np.uint8)
    red[..., 0] = 255
    assert rapid.read([red]) == [[]]
    assert seen[0][0, 0].tolist() == [0, 0, 255] and seen[0].flags.c_contiguous


def test_rapidocr_rejects_non_rgb_input(rapid: RapidOCRReader):
    with pytest.raises(ValueError, match="RGB"):
        rapid.read([np.zeros((32, 32), dtype=np.uint8)])


# --- text over time --------------------------------------------------------------------------
class SpyReader:
    """Passes reads through to a real reader and records how many images each call had."""

    name: ClassVar[str] = "spy"

    def __init__(self, inner: TextReader) -> None:
        self.inner = inner
        self.calls: list[int] = []

    def availability(self) -> Availability:
        return self.inner.availability()

    def warm_up(self) -> None:
        self.inner.warm_up()

    def read(self, images: Sequence[np.ndarray]) -> list[list[TextBox]]:
        self.calls.append(len(images))
        return self.inner.read(images)


def spans_with(spans: Sequence[OcrSpan], words: str) -> list[OcrSpan]:
    return [s for s in spans if normalise_text(words) in normalise_text(s.text)]


def test_text_over_time_reads_only_changed_frames(
    rapid: RapidOCRReader, sign: np.ndarray, street: np.ndarray
):
    s, b = video_frame(sign), video_frame(street)
    frames = [
        (0.0, s), (1.0, jpeg_roundtrip(s, 80)), (2.0, jpeg_roundtrip(s, 60)),
        (3.0, b), (4.0, jpeg_roundtrip(b)),
        (5.0, blank_frame()), (6.0, blank_frame()),
        (7.0, s),
    ]  # fmt: skip
    spy = SpyReader(rapid)
    spans = read_text_over_time(spy, frames, CHANGE_GATE)
    assert sum(spy.calls) == 3  # a sign, another, the first again; repeats and blanks skipped
    litter = spans_with(spans, "LITTER")
    assert [(x.first_s, x.last_s) for x in litter] == [(0.0, 2.0), (7.0, 7.0)]
    road = spans_with(spans, "Harbour Rd")
    assert [(x.first_s, x.last_s) for x in road] == [(3.0, 4.0)]
    assert not [x for x in spans if x.first_s <= 5.5 <= x.last_s]  # nothing during the blank
    assert [x.first_s for x in spans] == sorted(x.first_s for x in spans)


def test_unchanged_text_is_reread_now_and_then(rapid: RapidOCRReader, sign: np.ndarray):
    s = video_frame(sign)
    frames = [(float(t), jpeg_roundtrip(s, 70 + t % 10)) for t in range(25)]
    spy = SpyReader(rapid)
    spans = read_text_over_time(spy, frames, OCRSettings())
    assert sum(spy.calls) == 3  # t = 0, 10, 20
    assert [(x.first_s, x.last_s) for x in spans_with(spans, "LITTER")] == [(0.0, 24.0)]


MISREAD = {"EXIT I2"}


class ScriptedReader:
    """A reader that answers pre-set lines per call, to test the time logic on its own."""

    name: ClassVar[str] = "scripted"

    def __init__(self, script: list[list[str]]) -> None:
        self.script = list(script)

    def availability(self) -> Availability:
        return Availability(True, self.name, "")

    def warm_up(self) -> None:
        pass

    def read(self, images: Sequence[np.ndarray]) -> list[list[TextBox]]:
        out = []
        for _ in images:
            texts = self.script.pop(0)
            out.append([
                TextBox(text=t, score=0.7 if t in MISREAD else 0.9, box=(0.1, k / 10, 0.5, 0.2))
                for k, t in enumerate(texts)
            ])  # fmt: skip
        return out


def noise_frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.integers(0, 256, (90, 160, 3), dtype=np.uint8) for _ in range(n)]


def test_lines_are_followed_across_ocr_jitter_and_gaps():
    script = [["EXIT 12", "Main St"], ["EXIT I2", "Main St"], ["Main St"], ["EXIT 12"]]
    frames = [(float(t), im) for t, im in enumerate(noise_frames(4))]
    spans = read_text_over_time(ScriptedReader(script), frames, CHANGE_GATE)
    got = sorted((s.text, s.first_s, s.last_s) for s in spans)
    # "EXIT I2" is the same line misread; the better-scoring reading names the span
    assert got == [("EXIT 12", 0.0, 1.0), ("EXIT 12", 3.0, 3.0), ("Main St", 0.0, 2.0)]


def test_no_frames_no_reads():
    reader = ScriptedReader([])
    assert read_text_over_time(reader, [], OCRSettings()) == []


def test_dedupe_bits_decides_what_counts_as_the_same_picture(sign: np.ndarray):
    s = video_frame(sign)
    frames = [(0.0, s), (1.0, jpeg_roundtrip(s)), (2.0, jpeg_roundtrip(s, 50))]
    every = ScriptedReader([["x"]] * 3)
    read_text_over_time(every, frames, CHANGE_GATE.model_copy(update={"dedupe_bits": 0}))
    assert every.script == []  # 0 bits: every frame is new
    once = ScriptedReader([["x"]] * 3)
    spans = read_text_over_time(once, frames, CHANGE_GATE)
    assert len(once.script) == 2 and [(x.first_s, x.last_s) for x in spans] == [(0.0, 2.0)]


def test_difference_hash_separates_pictures_not_compression(sign: np.ndarray, street: np.ndarray):
    s, b = video_frame(sign), video_frame(street)
    limit = OCRSettings().dedupe_bits
    assert hamming(dhash(s), dhash(s)) == 0
    for image in (s, b):
        assert hamming(dhash(image), dhash(jpeg_roundtrip(image, 40))) < limit
    assert hamming(dhash(s), dhash(b)) >= limit
    assert 0 <= dhash(s) < 2**64


def test_flat_frames_cannot_hold_text(sign: np.ndarray):
    gradient = np.repeat(np.linspace(0, 255, 796, dtype=np.uint8)[None, :, None], 448, 0)
    for frame in (blank_frame(0), blank_frame(255), blank_frame(128), gradient.repeat(3, 2)):
        assert not may_hold_text(frame)
    for name, image in text_images().items():
        assert may_hold_text(video_frame(image)), name
    faded = (sign.astype(np.float32) * 0.06).astype(np.uint8)  # RapidOCR still reads this
    assert may_hold_text(faded)


def span(text: str, first: float, last: float, score: float = 0.9) -> OcrSpan:
    return OcrSpan(text=text, first_s=first, last_s=last, score=score, box=(0.1, 0.1, 0.5, 0.2))


def test_merge_spans_joins_the_same_text_across_a_short_gap():
    parts = [
        span("Big Buck Bunny", 290.0, 300.0, 0.8),
        span("BIG BUCK BUNNY", 300.5, 310.0, 0.95),  # next part, case differs
        span("Big Buck Bunny", 400.0, 401.0),  # much later: a new appearance
        span("Credits", 299.0, 301.0),
    ]
    merged = merge_spans(parts, max_gap_s=2.0)
    got = [(s.text, s.first_s, s.last_s, s.score) for s in merged]
    assert got == [
        ("BIG BUCK BUNNY", 290.0, 310.0, 0.95),
        ("Credits", 299.0, 301.0, 0.9),
        ("Big Buck Bunny", 400.0, 401.0, 0.9),
    ]
    assert merge_spans([], 2.0) == []
    assert parts[0].last_s == 300.0  # inputs untouched


# --- PaddleOCR: contract on recorded outputs -------------------------------------------------
def test_paddleocr_is_off_with_a_reason_when_not_installed():
    if "paddleocr" in sys.modules or importlib.util.find_spec("paddleocr") is not None:
        pytest.skip("paddleocr is installed here")
    status = PaddleOCRReader(OCRSettings()).availability()
    assert not status.ok and "paddleocr is not installed" in status.reason


def fake_module(name: str, version: str, engine: type) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    module.__version__ = version  # type: ignore[attr-defined]
    module.PaddleOCR = engine  # type: ignore[attr-defined]
    return module


def recorded_v3(width: int) -> dict[str, Any]:
    """Shaped like a paddleocr 3.x OCRResult (its printed form in the PaddleOCR docs)."""
    polys = np.array([[[3, 10], [82, 10], [82, 33], [3, 33]],
                      [[20, 40], [width + 5, 38], [width + 5, 60], [20, 62]],
                      [[5, 70], [30, 70], [30, 80], [5, 80]]], dtype=np.int16)  # fmt: skip
    return {
        "input_path": None, "page_index": None,
        "model_settings": {"use_doc_preprocessor": False, "use_textline_orientation": False},
        "dt_polys": polys, "text_type": "general",
        "text_det_params": {"limit_side_len": 960, "limit_type": "max", "thresh": 0.3},
        "textline_orientation_angles": np.array([-1, -1, -1]), "text_rec_score_thresh": 0.6,
        "rec_texts": ["www.997700", "BOARDING PASS", "Cm"],
        "rec_scores": np.array([0.898, 0.991, 0.42]),
        "rec_polys": polys, "rec_boxes": np.array([[3, 10, 82, 33]], dtype=np.int16),
    }  # fmt: skip


class FakePaddleV3:
    instances: ClassVar[list[FakePaddleV3]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.seen: list[np.ndarray] = []
        FakePaddleV3.instances.append(self)

    def predict(self, images: list[np.ndarray]) -> list[dict[str, Any]]:
        self.seen.extend(images)
        empty = {"rec_texts": [], "rec_scores": np.array([]), "rec_polys": []}
        return [recorded_v3(im.shape[1]) if im.any() else {"res": empty} for im in images]


def test_paddleocr_3x_results_become_text_boxes(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "paddleocr", fake_module("paddleocr", "3.2.0", FakePaddleV3))
    reader = PaddleOCRReader(OCRSettings(device="cuda", max_side=640))
    red = np.zeros((100, 200, 3), dtype=np.uint8)
    red[..., 0] = 255
    [lines, none] = reader.read([red, np.zeros((50, 80, 3), dtype=np.uint8)])
    engine = FakePaddleV3.instances[-1]
    assert engine.kwargs["lang"] == "en" and engine.kwargs["device"] == "gpu"
    assert engine.kwargs["text_det_limit_side_len"] == 640
    assert engine.kwargs["use_doc_unwarping"] is False
    assert engine.seen[0][0, 0].tolist() == [0, 0, 255]  # handed over as BGR
    assert [line.text for line in lines] == ["www.997700", "BOARDING PASS"]  # 0.42 < min_score
    assert lines[0].box == pytest.approx((3 / 200, 10 / 100, 82 / 200, 33 / 100))
    assert lines[1].box[2] == 1.0  # a polygon past the edge is clipped
    assert none == []


class FakePaddleV2:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs

    def ocr(self, image: np.ndarray, cls: bool = True) -> list[Any]:
        if not image.any():
            return [None]  # 2.x answers None for an image without text
        return [[[[[10.0, 5.0], [90.0, 5.0], [90.0, 25.0], [10.0, 25.0]], ("EXIT 12", 0.97)]]]


def test_paddleocr_2x_results_become_text_boxes(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "paddleocr", fake_module("paddleocr", "2.9.1", FakePaddleV2))
    reader = PaddleOCRReader(OCRSettings())
    image = np.full((50, 100, 3), 200, dtype=np.uint8)
    [lines, none] = reader.read([image, np.zeros_like(image)])
    assert [(x.text, x.box) for x in lines] == [("EXIT 12", (0.1, 0.1, 0.9, 0.5))]
    assert none == []


def test_paddleocr_load_failure_is_model_unavailable(monkeypatch: pytest.MonkeyPatch):
    class Offline:
        def __init__(self, **kwargs: Any) -> None:
            raise Exception("No available model hosting platforms detected.")  # PaddleX's words

    monkeypatch.setitem(sys.modules, "paddleocr", fake_module("paddleocr", "3.2.0", Offline))
    with pytest.raises(ModelUnavailable, match="hosting platforms"):
        PaddleOCRReader(OCRSettings()).warm_up()


def test_paddleocr_availability_looks_in_the_model_cache(monkeypatch, tmp_path):
    for name in ("paddleocr", "paddle"):
        monkeypatch.setitem(sys.modules, name, fake_module(name, "3.2.0", FakePaddleV3))
    monkeypatch.setenv("PADDLE_PDX_CACHE_HOME", str(tmp_path))
    offline = PaddleOCRReader(OCRSettings(), offline=True)
    status = offline.availability()
    assert not status.ok and "hub access is off" in status.reason
    for model in ("PP-OCRv5_server_det", "en_PP-OCRv5_mobile_rec"):
        (tmp_path / "official_models" / model).mkdir(parents=True)
    assert offline.availability().ok
