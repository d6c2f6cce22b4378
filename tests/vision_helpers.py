"""Test media for the vision extractor tests: the shared third-party images, shaped like the
frames the decoder hands to extractors (RGB, letterboxed to a fixed 16:9 size)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import SHARED, TESTDATA, YOLO_WEIGHTS

TEXT_IMAGES = TESTDATA / "text_images"
OBJECT_IMAGES = TESTDATA / "object_images"
YOLO11N = YOLO_WEIGHTS

needs_testdata = pytest.mark.skipif(
    not TESTDATA.is_dir(), reason=f"shared test media not found at {SHARED}"
)

# the decoder's default frame: small side 448 (DecodeSettings.small_side), 16:9
FRAME_H, FRAME_W = 448, 796


def load_rgb(path: Path | io.BytesIO) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


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
