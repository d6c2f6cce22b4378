"""Ultralytics YOLO object detection (COCO-80 labels with the stock weights).

`settings.model` is a local `.pt` file, a `*_openvino_model` export directory, or an Ultralytics
asset name (`yolo11n.pt`) that Ultralytics downloads from GitHub on first use. `ultralytics`
(and with it torch) is imported only in `warm_up()`."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from indexer.errors import ModelUnavailable
from indexer.extractors.base import Availability, Image, register, resolve_device
from indexer.extractors.hub import reachable
from indexer.settings import DetectSettings
from indexer.types import Detection

_ASSET_HOST = "github.com"  # where Ultralytics fetches named weights from
BATCH = 16


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@register("detect", "ultralytics")
class UltralyticsDetector:
    """Detects objects with an Ultralytics YOLO model.

    `detect(images)` returns, per image, the detections scoring at least `settings.conf`, boxes
    normalised to the image. `warm_up()` raises `ModelUnavailable` when ultralytics or the
    weights cannot be had."""

    name: ClassVar[str] = "ultralytics"

    def __init__(self, settings: DetectSettings, *, offline: bool = False) -> None:
        self.settings = settings
        self.offline = offline
        self._model: Any = None
        self._device = "cpu"
        self._lock = threading.Lock()

    def _unavailable(self, reason: str) -> Availability:
        return Availability(False, self.name, self.settings.model, reason)

    def availability(self) -> Availability:
        for package in ("ultralytics", "torch"):
            if importlib.util.find_spec(package) is None:
                return self._unavailable(f"{package} is not installed")
        path = Path(self.settings.model).expanduser()
        if path.exists():
            # Ultralytics would try to pip-install openvino at load time; refuse instead
            is_openvino = path.name.endswith("_openvino_model")
            if is_openvino and importlib.util.find_spec("openvino") is None:
                return self._unavailable(f"{path} is an OpenVINO export; openvino is not installed")
            return Availability(True, self.name, str(path))
        if path.parent != Path("."):
            return self._unavailable(f"weights not found: {path}")
        if self.offline:
            return self._unavailable(f"{path.name} is not a local file and hub access is off")
        if not reachable(_ASSET_HOST):
            reason = f"{path.name} is not a local file and {_ASSET_HOST} is unreachable"
            return self._unavailable(reason)
        return Availability(True, self.name, self.settings.model)

    def warm_up(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            try:
                from ultralytics import YOLO
                from ultralytics.utils.events import events
            except ImportError as e:
                raise ModelUnavailable(f"ultralytics cannot be imported: {e}") from e
            # Ultralytics reports usage to its analytics endpoint from predict() when online;
            # a server indexing user videos must not. This switches it off for this process
            # only (SETTINGS["sync"] would rewrite the user's settings file).
            events.enabled = False
            try:
                model = YOLO(str(Path(self.settings.model).expanduser()), task="detect")
            except Exception as e:  # download and unpickling errors come in many types
                raise ModelUnavailable(f"YOLO weights {self.settings.model!r}: {e}") from e
            self._device = resolve_device(self.settings.device)
            if self._device == "cuda" and not _cuda_available():
                raise ModelUnavailable("device is cuda but torch sees no GPU")
            self._model = model

    def detect(self, images: Sequence[Image]) -> list[list[Detection]]:
        """One list of detections per image, best first; images go through in batches."""
        self.warm_up()
        out: list[list[Detection]] = []
        for k in range(0, len(images), BATCH):
            # Ultralytics takes arrays as OpenCV's BGR
            batch = [np.ascontiguousarray(im[:, :, ::-1]) for im in images[k : k + BATCH]]
            results = self._model.predict(
                batch,
                imgsz=self.settings.imgsz,
                conf=self.settings.conf,
                device=self._device,
                verbose=False,
            )
            out.extend(self._convert(r) for r in results)
        return out

    @staticmethod
    def _convert(result: Any) -> list[Detection]:
        boxes = result.boxes
        labels = [result.names[int(c)] for c in boxes.cls.tolist()]
        scores = boxes.conf.tolist()
        coords = boxes.xyxyn.clamp(0.0, 1.0).tolist()
        dets = [
            Detection(label=label, score=float(s), box=tuple(float(v) for v in xyxy))  # type: ignore[arg-type]
            for label, s, xyxy in zip(labels, scores, coords, strict=True)
        ]
        return sorted(dets, key=lambda d: -d.score)
