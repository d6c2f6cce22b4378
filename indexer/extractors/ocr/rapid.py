"""RapidOCR: PP-OCRv4 detection + recognition as ONNX models carried inside the PyPI wheel.

Works offline on CPU, so it is the OCR backend every machine has. `rapidocr_onnxruntime` is
imported only in `warm_up()`."""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from indexer.errors import ModelUnavailable
from indexer.extractors.base import Availability, Image, register
from indexer.settings import OCRSettings
from indexer.types import TextBox

_PACKAGE = "rapidocr_onnxruntime"
_MODEL = "PP-OCRv4 (onnx)"


def _threads() -> int:
    # onnxruntime defaults to one thread per core and spins them; the worker shares its cores
    # with decoding and the other extractors, so a small fixed pool is faster overall
    return max(1, min(4, os.cpu_count() or 1))


def _to_box(points: Any, width: int, height: int) -> tuple[float, float, float, float]:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    return (
        float(np.clip(x0 / width, 0.0, 1.0)),
        float(np.clip(y0 / height, 0.0, 1.0)),
        float(np.clip(x1 / width, 0.0, 1.0)),
        float(np.clip(y1 / height, 0.0, 1.0)),
    )


def _fit(image: Image, max_side: int) -> np.ndarray:
    """The image as a contiguous BGR array whose long side is at most `max_side`."""
    import cv2  # comes with rapidocr_onnxruntime

    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.shape} {image.dtype}")
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    # RapidOCR takes arrays as OpenCV's BGR; fed RGB, its recogniser loses a few points
    return np.ascontiguousarray(image[:, :, ::-1])


@register("ocr", "rapidocr")
class RapidOCRReader:
    """Reads lines of text with RapidOCR.

    `read(images)` returns, per image, the lines scoring at least `settings.min_score`, in
    reading order, boxes normalised to the image. Raises `ModelUnavailable` when the package is
    missing or its models cannot be loaded."""

    name: ClassVar[str] = "rapidocr"

    def __init__(self, settings: OCRSettings, *, offline: bool = False) -> None:
        self.settings = settings
        self.offline = offline  # the models ship in the wheel: nothing to download
        self._engine: Any = None
        self._lock = threading.Lock()

    def availability(self) -> Availability:
        if importlib.util.find_spec(_PACKAGE) is None:
            return Availability(False, self.name, _MODEL, f"{_PACKAGE} is not installed")
        return Availability(True, self.name, _MODEL)

    def warm_up(self) -> None:
        with self._lock:
            if self._engine is not None:
                return
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as e:
                raise ModelUnavailable(f"{_PACKAGE} cannot be imported: {e}") from e
            use_cuda = self._use_cuda()
            try:
                self._engine = RapidOCR(
                    # "max" never upscales small frames; the angle classifier is off because
                    # video text is upright and it costs a pass per line
                    det_limit_type="max",
                    det_limit_side_len=self.settings.max_side,
                    use_cls=False,
                    text_score=self.settings.min_score,
                    intra_op_num_threads=_threads(),
                    inter_op_num_threads=1,
                    det_use_cuda=use_cuda,
                    rec_use_cuda=use_cuda,
                )
            except Exception as e:  # onnxruntime raises its own types for bad models
                raise ModelUnavailable(f"RapidOCR failed to load: {e}") from e

    def _use_cuda(self) -> bool:
        if self.settings.device == "cpu":
            return False
        import onnxruntime

        has_cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
        if self.settings.device == "cuda" and not has_cuda:
            raise ModelUnavailable("device is cuda but onnxruntime has no CUDA provider")
        return has_cuda

    def read(self, images: Sequence[Image]) -> list[list[TextBox]]:
        """One list of text lines per image (RapidOCR runs images one at a time)."""
        self.warm_up()
        return [self._read_one(image) for image in images]

    def _read_one(self, image: Image) -> list[TextBox]:
        bgr = _fit(image, self.settings.max_side)
        height, width = bgr.shape[:2]
        result, _ = self._engine(bgr, use_cls=False)
        lines = []
        for points, text, score in result or []:
            text = str(text).strip()
            if text and float(score) >= self.settings.min_score:
                box = _to_box(points, width, height)
                lines.append(TextBox(text=text, score=float(score), box=box))
        return lines
