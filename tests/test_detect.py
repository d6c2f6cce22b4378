"""Object detection: real YOLO11n weights on the photos in the Ultralytics wheel (these tests skip,
saying why, where no weights can be had: tests/weights.py), availability without weights, and
detections over time turned into a clip's description."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pytest

from indexer.extractors.base import Availability
from indexer.extractors.detect.describe import (
    describe_objects,
    detect_over_time,
    pick_frames,
    position,
)
from indexer.extractors.detect.yolo import UltralyticsDetector
from indexer.settings import DetectSettings
from indexer.types import Detection, FrameDetections
from tests import synth
from tests.vision_helpers import photo, video_frame
from tests.weights import require_yolo


def labels(dets: Sequence[Detection]) -> Counter[str]:
    return Counter(d.label for d in dets)


@pytest.fixture(scope="module")
def yolo() -> UltralyticsDetector:
    weights = require_yolo()
    detector = UltralyticsDetector(DetectSettings(model=str(weights), device="cpu"), offline=True)
    assert detector.availability().ok
    detector.warm_up()
    return detector


# --- availability ----------------------------------------------------------------------------
def test_named_weights_that_are_not_here_are_off(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # Ultralytics looks for a bare name in the working directory
    offline = UltralyticsDetector(DetectSettings(), offline=True).availability()
    assert not offline.ok and "hub access is off" in offline.reason
    online = UltralyticsDetector(DetectSettings()).availability()
    if not online.ok:  # this machine cannot reach GitHub: said so, quickly
        assert "unreachable" in online.reason
    missing = UltralyticsDetector(DetectSettings(model=str(tmp_path / "nope.pt"))).availability()
    assert not missing.ok and "not found" in missing.reason


def test_openvino_export_needs_openvino(tmp_path):
    export = tmp_path / "yolo11n_int8_openvino_model"  # what availability looks at: the name
    export.mkdir()
    status = UltralyticsDetector(DetectSettings(model=str(export))).availability()
    import importlib.util

    has_openvino = importlib.util.find_spec("openvino") is not None
    assert status.ok == has_openvino, status.reason
    if not has_openvino:
        assert "openvino is not installed" in status.reason


# --- YOLO11n on real photos ------------------------------------------------------------------
def mirrored(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    return (1.0 - x1, y0, 1.0 - x0, y1)


def test_yolo_finds_known_objects_in_one_batch(yolo: UltralyticsDetector):
    bus = photo("bus.jpg")
    card = synth.text_card(["Platform 4", "Trains to the airport"])  # no object to see
    [found, zidane, flipped, nothing] = yolo.detect([bus, photo("zidane.jpg"), bus[:, ::-1], card])
    assert labels(found)["bus"] == 1 and labels(found)["person"] >= 3
    assert labels(zidane)["person"] >= 2 and "bus" not in labels(zidane)
    assert labels(flipped)["bus"] == 1 and labels(flipped)["person"] >= 3
    assert not {"bus", "person"} & set(labels(nothing))
    for dets in (found, zidane, flipped):
        scores = [d.score for d in dets]
        assert scores == sorted(scores, reverse=True) and min(scores) >= 0.35
        for d in dets:
            x0, y0, x1, y1 = d.box
            assert 0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0
    # the bus fills the width of bus.jpg, in its middle band; mirrored, its box mirrors
    box = next(d.box for d in found if d.label == "bus")
    x0, y0, x1, y1 = box
    assert x0 < 0.1 and x1 > 0.9 and 0.1 < y0 < 0.35 and 0.6 < y1 < 0.8
    assert np.allclose(next(d.box for d in flipped if d.label == "bus"), mirrored(box), atol=0.03)


def test_yolo_boxes_follow_the_object_into_a_video_frame(yolo: UltralyticsDetector):
    image = photo("bus.jpg")  # portrait: pillarboxed in a 16:9 frame
    frame = video_frame(image)
    [direct, framed] = yolo.detect([image, frame])
    scale = frame.shape[0] / image.shape[0]
    offset = (frame.shape[1] - image.shape[1] * scale) / 2 / frame.shape[1]
    width = image.shape[1] * scale / frame.shape[1]
    a = next(d.box for d in direct if d.label == "bus")
    b = next(d.box for d in framed if d.label == "bus")
    expected = (offset + a[0] * width, a[1], offset + a[2] * width, a[3])
    assert np.allclose(b, expected, atol=0.03)


def test_yolo_on_no_images(yolo: UltralyticsDetector):
    assert yolo.detect([]) == []


# --- over time and as text -------------------------------------------------------------------
def test_pick_frames_keeps_one_per_interval():
    assert pick_frames([float(t) for t in range(11)], 2.0) == [0, 2, 4, 6, 8, 10]
    assert pick_frames([0.0, 0.5, 1.9, 2.0, 2.1, 5.0], 2.0) == [0, 3, 5]
    assert pick_frames([], 2.0) == []


class CountingDetector:
    """Answers one person per image and records batch sizes."""

    name: ClassVar[str] = "counting"

    def __init__(self) -> None:
        self.batches: list[int] = []

    def availability(self) -> Availability:
        return Availability(True, self.name, "")

    def warm_up(self) -> None:
        pass

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        self.batches.append(len(images))
        return [[Detection(label="person", score=0.9, box=(0.1, 0.1, 0.3, 0.9))] for _ in images]


def test_detect_over_time_samples_and_batches():
    frames = [(float(t), np.zeros((4, 4, 3), dtype=np.uint8)) for t in range(40)]
    detector = CountingDetector()
    out = detect_over_time(detector, frames, DetectSettings(every_s=2.0))
    assert [f.t for f in out] == [float(t) for t in range(0, 40, 2)]
    assert detector.batches == [16, 4]
    assert all(labels(f.detections) == {"person": 1} for f in out)


def test_real_detections_over_time_describe_the_clip(yolo: UltralyticsDetector):
    bus = video_frame(photo("bus.jpg"))
    zidane = video_frame(photo("zidane.jpg"))
    frames = [(0.0, bus), (1.0, bus), (2.0, bus), (3.0, zidane), (4.0, zidane)]
    out = detect_over_time(yolo, frames, DetectSettings(every_s=2.0))
    assert [f.t for f in out] == [0.0, 2.0, 4.0]
    text = describe_objects(out)
    assert text.startswith(("3 person", "4 person"))  # in every frame looked at
    assert "1 bus (center)" in text


def det(label: str, box: tuple[float, float, float, float], score: float = 0.9) -> Detection:
    return Detection(label=label, score=score, box=box)


LEFT, RIGHT, CENTER = (0.0, 0.3, 0.2, 0.7), (0.8, 0.3, 1.0, 0.7), (0.3, 0.3, 0.7, 0.7)


def test_describe_objects_counts_places_and_ranks():
    dets = [
        FrameDetections(t=0.0, detections=[det("person", LEFT), det("person", RIGHT),
                                           det("bus", CENTER)]),
        FrameDetections(t=2.0, detections=[det("person", LEFT), det("dog", (0.4, 0.8, 0.5, 0.95))]),
        FrameDetections(t=4.0, detections=[det("person", LEFT)]),
    ]  # fmt: skip
    # person: in 3 frames, at most 2 at once; bus and dog once each, the bus is bigger
    assert describe_objects(dets) == "2 person (left, right), 1 bus (center), 1 dog (bottom)"
    for order in itertools.permutations(dets):  # the same clip, whatever the frame order
        assert describe_objects(order) == describe_objects(dets)
    assert describe_objects([]) == ""
    assert describe_objects([FrameDetections(t=0.0, detections=[])]) == ""


def test_describe_objects_caps_labels_with_stable_ties():
    frame = FrameDetections(t=0.0, detections=[det(x, CENTER) for x in "edcba"])
    assert describe_objects([frame], max_labels=3) == "1 a (center), 1 b (center), 1 c (center)"


def test_positions_from_box_centres():
    assert position(LEFT) == "left" and position(RIGHT) == "right" and position(CENTER) == "center"
    assert position((0.0, 0.0, 0.2, 0.2)) == "top left"
    assert position((0.4, 0.8, 0.6, 1.0)) == "bottom"
    assert position((0.8, 0.8, 1.0, 1.0)) == "bottom right"
