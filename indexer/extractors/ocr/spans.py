"""On-screen text over time: OCR only the frames whose picture changed, and turn the lines read
on successive frames into spans (`OcrSpan`: text, first and last time seen).

Backend-independent: works with any `TextReader`. OCR costs ~0.2-0.4 s a frame on a CPU even
for a blank frame, while video text mostly stays put for seconds; so each frame gets a 64-bit
difference hash, and a frame whose hash is within `dedupe_bits` of the last frame that was read
is taken to show the same text. Frames too flat to hold legible text are not read at all."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from difflib import SequenceMatcher

import numpy as np

from indexer.extractors.base import Image, TextReader
from indexer.settings import OCRSettings
from indexer.types import OcrSpan, TextBox

# a frame whose hash matches the last read frame is still re-read after this long, so text that
# changes without moving the coarse picture (a new slide on the same template) is found late
# rather than never
REFRESH_S = 10.0
# frames whose strongest local edges stay below this many grey levels (0-255) are too flat for
# text (blank, black, deep fades). RapidOCR still read a sign faded to 6% contrast, which
# measured 13.7 here, and read nothing at 11.0; mild sensor noise (sigma 3) measures 9.4, so
# such frames are still read: a wasted read costs less than a missed line.
MIN_TEXT_CONTRAST = 8.0
# two readings of a line are the same text at or above this similarity (absorbs OCR jitter)
SAME_TEXT = 0.8
BATCH = 8
# without a dead zone, flat areas (letterbox bars, plain backgrounds) flip hash bits on mere
# compression noise: a JPEG re-encode flipped 9-10 of 64 bits on a letterboxed infographic,
# at most 2 with this, while different test pictures stay 10+ bits apart
_DEAD_ZONE = 1.0


def _gray(image: Image, max_side: int = 256) -> np.ndarray:
    """A float32 grey copy, subsampled so its long side is at most `max_side` (cheap, no cv2)."""
    step = max(1, -(-max(image.shape[:2]) // max_side))
    small = image[::step, ::step].astype(np.float32)
    return small @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _area_resize(gray: np.ndarray, width: int, height: int) -> np.ndarray:
    """Mean of each cell of a `height` x `width` grid (needs a grid no finer than the image)."""
    rows = np.linspace(0, gray.shape[0], height + 1).astype(int)
    cols = np.linspace(0, gray.shape[1], width + 1).astype(int)
    sums = np.add.reduceat(np.add.reduceat(gray, rows[:-1], axis=0), cols[:-1], axis=1)
    counts = np.outer(np.diff(rows), np.diff(cols))
    return sums / counts


def dhash(image: Image) -> int:
    """64-bit difference hash: each bit says whether a cell of a 9x8 grey grid is brighter than
    its left neighbour by more than `_DEAD_ZONE` grey levels."""
    cells = _area_resize(_gray(image), 9, 8)
    bits = ((cells[:, 1:] - cells[:, :-1]) > _DEAD_ZONE).flatten()
    return int(np.packbits(bits).view(">u8")[0])


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def may_hold_text(image: Image) -> bool:
    """False for frames too flat for legible text (blank, black, fades, heavy blur)."""
    gray = _gray(image, 512)
    if gray.shape[0] < 2 or gray.shape[1] < 2:
        return False
    dx = np.abs(np.diff(gray, axis=1))
    dy = np.abs(np.diff(gray, axis=0))
    # the 99.9th percentile ignores a few noisy pixels but keeps the edges of one short word
    strongest = max(float(np.percentile(dx, 99.9)), float(np.percentile(dy, 99.9)))
    return strongest >= MIN_TEXT_CONTRAST


def normalise_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"\s+", "", text)  # OCR drops and invents spaces between words


def same_text(a: str, b: str) -> float:
    """Similarity 0..1 of two readings, ignoring case and spaces."""
    na, nb = normalise_text(a), normalise_text(b)
    if na == nb:
        return 1.0
    return SequenceMatcher(None, na, nb, autojunk=False).ratio()


def _plan(frames: Sequence[tuple[float, Image]], settings: OCRSettings) -> dict[int, bool]:
    """Index of each frame to look at -> whether it may hold text (False: blank, read as empty).
    Frames left out show the same picture as the last frame looked at."""
    plan: dict[int, bool] = {}
    last_hash: int | None = None
    last_t = 0.0
    for i, (t, image) in enumerate(frames):
        h = dhash(image)
        same = last_hash is not None and hamming(h, last_hash) < settings.dedupe_bits
        if same and t - last_t < REFRESH_S:
            continue
        if last_hash is not None and t - last_t < settings.min_interval_s - 1e-6:
            continue  # compared again on the next frame, still against the last one read
        last_hash, last_t = h, t
        plan[i] = may_hold_text(image)
    return plan


def _step(
    open_: list[OcrSpan], lines: list[TextBox], t: float
) -> tuple[list[OcrSpan], list[OcrSpan]]:
    """Match a frame's lines to the spans open on the previous read frame, most similar pairs
    first: (spans open now, spans that ended)."""
    pairs = sorted(
        (
            (same_text(span.text, line.text), i, j)
            for i, span in enumerate(open_)
            for j, line in enumerate(lines)
        ),
        reverse=True,
    )
    taken_o: set[int] = set()
    taken_l: set[int] = set()
    kept: list[OcrSpan] = []
    for sim, i, j in pairs:
        if sim < SAME_TEXT or i in taken_o or j in taken_l:
            continue
        taken_o.add(i)
        taken_l.add(j)
        span, line = open_[i], lines[j]
        span.last_s = t
        if line.score > span.score:  # the span reads as its best reading
            span.text, span.box, span.score = line.text, line.box, line.score
        kept.append(span)
    kept += [
        OcrSpan(text=line.text, first_s=t, last_s=t, score=line.score, box=line.box)
        for j, line in enumerate(lines)
        if j not in taken_l
    ]
    return kept, [span for i, span in enumerate(open_) if i not in taken_o]


def read_text_over_time(
    reader: TextReader, frames: Sequence[tuple[float, Image]], settings: OCRSettings
) -> list[OcrSpan]:
    """Spans of on-screen text over `frames` ((t, RGB image), in time order).

    A span's `last_s` is the last frame time it was seen on, counting frames skipped as
    unchanged; its text and box are those of its best-scoring reading. Sorted by first time,
    then top to bottom, left to right. Raises whatever the reader raises."""
    plan = _plan(frames, settings)
    to_read = [i for i, readable in plan.items() if readable]
    results: list[list[TextBox]] = []
    for k in range(0, len(to_read), BATCH):
        results.extend(reader.read([frames[i][1] for i in to_read[k : k + BATCH]]))
    if len(results) != len(to_read):
        raise RuntimeError(f"reader answered {len(results)} frames for {len(to_read)}")
    lines_at = dict(zip(to_read, results, strict=True))

    done: list[OcrSpan] = []
    open_: list[OcrSpan] = []
    for i, (t, _) in enumerate(frames):
        if i in plan:
            open_, closed = _step(open_, lines_at.get(i, []), t)
            done += closed
        else:
            for span in open_:  # an unchanged frame still shows what the last frame read showed
                span.last_s = t
    done += open_
    return sorted(done, key=_order)


def _order(span: OcrSpan) -> tuple[float, float, float]:
    return (span.first_s, span.box[1], span.box[0])


def merge_spans(spans: Sequence[OcrSpan], max_gap_s: float) -> list[OcrSpan]:
    """Join spans of the same text that are at most `max_gap_s` apart (or overlap), e.g. the
    halves of a line split where a long video was cut into parts. A joined span reads as its
    best-scoring part. Returns new spans, sorted like `read_text_over_time`'s."""
    merged: list[OcrSpan] = []
    active: list[OcrSpan] = []  # merged spans that ended recently enough to be continued
    for span in sorted(spans, key=_order):
        active = [m for m in active if span.first_s - m.last_s <= max_gap_s]
        scored = [(same_text(m.text, span.text), k) for k, m in enumerate(active)]
        sim, k = max(scored, default=(0.0, -1))
        if sim < SAME_TEXT:
            copy = span.model_copy()
            merged.append(copy)
            active.append(copy)
            continue
        match = active[k]
        match.last_s = max(match.last_s, span.last_s)
        if span.score > match.score:
            match.text, match.box, match.score = span.text, span.box, span.score
    return sorted(merged, key=_order)
