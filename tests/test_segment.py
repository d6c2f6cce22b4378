"""indexer.segment: scene cuts with PySceneDetect on decoded frames, clip and part planning."""

from __future__ import annotations

import random
import sys
from itertools import pairwise

import numpy as np
import pytest

from indexer import errors
from indexer.media import sample_frames
from indexer.segment import detect_cuts, make_clips, plan_parts
from indexer.settings import DecodeSettings, SegmentSettings
from indexer.types import Clip
from tests.media_helpers import CUTS, DURATION, strip_video

DEFAULT = SegmentSettings()


def _picture(rgb: tuple[int, int, int], seed: int) -> np.ndarray:
    """A flat colour with a little sensor noise, 180x320."""
    noise = np.random.default_rng(seed).integers(-6, 7, (180, 320, 3))
    return np.clip(np.array(rgb) + noise, 0, 255).astype(np.uint8)


# --- detect_cuts ----------------------------------------------------------------------------------
def test_cut_is_the_first_frame_of_the_new_scene_with_irregular_spacing() -> None:
    orange, blue, green = (220, 140, 40), (20, 40, 210), (120, 250, 90)  # (red: hue wraps)
    frames = [(0.0, orange), (1.0, orange), (2.7, blue), (3.1, blue), (7.93, green), (8.0, green)]
    pictures = [(t, _picture(c, i)) for i, (t, c) in enumerate(frames)]
    assert detect_cuts(pictures, DEFAULT.scene_threshold) == [2.7, 7.93]
    assert detect_cuts(pictures, 255.0) == []  # nothing changes that much
    assert detect_cuts(pictures[:1], DEFAULT.scene_threshold) == []
    assert detect_cuts([], DEFAULT.scene_threshold) == []


@pytest.fixture(scope="module")
def strip_frames() -> dict[str, list[tuple[float, np.ndarray]]]:
    path = strip_video()
    return {
        s: [(f.t, f.image) for f in sample_frames(path, 0, DURATION, DecodeSettings(strategy=s))]
        for s in ("full", "keyframes")
    }


@pytest.mark.parametrize("threshold", [DEFAULT.scene_threshold, 35.0])
def test_finds_the_cuts_of_a_concatenated_video(strip_frames, threshold: float) -> None:
    frames = strip_frames["full"]  # 1 fps
    found = detect_cuts(frames, threshold)
    for c in CUTS:
        assert any(c <= t <= c + 1.0 for t in found), (c, found)
    # moving footage at 1 fps (the mandelbrot zoom) scores high too, more so below 35
    extra = [t for t in found if not any(c <= t <= c + 1.0 for c in CUTS)]
    assert len(extra) <= (5 if threshold < 35 else 2), found


def test_keyframe_sampling_dates_cuts_by_the_next_sampled_frame(strip_frames) -> None:
    frames = strip_frames["keyframes"]
    times = [t for t, _ in frames]
    found = detect_cuts(frames, DEFAULT.scene_threshold)
    for c in CUTS:
        assert min(t for t in times if t >= c) in found
    assert set(found) <= set(times)


def test_without_scenedetect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "scenedetect", None)
    pictures = [(0.0, _picture((0, 0, 0), 0)), (1.0, _picture((255, 255, 255), 1))]
    with pytest.raises(errors.ModelUnavailable, match="scenedetect"):
        detect_cuts(pictures, 27.0)


# --- make_clips -----------------------------------------------------------------------------------
def _bounds(clips: list[Clip]) -> list[float]:
    return [clips[0].start_s, *(c.end_s for c in clips)]


@pytest.mark.parametrize(
    ("duration", "cuts", "bounds"),
    [
        (40.0, [], [0, 10, 20, 30, 40]),
        (33.0, [], [0, 10, 20, 33]),  # a 3 s remainder joins the last clip
        (23.0, [12.0], [0, 12, 23]),  # the boundary moves onto the cut
        (30.0, [7.5, 12.0, 26.0], [0, 12, 22, 30]),  # the nearer cut wins; 26 is too far
        (30.0, [8.0, 12.0], [0, 8, 18, 30]),  # a tie goes to the earlier cut
        (30.0, [2.0, 11.0], [0, 11, 21, 30]),  # 2 s would make a clip shorter than min_clip_s
        (3.0, [1.0], [0, 3]),  # shorter than min_clip_s: one clip
        (0.0, [], None),
    ],
)
def test_make_clips_examples(duration: float, cuts: list[float], bounds: list[float] | None):
    clips = make_clips(duration, cuts, DEFAULT)
    if bounds is None:
        assert clips == []
        return
    assert _bounds(clips) == bounds
    assert [c.index for c in clips] == list(range(len(clips)))


def _random_case(rng: random.Random) -> tuple[float, list[float], SegmentSettings]:
    min_clip = rng.uniform(1, 6)
    clip = min_clip + rng.uniform(0, 10)
    settings = SegmentSettings(clip_s=clip, min_clip_s=min_clip, snap_s=rng.uniform(0, 5),
                               max_clip_s=max(clip, 2 * min_clip) + rng.uniform(0, 8))  # fmt: skip
    duration = rng.choice([rng.uniform(0.1, 30), rng.uniform(30, 2000)])
    cuts = [rng.uniform(-5, duration + 5) for _ in range(rng.randrange(0, 60))]
    return round(duration, 3), [round(c, 3) for c in cuts], settings


def test_make_clips_properties() -> None:
    rng = random.Random(7)
    for _ in range(400):
        duration, cuts, s = _random_case(rng)
        clips = make_clips(duration, cuts, s)
        bounds = _bounds(clips)
        assert bounds[0] == 0 and bounds[-1] == duration  # covers the video
        assert all(a.end_s == b.start_s for a, b in pairwise(clips))  # contiguous, no overlap
        lengths = [b - a for a, b in pairwise(bounds)]
        assert all(x > 0 for x in lengths)
        if duration >= s.min_clip_s:
            assert all(s.min_clip_s - 2e-3 <= x <= s.max_clip_s + 2e-3 for x in lengths)
        # a boundary off every cut means no usable cut was near where it would have been
        inside = {c for c in cuts if 0 < c < duration}
        for a, b in pairwise(bounds[:-1]):
            if b in inside:
                continue
            target, hi = a + s.clip_s, min(a + s.max_clip_s, duration - s.min_clip_s)
            usable = [c for c in inside if a + s.min_clip_s <= c <= hi]
            assert not [c for c in usable if abs(c - target) <= s.snap_s - 2e-3], (a, b, usable)
        # deterministic, and blind to the order and repetition of the cuts
        assert make_clips(duration, sorted(cuts * 2, reverse=True), s) == clips


def test_make_clips_rejects_inconsistent_settings() -> None:
    with pytest.raises(ValueError):
        make_clips(60, [], SegmentSettings(clip_s=10, min_clip_s=12))


# --- plan_parts -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("duration", "parts"),
    [
        (100.0, [(0, 100)]),
        (1000.0, [(0, 300), (300, 600), (600, 1000)]),  # a 100 s tail joins the last part
        (1100.0, [(0, 300), (300, 600), (600, 900), (900, 1100)]),
        (0.0, []),
    ],
)
def test_plan_parts(duration: float, parts: list[tuple[float, float]]) -> None:
    assert plan_parts(duration, 300.0) == parts


def test_plan_parts_properties() -> None:
    rng = random.Random(3)
    for _ in range(300):
        duration, part = rng.uniform(0.5, 30000), rng.uniform(10, 900)
        parts = plan_parts(duration, part)
        assert parts[0][0] == 0 and parts[-1][1] == pytest.approx(duration, abs=1e-3)
        assert all(a[1] == b[0] for a, b in pairwise(parts))
        if len(parts) > 1:
            assert all(part / 2 - 1e-3 <= b - a <= 1.5 * part + 1e-3 for a, b in parts)
