"""Search results as Hits: clip documents unpacked from the in-memory blocks (with a small
cache for clips hit again), their evidence ordered by how many query words each shares."""

from __future__ import annotations

import threading
from collections import OrderedDict

from indexer.search.library import LibraryState, VideoEntry
from indexer.search.tokens import tokenize
from indexer.search.video_index import unpack_clip
from indexer.types import ClipDoc, Hit

CLIP_CACHE = 4096  # parsed ClipDocs kept for repeated hits


class ClipCache:
    """Parsed ClipDocs by (index version, position), least recently used dropped first."""

    def __init__(self, size: int = CLIP_CACHE) -> None:
        self.size = size
        self._docs: OrderedDict[tuple[str, int], ClipDoc] = OrderedDict()
        self._lock = threading.Lock()

    def hits(self, st: LibraryState, fused: list[tuple[int, float]], query: str) -> list[Hit]:
        words = set(tokenize(query))
        hits = []
        for row, score in fused:
            v = st.video_of(row)
            doc = self.clip(v, row - v.lo)
            # the evidence sharing most words with the query first (stable otherwise)
            evidence = sorted(
                doc.evidence, key=lambda e: -len(words.intersection(tokenize(e.text)))
            )
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
