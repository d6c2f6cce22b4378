"""Single pictures: JPEG bytes of a frame, and a thumbnail of a video at a given second."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from indexer.errors import CorruptMedia
from indexer.media.frames import Pipe
from indexer.media.tools import ffprobe, num


def encode_jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    """JPEG bytes of an HxWx3 uint8 RGB image."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def thumbnail_jpeg(path: Path, t: float, small_side: int = 360) -> bytes:
    """JPEG of the first frame at or after second `t` (clamped into the video), short side
    `small_side`. Raises CorruptMedia when no frame decodes there, ToolMissing."""
    _, data, _ = ffprobe(Path(path), "-show_entries format=duration")
    duration = num(data.get("format", {}).get("duration")) or 0.0
    t = min(max(0.0, t), max(0.0, duration - 0.05))
    # the picture can end before the container does: step back until a frame decodes
    for at in (t, t - 1.0, t - 5.0):
        frames = iter(Pipe(Path(path), max(0.0, at), None, "1", small_side, max_frames=1))
        first = next(frames, None)
        frames.close()
        if first is not None:
            return encode_jpeg(first.image)
    raise CorruptMedia(f"no frame of the video can be decoded near {t:.1f} s")
