"""Test media for the vision extractor tests, generated here (Pillow text on signs, a page of
text, a word crop) or shipped in the Ultralytics wheel (bus.jpg, zidane.jpg), shaped like the
frames the decoder hands to extractors (RGB, letterboxed to a fixed 16:9 size)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from tests import synth

# the decoder's default frame: small side 448 (DecodeSettings.small_side), 16:9
FRAME_H, FRAME_W = 448, 796


def load_rgb(path: Path | io.BytesIO) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def photo(name: str) -> np.ndarray:
    """An Ultralytics photo: "bus.jpg" (a bus, four people) or "zidane.jpg" (two men, a tie)."""
    return load_rgb(synth.ultralytics_asset(name))


def video_frame(image: np.ndarray, height: int = FRAME_H, width: int = FRAME_W) -> np.ndarray:
    """`image` scaled to fit a black `height` x `width` frame, centred (as a letterboxed video)."""
    im = Image.fromarray(image)
    scale = min(width / im.width, height / im.height)
    im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (width, height))
    canvas.paste(im, ((width - im.width) // 2, (height - im.height) // 2))
    return np.asarray(canvas)


def jpeg_roundtrip(image: np.ndarray, quality: int = 75) -> np.ndarray:
    """The same picture after lossy re-encoding, as consecutive video frames differ."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return load_rgb(buf)


def blank_frame(value: int = 0, height: int = FRAME_H, width: int = FRAME_W) -> np.ndarray:
    return np.full((height, width, 3), value, dtype=np.uint8)


def _sign(size: tuple[int, int], bg: str, border: str, lines: list[tuple[str, int, str]]
          ) -> np.ndarray:  # fmt: skip
    """A sign: `lines` of (text, size, colour) centred on `bg`, inside a `border` frame."""
    from PIL import ImageDraw

    im = Image.new("RGB", size, border)
    draw = ImageDraw.Draw(im)
    draw.rectangle((14, 14, size[0] - 15, size[1] - 15), fill=bg)
    boxes = [draw.textbbox((0, 0), text, font=synth.font(px)) for text, px, _ in lines]
    gap = 18
    y = (size[1] - sum(b[3] for b in boxes) - gap * (len(lines) - 1)) // 2
    for (text, px, colour), box in zip(lines, boxes, strict=True):
        f = synth.font(px)
        draw.text(((size[0] - draw.textlength(text, font=f)) / 2, y), text, fill=colour, font=f)
        y += box[3] + gap
    return np.asarray(im)


def litter_sign() -> np.ndarray:
    """A 560x420 street sign: "No litter" in red, a fine in small grey type, "Minato City"."""
    return _sign((560, 420), "white", "#c1121f", [
        ("No Litter", 72, "#c1121f"),
        ("Fine up to 20,000 yen", 22, "#8d99ae"),
        ("Minato City", 44, "#1d3557"),
    ])  # fmt: skip


def road_sign() -> np.ndarray:
    """A green road sign: "Harbour Rd." and an arrow to "Ferry Terminal"."""
    return _sign((640, 300), "#006b3f", "white", [
        ("Harbour Rd.", 64, "white"),
        ("Ferry Terminal ->", 40, "white"),
    ])  # fmt: skip


BOOK_LINES = [
    "Many technical details are too complex to cover in a first course,",
    "so in teaching our courses we rely on a series of small",
    "implementation projects that students complete on their own.",
]


def book_page() -> np.ndarray:
    """Three lines of black book text on white, 20 px type."""
    from PIL import ImageDraw

    im = Image.new("RGB", (760, 96), "white")
    draw = ImageDraw.Draw(im)
    for k, line in enumerate(BOOK_LINES):
        draw.text((12, 8 + 28 * k), line, fill="black", font=synth.font(20))
    return np.asarray(im)


WORD = "Wednesday"


def word_crop() -> np.ndarray:
    """One word, cropped close, as a text detector's output would be."""
    from PIL import ImageDraw

    im = Image.new("RGB", (230, 56), "#f1faee")
    ImageDraw.Draw(im).text((10, 8), WORD, fill="#222222", font=synth.font(36))
    return np.asarray(im)


def text_images() -> dict[str, np.ndarray]:
    return {"litter": litter_sign(), "road": road_sign(), "book": book_page(),
            "word": word_crop()}  # fmt: skip
