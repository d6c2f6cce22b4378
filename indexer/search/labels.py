"""Descriptive object queries mapped onto detector labels through the text embedder: "men" finds
clips whose objects line says "person", "automobile" those that say "car".

The labels compared against are the detector's vocabulary (COCO's 80 classes, which YOLO
models report) plus every label seen in the library. A query word or two-word phrase is taken
to mean a label when their cosine stands out from the phrase's cosines to the whole vocabulary
(a z-score): embedders differ in scale (multilingual-e5 puts unrelated words at ~0.85, MiniLM
at ~0.3), so no absolute bar serves both."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

COCO_LABELS = (
    *[
        "person",
        "bicycle",
        "car",
        "motorcycle",
        "airplane",
        "bus",
        "train",
        "truck",
        "boat",
        "bench",
        "bird",
        "cat",
        "dog",
    ],
    *[
        "horse",
        "sheep",
        "cow",
        "elephant",
        "bear",
        "zebra",
        "giraffe",
        "backpack",
        "umbrella",
        "handbag",
        "tie",
    ],
    *[
        "suitcase",
        "frisbee",
        "skis",
        "snowboard",
        "kite",
        "skateboard",
        "surfboard",
        "bottle",
        "cup",
        "fork",
        "knife",
    ],
    *[
        "spoon",
        "bowl",
        "banana",
        "apple",
        "sandwich",
        "orange",
        "broccoli",
        "carrot",
        "pizza",
        "donut",
        "cake",
        "chair",
    ],
    *[
        "couch",
        "bed",
        "toilet",
        "tv",
        "laptop",
        "mouse",
        "remote",
        "keyboard",
        "microwave",
        "oven",
        "toaster",
        "sink",
    ],
    *["refrigerator", "book", "clock", "vase", "scissors", "toothbrush"],
    *("traffic light", "fire hydrant", "stop sign", "parking meter", "sports ball"),
    *("baseball bat", "baseball glove", "tennis racket", "wine glass", "hot dog"),
    *("potted plant", "dining table", "cell phone", "teddy bear", "hair drier"),
)
# words alone embed poorly ("men" lands nearer "tv" than "person" with MiniLM); as the subject
# of a picture they land where the detector's labels do (25 descriptive words: 24 mapped right
# with MiniLM, 21 with multilingual-e5, at min_z 3.5)
PHRASE_TEMPLATE = "a photo of {}"
LABEL_TEMPLATE = "a photo of a {}"
_PLACES = re.compile(r"\s*\([^)]*\)")
_COUNT = re.compile(r"^\d+\s+")


def labels_in(objects_line: str) -> list[str]:
    """The labels of an objects line such as "2 person (left, right), 1 sports ball (center)"."""
    parts = _PLACES.sub("", objects_line).split(",")
    return [label for p in parts if (label := _COUNT.sub("", p.strip()).strip())]


class LabelMapper:
    """Finds the labels a query's words mean, with one embedder call per query (cached)."""

    def __init__(self, min_z: float = 3.5) -> None:
        self.min_z = min_z
        self._labels: list[str] = []
        self._vectors: np.ndarray | None = None
        self._model: Any = None
        self._lock = threading.Lock()
        self._memo: dict[str, tuple[str, ...]] = {}

    def _vocabulary(self, embedder: Any, library_labels: Iterable[str]) -> None:
        labels = sorted(set(COCO_LABELS) | {x for x in library_labels if x})
        if self._model is embedder and labels == self._labels:
            return
        vecs = np.asarray(embedder.embed([LABEL_TEMPLATE.format(x) for x in labels]), np.float32)
        self._labels, self._vectors, self._model, self._memo = labels, vecs, embedder, {}

    def match(
        self, phrases: Sequence[str], embedder: Any, library_labels: Iterable[str]
    ) -> dict[str, tuple[str, ...]]:
        """The labels each phrase means (most phrases: none). Labels that are the phrase itself
        are left out: the keyword index finds those already."""
        with self._lock:
            self._vocabulary(embedder, library_labels)
            todo = [p for p in dict.fromkeys(phrases) if p not in self._memo]
            if todo and self._vectors is not None:
                asked = [PHRASE_TEMPLATE.format(p) for p in todo]
                sims = np.asarray(embedder.embed(asked), np.float32) @ self._vectors.T
                for phrase, row in zip(todo, sims, strict=True):
                    self._memo[phrase] = self._pick(phrase, row)
            return {p: self._memo[p] for p in phrases if self._memo.get(p)}

    def _pick(self, phrase: str, row: np.ndarray) -> tuple[str, ...]:
        z = (row - float(np.median(row))) / (float(row.std()) or 1.0)
        best = int(np.argmax(row))
        return (
            (self._labels[best],) if z[best] >= self.min_z and self._labels[best] != phrase else ()
        )
