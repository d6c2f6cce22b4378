"""The frames a prompt shows: how many per clip, which ones, and as what (downscaled JPEG data
URIs). Frame paths come from the index and are confined to their video's directory."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from indexer.store import Library


def allot_images(available: Sequence[int], per_clip: int, total: int) -> list[int]:
    """Images per clip (clips in rank order): round-robin, so every clip gets its first frame
    before any clip gets a second one."""
    counts = [0] * len(available)
    left = total
    for round_ in range(per_clip):
        for i, n in enumerate(available):
            if left <= 0:
                return counts
            if n > round_:
                counts[i] += 1
                left -= 1
    return counts


def pick_frames(frames: Sequence[str], n: int) -> list[str]:
    """`n` frames spread evenly over the clip (the middle of each of n equal slices)."""
    if n <= 0 or not frames:
        return []
    if n >= len(frames):
        return list(frames)
    return [frames[int((i + 0.5) * len(frames) / n)] for i in range(n)]


def encode_frame(path: Path, max_side: int, quality: int) -> str:
    """A JPEG data URI of the frame, downscaled to `max_side`. Raises OSError for a missing or
    unreadable file."""
    with Image.open(path) as src:
        im = src.convert("RGB")
    if max(im.size) > max_side > 0:
        scale = max_side / max(im.size)
        size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        im = im.resize(size, Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def frame_path(library: Library, video_id: str, rel: str) -> Path | None:
    """The frame's file, or None when `rel` would leave the video's directory."""
    root = library.store(video_id).root.resolve()
    path = (root / rel).resolve()
    return path if path.is_relative_to(root) else None
