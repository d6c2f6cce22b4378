"""Test doubles for the index and retrieval tests: a deterministic bag-of-words text embedder
(with a synonym table, so dense search can find what keyword search cannot) and an Extractors
look-alike exposing only what the Searcher uses (`get`, `status`, `mark_failed`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from indexer.extractors.base import Availability
from indexer.search.tokens import raw_tokens
from indexer.search.video_index import write_video_index
from indexer.settings import IndexSettings
from indexer.store import Library
from indexer.types import Clip, ClipDoc, Evidence

SYNONYMS = {"automobile": "car", "vehicle": "car", "feline": "cat", "kitten": "cat"}


class HashEmbedder:
    """Each word (after SYNONYMS) hashed to a fixed random unit vector; a text is the normalised
    sum of its words. Texts sharing words, or synonyms, are close; others nearly orthogonal."""

    name = "hash"

    def __init__(self, dim: int = 64, model: str = "hash-64") -> None:
        self.dim, self.model = dim, model

    def _word(self, w: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(w.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return v / np.linalg.norm(v)

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for w in raw_tokens(t):  # the keyword tokenizer's words, unstemmed
                out[i] += self._word(SYNONYMS.get(w, w))
            n = np.linalg.norm(out[i])
            out[i] = out[i] / n if n else self._word("<empty>")
        return out

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts)


class FakeExtractors:
    """Holds backends by kind; a kind absent from `backends` is off, as Extractors reports."""

    def __init__(self, **backends: Any) -> None:
        self.backends = dict(backends)
        self.failed: dict[str, str] = {}

    def get(self, kind: str) -> Any | None:
        return self.backends.get(kind)

    def status(self, kind: str) -> Availability:
        b = self.backends.get(kind)
        if b is None:
            return Availability(False, kind, "", self.failed.get(kind, "off"))
        return Availability(True, b.name, b.model)

    def mark_failed(self, kind: str, reason: str) -> None:
        self.backends.pop(kind, None)
        self.failed[kind] = reason


def clip_docs(texts: Sequence[str], clip_s: float = 10.0) -> list[ClipDoc]:
    """One clip per text, its text as speech evidence, plus an `objects` line."""
    return [
        ClipDoc(
            clip=Clip(index=i, start_s=i * clip_s, end_s=(i + 1) * clip_s),
            evidence=[
                Evidence(
                    modality="objects", text="person", start_s=i * clip_s, end_s=(i + 1) * clip_s
                ),
                Evidence(modality="speech", text=t, start_s=i * clip_s, end_s=(i + 1) * clip_s),
            ],
            frames=[f"frames/{i:06d}.jpg"],
        )
        for i, t in enumerate(texts)
    ]


def add_video(
    library: Library,
    vid: str,
    texts: Sequence[str],
    settings: IndexSettings,
    embedder: HashEmbedder | None = None,
    *,
    ready: bool = True,
) -> list[ClipDoc]:
    """Create a video directory (video.json) and, when `ready`, its index."""
    store = library.store(vid)
    store.write_json("video.json", {"id": vid})
    clips = clip_docs(texts)
    if ready:
        emb = embedder or HashEmbedder()
        vecs = emb.embed([c.text() for c in clips])
        write_video_index(store, clips, vecs, None, None, settings, {"text_model": emb.model})
    return clips
