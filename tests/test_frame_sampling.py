"""Dense frame sampling: the "reference" decode strategy on a generated video whose every frame
shows its own number (tests/media_helpers.py), and OCR's change gate on frames 1 s apart."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from indexer.extractors.ocr.spans import read_text_over_time
from indexer.media import sample_frames
from indexer.settings import DecodeSettings, OCRSettings
from indexer.types import TextBox
from tests.media_helpers import DURATION, SEGMENTS, segment_of, strip_video, true_time


@pytest.fixture(scope="module")
def strip() -> Path:
    return strip_video()  # x264 veryfast: B-frames, some of them non-reference


def _times_are_true(frames: list, t0: float, t1: float) -> list[float]:
    times = [f.t for f in frames]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert all(t0 <= t < t1 for t in times)
    for f in frames:
        assert f.t == pytest.approx(true_time(f.image), abs=1e-3)
    return times


def test_reference_strategy_gives_one_true_frame_per_second(strip: Path) -> None:
    settings = DecodeSettings(strategy="reference", fps=1, small_side=180)
    frames = list(sample_frames(strip, 0, DURATION, settings))
    times = _times_are_true(frames, 0, DURATION)
    # one frame in each second, near its start: skipped B-frames cost a frame or two at most
    assert [int(t) for t in times] == list(range(int(DURATION)))
    assert all(t - int(t) <= 0.125 for t in times)
    assert {segment_of(t) for t in times} == set(range(len(SEGMENTS)))
    assert frames[0].keyframe


def test_reference_strategy_on_a_range(strip: Path) -> None:
    settings = DecodeSettings(strategy="reference", fps=2, small_side=180)
    frames = list(sample_frames(strip, 5.3, 11.0, settings))
    times = _times_are_true(frames, 5.3, 11.0)
    assert len(times) >= 10  # 11 half-seconds from 5.3 s


class CountingReader:
    """Reads nothing, counts the frames it was given."""

    def __init__(self) -> None:
        self.read_at: list[int] = []

    def read(self, images: Sequence[np.ndarray]) -> list[list[TextBox]]:
        self.read_at += [int(image[0, 0, 0]) for image in images]
        return [[] for _ in images]


def _changing_frames(n: int) -> list[tuple[float, np.ndarray]]:
    """n frames 1 s apart, each a different picture with strong edges; pixel (0, 0) holds t."""
    rng = np.random.default_rng(0)
    frames = []
    for t in range(n):
        image = (rng.random((90, 160, 3)) > 0.5).astype(np.uint8) * 255
        image[0, 0, 0] = t
        frames.append((float(t), image))
    return frames


def test_changing_frames_are_read_no_more_often_than_the_interval() -> None:
    reader = CountingReader()
    read_text_over_time(reader, _changing_frames(10), OCRSettings(min_interval_s=3.0))
    assert reader.read_at == [0, 3, 6, 9]
    reader = CountingReader()
    read_text_over_time(reader, _changing_frames(10), OCRSettings(min_interval_s=0.0))
    assert reader.read_at == list(range(10))


def test_unchanged_frames_are_read_once() -> None:
    _, image = _changing_frames(1)[0]
    frames = [(float(t), image.copy()) for t in range(8)]
    reader = CountingReader()
    read_text_over_time(reader, frames, OCRSettings(min_interval_s=0.0))
    assert reader.read_at == [0]
