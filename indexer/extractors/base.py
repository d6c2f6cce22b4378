"""The seams every extractor backend implements, and the registry that finds them by key.

A backend is one class in one file, registered as `@register("asr", "pocketsphinx")`. Its
constructor only stores settings (cheap, no imports of heavy libraries); `availability()` says
whether its package and weights can be had without loading them; `warm_up()` loads the model
and is called implicitly on first use. A missing package or model raises `ModelUnavailable`,
and the pipeline records that capability as off, never faking its output."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np

from indexer.errors import ModelUnavailable
from indexer.types import Detection, TextBox, Transcript

Image = np.ndarray  # HxWx3 uint8 RGB


@dataclass(frozen=True)
class Availability:
    """Whether a backend can run here, and if not, why (shown in /readyz and the video record)."""

    ok: bool
    backend: str
    model: str
    reason: str = ""


class Backend(Protocol):
    name: ClassVar[str]

    def availability(self) -> Availability: ...

    def warm_up(self) -> None: ...


class UnsupportedLanguage(ModelUnavailable):
    """The backend runs, but not for the language this audio was declared in (an English-only
    model asked for French): that audio's speech is off, the backend stays on for the rest."""


@runtime_checkable
class SpeechRecognizer(Backend, Protocol):
    def transcribe(
        self, audio: Path, *, offset_s: float = 0.0, language: str | None = None
    ) -> Transcript:
        """Transcribe a 16 kHz mono WAV; times in the result are offset by `offset_s`.
        `language` (an ISO 639-1 code such as "fr", the upload's) overrides the backend's
        setting; None detects it. The Transcript says which language and model were used."""
        ...


@runtime_checkable
class TextReader(Backend, Protocol):
    def read(self, images: Sequence[Image]) -> list[list[TextBox]]:
        """One list of text lines per image, boxes normalised to the image."""
        ...


@runtime_checkable
class ObjectDetector(Backend, Protocol):
    def detect(self, images: Sequence[Image]) -> list[list[Detection]]:
        """One list of detections per image, boxes normalised to the image."""
        ...


@runtime_checkable
class FrameEmbedder(Backend, Protocol):
    dim: int

    def embed_images(self, images: Sequence[Image]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per image."""
        ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors in the same space as the images."""
        ...


@runtime_checkable
class TextEmbedder(Backend, Protocol):
    dim: int

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text."""
        ...


KINDS = ("asr", "ocr", "detect", "frames", "text")
_REGISTRY: dict[tuple[str, str], type[Any]] = {}
T = TypeVar("T")


def register(kind: str, name: str) -> Callable[[type[T]], type[T]]:
    if kind not in KINDS:
        raise ValueError(f"unknown extractor kind {kind!r}")

    def deco(cls: type[T]) -> type[T]:
        _REGISTRY[(kind, name)] = cls
        cls.name = name  # type: ignore[attr-defined]
        return cls

    return deco


def backend_class(kind: str, name: str) -> type[Any]:
    try:
        return _REGISTRY[(kind, name)]
    except KeyError:
        known = ", ".join(sorted(n for k, n in _REGISTRY if k == kind)) or "none"
        raise ModelUnavailable(f"no {kind} backend named {name!r} (known: {known})") from None


def backend_names(kind: str) -> list[str]:
    return sorted(n for k, n in _REGISTRY if k == kind)


def resolve_device(device: str) -> str:
    """'auto' → 'cuda' when torch sees a GPU, else 'cpu'. Never imports torch if told the device."""
    if device != "auto":
        return device
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"
