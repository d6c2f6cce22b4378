"""Search results as Hits: clip documents unpacked from the in-memory blocks (with a small
cache for clips hit again), their evidence ordered by how many query words each modality
shares."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from indexer.clip_texts import clip_texts
from indexer.search.library import LibraryState, VideoEntry
from indexer.search.tokens import tokenize
from indexer.search.video_index import unpack_clip
from indexer.types import ClipDoc, Evidence, Hit

CLIP_CACHE = 4096  # parsed ClipDocs kept for repeated hits


class ClipCache:
    """Parsed ClipDocs by (index version, position), least recently used dropped first."""

    def __init__(self, size: int = CLIP_CACHE) -> None:
        self.size = size
        self._docs: OrderedDict[tuple[str, int], ClipDoc] = OrderedDict()
        self._lock = threading.Lock()

    def hits(
        self,
        st: LibraryState,
        fused: list[tuple[int, float]],
        query: str,
        text_query: np.ndarray | None = None,
    ) -> list[Hit]:
        """`text_query`: the query's text embedding, when the library's text vectors share its
        model; each hit then carries its best cosine with the clip's text vectors."""
        words = set(tokenize(query))
        members = st.dense["text"].members if text_query is not None else frozenset()
        hits = []
        for row, score in fused:
            v = st.video_of(row)
            doc = self.clip(v, row - v.lo)
            evidence = matching_first(doc.evidence, words)
            hits.append(
                Hit(
                    video_id=v.vid,
                    clip_index=doc.clip.index,
                    start_s=doc.clip.start_s,
                    end_s=doc.clip.end_s,
                    score=score,
                    evidence=evidence,
                    frames=doc.frames,
                )
            )
            if text_query is not None and v.vid in members:
                hits[-1].dense_similarity, hits[-1].closest_text = closest(v, row, doc, text_query)
        return hits

    def clip(self, v: VideoEntry, pos: int) -> ClipDoc:
        key = (str(v.root), pos)
        with self._lock:
            if key in self._docs:
                self._docs.move_to_end(key)
                return self._docs[key]
        doc = unpack_clip(v.blob, v.block_offsets, pos)
        with self._lock:
            self._docs[key] = doc
            if len(self._docs) > self.size:
                self._docs.popitem(last=False)
        return doc


def matching_first(evidence: list[Evidence], words: set[str]) -> list[Evidence]:
    """The clip's evidence, the modality sharing most words with the query first; within a
    modality the lines keep their recorded order, so a slide or a sign reads top to bottom in
    quotes and prompts (a line's answer is often the line below it)."""
    shared: dict[str, int] = {}
    for e in evidence:
        n = len(words.intersection(tokenize(e.text)))
        shared[e.modality] = max(shared.get(e.modality, 0), n)
    return sorted(evidence, key=lambda e: -shared[e.modality])


def closest(
    v: VideoEntry, row: int, doc: ClipDoc, q: np.ndarray
) -> tuple[float | None, str | None]:
    """The best inner product of `q` (one normalised query) with the text vectors of clip
    `row` of `v`, read exactly from its memory-mapped vectors, and the text that vector embeds
    (`Hit.dense_similarity`, `Hit.closest_text`); Nones when the clip has no text vector.

    A clip's vectors were written in the order `clip_texts` gives its texts (the pipeline's
    `_embed_clips`), so the best vector's place among the clip's rows names its text; an index
    written by another version of `clip_texts` (other counts) gets the cosine alone."""
    if "text" not in v.dense:
        return None, None
    x, rows = v.dense["text"]
    mine = np.flatnonzero(rows == row)
    if len(mine) == 0:
        return None, None
    cosines = np.asarray(x[mine], np.float32) @ q.reshape(-1)
    best = int(np.argmax(cosines))
    texts, _ = clip_texts([doc])
    text = texts[best] if len(texts) == len(mine) else None
    return float(cosines[best]), text
