"""Scene cuts, clips and parts.

Clips are the unit of retrieval: contiguous spans of about `clip_s` whose boundaries move onto a
nearby scene cut, so a clip tends to hold one shot. Parts are the unit of parallel indexing."""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from fractions import Fraction
from itertools import pairwise

import numpy as np

from indexer.errors import ModelUnavailable
from indexer.settings import SegmentSettings
from indexer.types import Clip

_DETECT_LONG_SIDE = 320  # the content score is a mean over pixels: a small copy scores the same


def detect_cuts(frames: Sequence[tuple[float, np.ndarray]], threshold: float) -> list[float]:
    """Times of scene cuts among already-decoded frames (time, HxWx3 RGB), in time order, by
    PySceneDetect's ContentDetector (HSV change between consecutive frames >= `threshold`).
    Frames may be irregularly spaced; a cut's time is that of the first frame of the new scene.
    Raises ModelUnavailable when scenedetect is not installed."""
    if len(frames) < 2:
        return []
    try:
        import cv2
        from scenedetect import ContentDetector, FrameTimecode
    except ImportError as e:
        raise ModelUnavailable(f"scene detection needs scenedetect and opencv: {e}") from e

    # min_scene_len 0: no flash filter, every frame above the threshold starts a scene (frames
    # are ~1 s apart or more, and clip boundaries only snap onto cuts)
    detector = ContentDetector(threshold=threshold, min_scene_len=0)
    # scenedetect 0.7 takes each frame's time (a FrameTimecode), 0.6 a frame number
    timed = "timecode" in inspect.signature(detector.process_frame).parameters
    h, w = frames[0][1].shape[:2]
    scale = min(1.0, _DETECT_LONG_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    span = frames[-1][0] - frames[0][0]
    rate = Fraction((len(frames) - 1) / span).limit_denominator(1000) if span > 0 else Fraction(1)
    at_ms: dict[int, float] = {}
    cuts: list[float] = []
    for i, (t, image) in enumerate(frames):
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        bgr = np.ascontiguousarray(small[:, :, ::-1])
        if timed:
            from scenedetect.common import Timecode

            at_ms[ms := round(t * 1000)] = t
            tc = FrameTimecode(Timecode(pts=ms, time_base=Fraction(1, 1000)), fps=rate)
            cuts += [at_ms[round(c.seconds * 1000)] for c in detector.process_frame(tc, bgr)]
        else:
            cuts += [frames[c][0] for c in detector.process_frame(i, bgr)]
    return sorted(set(cuts))


def make_clips(duration_s: float, cuts: Sequence[float], settings: SegmentSettings) -> list[Clip]:
    """Contiguous clips covering [0, duration_s]. Each boundary is `clip_s` after the previous
    one unless a scene cut lies within `snap_s` of it (the nearest cut wins, the earlier on a
    tie); every clip lasts between `min_clip_s` and `max_clip_s`, a short remainder is merged
    into the last clip. A video shorter than `min_clip_s` is one clip; the last clip can exceed
    `max_clip_s` only if that is under 2 * min_clip_s. Deterministic; raises ValueError unless
    0 < min_clip_s <= clip_s <= max_clip_s."""
    s = settings
    if not 0 < s.min_clip_s <= s.clip_s <= s.max_clip_s:
        raise ValueError("segment settings need 0 < min_clip_s <= clip_s <= max_clip_s")
    if duration_s <= 0:
        return []
    points = sorted({float(c) for c in cuts if 0 < c < duration_s})
    bounds = [0.0]
    while True:
        start = bounds[-1]
        rest = duration_s - start
        lo, hi = start + s.min_clip_s, min(start + s.max_clip_s, duration_s - s.min_clip_s)
        if hi < lo:  # the rest cannot be split into two clips of at least min_clip_s
            break
        target = start + s.clip_s
        near = [c for c in points if lo <= c <= hi and abs(c - target) <= s.snap_s]
        if near:
            bounds.append(min(near, key=lambda c: (abs(c - target), c)))
        elif rest < s.clip_s + s.min_clip_s and rest <= s.max_clip_s:
            break  # a clip of clip_s would leave a remainder shorter than min_clip_s: merge it
        else:
            bounds.append(min(max(target, lo), hi))
    bounds.append(duration_s)
    return [Clip(index=i, start_s=round(a, 3), end_s=round(b, 3))
            for i, (a, b) in enumerate(pairwise(bounds))]  # fmt: skip


def plan_parts(duration_s: float, part_s: float) -> list[tuple[float, float]]:
    """Contiguous [start, end) ranges of about `part_s` covering the video, for indexing in
    parallel; a tail shorter than half a part is merged into the previous part."""
    if duration_s <= 0:
        return []
    if part_s <= 0:
        raise ValueError("part_s must be positive")
    n = max(1, math.floor(duration_s / part_s + 0.5))
    edges = [min(k * part_s, duration_s) for k in range(n)] + [duration_s]
    return [(round(a, 3), round(b, 3)) for a, b in pairwise(edges)]
