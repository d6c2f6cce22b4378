"""Vision extractors on real frames: per-image cost of RapidOCR and YOLO at the default settings
on frames of small side 448 px, and what the over-time logic saves on real videos.

    .venv/bin/python -m bench.vision           # table on stdout, JSON in bench/results/vision.json

Per-image timings come from still images letterboxed into 796x448 frames (the decoder's default
size); the video rows decode each test video at 1 fps with `indexer.media.sample_frames` and run
`read_text_over_time` / `detect_over_time` as the pipeline does."""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bench.common import SHARED, YOLO_WEIGHTS
from indexer.extractors.base import Availability
from indexer.extractors.detect.describe import describe_objects, detect_over_time
from indexer.extractors.detect.yolo import UltralyticsDetector
from indexer.extractors.ocr.rapid import RapidOCRReader
from indexer.extractors.ocr.spans import read_text_over_time
from indexer.media import probe, sample_frames
from indexer.settings import DecodeSettings, DetectSettings, MediaSettings, OCRSettings
from indexer.types import TextBox
from tests.vision_helpers import blank_frame, load_rgb, video_frame

TESTDATA = SHARED / "testdata"  # real images and footage: optional, benchmarks only
TEXT_IMAGES, OBJECT_IMAGES = TESTDATA / "text_images", TESTDATA / "object_images"
YOLO11N = YOLO_WEIGHTS

RESULTS = Path(__file__).resolve().parent / "results" / "vision.json"
VIDEOS = ["videoretalking_ablation.mp4", "moviepy_big_buck_bunny_0_30.webm", "opencv_vtest.avi"]


def _median_ms(fn: Any, repeats: int = 3) -> dict[str, float]:
    """Median wall and CPU (all threads) milliseconds of `fn()`; CPU time shows the cost when
    other work shares the cores."""
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return {"wall": round(statistics.median(wall), 1), "cpu": round(statistics.median(cpu), 1)}


class _Counting:
    name: ClassVar[str] = "counting"

    def __init__(self, inner: RapidOCRReader) -> None:
        self.inner, self.images, self.seconds = inner, 0, 0.0

    def availability(self) -> Availability:
        return self.inner.availability()

    def warm_up(self) -> None:
        self.inner.warm_up()

    def read(self, images: Sequence[np.ndarray]) -> list[list[TextBox]]:
        t = time.perf_counter()
        out = self.inner.read(images)
        self.images += len(images)
        self.seconds += time.perf_counter() - t
        return out


def main() -> None:
    ocr = RapidOCRReader(OCRSettings())
    yolo = UltralyticsDetector(DetectSettings(model=str(YOLO11N)))
    ocr.warm_up()
    yolo.warm_up()
    stills = {
        "sign (4 lines)": TEXT_IMAGES / "easyocr_japanese.jpg",
        "infographic (12 lines)": TEXT_IMAGES / "easyocr_english.png",
        "book page (13 lines)": TEXT_IMAGES / "opencv_imageTextN.png",
        "messi5 (objects)": OBJECT_IMAGES / "opencv_messi5.jpg",
    }
    frames = {name: video_frame(load_rgb(path)) for name, path in stills.items()}
    frames["blank"] = blank_frame()
    report: dict[str, Any] = {
        "frame": "796x448",
        "load_avg_1min_before": round(os.getloadavg()[0], 1),
        "ocr_ms": {},
        "yolo_ms": {},
        "videos": {},
    }
    for name, frame in frames.items():
        report["ocr_ms"][name] = _median_ms(lambda f=frame: ocr.read([f]))
        report["yolo_ms"][name] = _median_ms(lambda f=frame: yolo.detect([f]))
    batch = list(frames.values()) * 4
    batched = _median_ms(lambda: yolo.detect(batch))
    report["yolo_ms"]["batch of 20, per image"] = {
        k: round(v / len(batch), 1) for k, v in batched.items()
    }
    for video in VIDEOS:
        path = TESTDATA / "video" / video
        duration = probe(path, MediaSettings()).duration_s
        decoded = [(f.t, f.image) for f in sample_frames(path, 0.0, duration, DecodeSettings())]
        spy = _Counting(ocr)
        t = time.perf_counter()
        spans = read_text_over_time(spy, decoded, OCRSettings())
        ocr_s = time.perf_counter() - t
        t = time.perf_counter()
        dets = detect_over_time(yolo, decoded, DetectSettings(model=str(YOLO11N)))
        det_s = time.perf_counter() - t
        report["videos"][video] = {
            "frames": len(decoded),
            "frame_size": "x".join(map(str, decoded[0][1].shape[1::-1])),
            "ocr_frames_read": spy.images,
            "ocr_s": round(ocr_s, 2),
            "spans": [f"{s.first_s:.0f}-{s.last_s:.0f}s {s.text}" for s in spans][:12],
            "detect_frames": len(dets),
            "detect_s": round(det_s, 2),
            "objects": describe_objects(dets),
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
