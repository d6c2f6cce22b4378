"""PaddleOCR: PP-OCR models on PaddlePaddle, the preferred OCR backend on a GPU worker.

Its models come from PaddleX's model hosts (HuggingFace, ModelScope, AIStudio, BOS) on first use
and are cached under `$PADDLE_PDX_CACHE_HOME` (default `~/.paddlex`)/official_models. Targets
the paddleocr 3.x API (`PaddleOCR(...).predict()`); a 2.x install is read through `.ocr()`."""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from indexer.errors import ModelUnavailable
from indexer.extractors.base import Availability, Image, register
from indexer.extractors.hub import reachable
from indexer.settings import OCRSettings
from indexer.types import TextBox

_HOSTS = (
    "huggingface.co",
    "www.modelscope.cn",
    "aistudio.baidu.com",
    "paddle-model-ecology.bj.bcebos.com",
)
Box = tuple[float, float, float, float]


def _model_cache() -> Path:
    # PaddleX reads this variable itself; we only look where it will look
    home = os.environ.get("PADDLE_PDX_CACHE_HOME") or str(Path.home() / ".paddlex")
    return Path(home) / "official_models"


def _has_cached_models(cache: Path) -> bool:
    if not cache.is_dir():
        return False
    names = [p.name for p in cache.iterdir() if p.is_dir()]
    return any(n.endswith("_det") for n in names) and any(n.endswith("_rec") for n in names)


def _norm_box(points: Any, width: int, height: int) -> Box:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    box = (x0 / width, y0 / height, x1 / width, y1 / height)
    return tuple(float(np.clip(v, 0.0, 1.0)) for v in box)  # type: ignore[return-value]


def lines_from_v3(
    result: Mapping[str, Any], width: int, height: int
) -> list[tuple[str, float, Box]]:
    """(text, score, box) per line of one paddleocr 3.x `OCRResult` (or its `.json`)."""
    res = result.get("res", result)
    texts, scores, polys = res["rec_texts"], res["rec_scores"], res["rec_polys"]
    return [
        (str(t), float(s), _norm_box(p, width, height))
        for t, s, p in zip(texts, scores, polys, strict=True)
    ]


def lines_from_v2(result: Any, width: int, height: int) -> list[tuple[str, float, Box]]:
    """(text, score, box) per line of one image's paddleocr 2.x `.ocr()` output."""
    # 2.x answers [[points, (text, score)], ...] per image, or None when it found nothing
    return [(str(t), float(s), _norm_box(p, width, height)) for p, (t, s) in result or []]


@register("ocr", "paddleocr")
class PaddleOCRReader:
    """Reads lines of text with PaddleOCR.

    `read(images)` returns, per image, the lines scoring at least `settings.min_score`, boxes
    normalised to the image. `warm_up()` raises `ModelUnavailable` when the package is missing or
    its models cannot be loaded (not cached and no model host reachable)."""

    name: ClassVar[str] = "paddleocr"

    def __init__(self, settings: OCRSettings, *, offline: bool = False) -> None:
        self.settings = settings
        self.offline = offline
        self._engine: Any = None
        self._v3 = True
        self._lock = threading.Lock()

    @property
    def _model(self) -> str:
        return f"PP-OCR ({self.settings.lang})"

    def availability(self) -> Availability:
        for package, pip_name in (("paddleocr", "paddleocr"), ("paddle", "paddlepaddle")):
            if importlib.util.find_spec(package) is None:
                reason = f"{pip_name} is not installed (it is in the gpu extra)"
                return Availability(False, self.name, self._model, reason)
        cache = _model_cache()
        if _has_cached_models(cache):
            return Availability(True, self.name, self._model)
        if self.offline:
            reason = f"no PP-OCR models cached in {cache} and hub access is off"
            return Availability(False, self.name, self._model, reason)
        if not any(reachable(host) for host in _HOSTS):
            reason = f"no PP-OCR models cached in {cache} and no model host reachable"
            return Availability(False, self.name, self._model, reason)
        return Availability(True, self.name, self._model)

    def warm_up(self) -> None:
        with self._lock:
            if self._engine is not None:
                return
            try:
                import paddleocr
            except ImportError as e:
                raise ModelUnavailable(f"paddleocr cannot be imported: {e}") from e
            self._v3 = not str(getattr(paddleocr, "__version__", "3")).startswith("2.")
            try:
                self._engine = paddleocr.PaddleOCR(**self._options())
            except Exception as e:  # PaddleX raises bare Exception when no host answers
                raise ModelUnavailable(f"PaddleOCR failed to load: {e}") from e

    def _options(self) -> dict[str, Any]:
        s = self.settings
        if self._v3:
            device = {"cpu": "cpu", "cuda": "gpu"}.get(s.device)  # None: PaddleX picks
            # no page unwarping or orientation models: video frames are upright and these
            # models would also move the boxes into a rectified image's coordinates
            opts: dict[str, Any] = {
                "lang": s.lang,
                "use_doc_orientation_classify": False,
                "use_doc_unwarping": False,
                "use_textline_orientation": False,
                "text_det_limit_type": "max",
                "text_det_limit_side_len": s.max_side,
                "text_rec_score_thresh": s.min_score,
            }
            return opts if device is None else {**opts, "device": device}
        opts = {
            "lang": s.lang,
            "use_angle_cls": False,
            "show_log": False,
            "det_limit_type": "max",
            "det_limit_side_len": s.max_side,
        }
        return opts if s.device == "auto" else {**opts, "use_gpu": s.device == "cuda"}

    def read(self, images: Sequence[Image]) -> list[list[TextBox]]:
        """One list of text lines per image; 3.x reads the whole batch in one call."""
        self.warm_up()
        if not images:
            return []
        # PaddleX, like OpenCV, takes arrays as BGR
        bgr = [np.ascontiguousarray(im[:, :, ::-1]) for im in images]
        if self._v3:
            results = list(self._engine.predict(bgr))
        else:
            results = [self._engine.ocr(im, cls=False)[0] for im in bgr]
        if len(results) != len(images):
            raise RuntimeError(f"PaddleOCR answered {len(results)} results for {len(images)}")
        convert = lines_from_v3 if self._v3 else lines_from_v2
        per_image = [
            convert(r, im.shape[1], im.shape[0]) for r, im in zip(results, bgr, strict=True)
        ]
        return [
            [
                TextBox(text=t.strip(), score=s, box=b)
                for t, s, b in lines
                if t.strip() and s >= self.settings.min_score
            ]
            for lines in per_image
        ]
