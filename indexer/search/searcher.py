"""Moment retrieval over the library: dense text, keyword and frame search fused by rank.

The Searcher holds one library-wide index per modality in memory, whose ids ("rows") number the
clips of every ready video, rather than searching each video's small index in turn: at 1,000
hours (~360k clips) one IVF search takes about a millisecond, a thousand small ones far more.
Clip documents stay in memory too (zlib blocks), so a search reads nothing from disk.

Every search first checks whether the library changed: one stat of the videos folder, whose
mtime moves when a video folder comes or goes and when `write_video_index` finishes; then one
stat of `index/meta.json` per video says which. New videos are added, deleted or re-indexed ones
removed, so a video indexed by a worker process is found by the gateway's next search without a
restart. Changes are prepared beside the live state and swapped in under a short write lock.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from indexer.errors import InvalidQuery, ModelUnavailable, VideoNotFound, VideoNotReady
from indexer.search.dense_build import MODALITIES
from indexer.search.fusion import reciprocal_rank_fusion
from indexer.search.hits import ClipCache
from indexer.search.keyword import Group, bm25_search
from indexer.search.labels import LabelMapper
from indexer.search.library import (
    LibraryState,
    Stamp,
    StateBuilder,
    VideoEntry,
    folder_mtime,
    scan_library,
)
from indexer.search.query import LabelMatcher, build_query
from indexer.search.vectors import FLAT
from indexer.settings import IndexSettings, Settings
from indexer.store import Library
from indexer.types import Hit

if TYPE_CHECKING:
    from indexer.extractors import Extractors

log = logging.getLogger(__name__)
FRAMES_PER_CLIP = 10  # frame hits fetched per clip wanted (1 fps over 10 s clips)
TEXTS_PER_CLIP = 4  # text vectors per clip: the whole clip, and its speech, text and objects
SETTLE_NS = 2_000_000_000  # a folder mtime this recent may still move within its clock tick


class _RWLock:
    """Many readers or one writer; a waiting writer holds back new readers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = self._waiting = 0
        self._writer = False

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer and not self._waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            self._cond.wait_for(lambda: not self._writer and not self._readers)
            self._waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class Searcher:
    """Searches the ready videos of a library (those with `index/meta.json`).

    `search` returns up to top_k Hits, best first. Raises InvalidQuery (empty query, top_k out of
    1..max_top_k, empty video_ids), VideoNotFound (unknown id), VideoNotReady (not indexed yet).
    Thread-safe; modalities whose extractor is off are skipped (no text embedder: keyword only)."""

    def __init__(self, library: Library, extractors: Extractors, settings: Settings) -> None:
        self.library, self.extractors = library, extractors
        self.settings: IndexSettings = settings.index
        self._builder = StateBuilder(library, self.settings)
        self._state = LibraryState()
        self._keys: dict[str, tuple[str, int] | None] = {}
        self._seen_mtime: int | None = None  # of the videos folder, once settled and applied
        self._lock = _RWLock()  # searches read; swapping in a new state writes
        self._refreshing = threading.Lock()  # one thread prepares changes at a time
        self._clips = ClipCache()
        self._labels = LabelMapper(self.settings.label_min_z)

    # --- public ----------------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Load the library indexes now (and the embedders), rather than on the first search."""
        self._refresh(self._embed("warm up"))

    def search(
        self, query: str, video_ids: Sequence[str] | None = None, top_k: int | None = None
    ) -> list[Hit]:
        if not isinstance(query, str) or not query.strip():
            raise InvalidQuery("query is empty")
        top_k = self.settings.default_top_k if top_k is None else top_k
        if isinstance(top_k, bool) or not isinstance(top_k, int):
            raise InvalidQuery("top_k must be an integer")
        if not 1 <= top_k <= self.settings.max_top_k:
            raise InvalidQuery(f"top_k must be between 1 and {self.settings.max_top_k}")
        if isinstance(video_ids, str):
            raise InvalidQuery("video_ids must be a list of ids")
        if video_ids is not None and len(video_ids) == 0:
            raise InvalidQuery("video_ids is empty; omit it to search every video")
        queries = self._embed(query)
        self._refresh(queries)
        with self._lock.read():
            st = self._state
            selected = self._select(st, video_ids)
            if not selected:
                return []
            depth = max(50, 4 * top_k)
            mask, n_sel = self._mask(st, selected)
            kq = build_query(query, st.languages, self._label_matcher(st))
            cfg = self.settings
            rankings = [
                (cfg.weight_keyword, self._keyword(st, kq.words, depth, mask)),
                (cfg.weight_subword, self._keyword(st, kq.subwords, depth, mask)),
            ]
            for name, q in queries.items():
                weight = cfg.weight_text if name == "text" else cfg.weight_frames
                rankings.append((weight, self._dense(st, name, q, depth, mask, n_sel)))
            used = [(w, r) for w, r in rankings if r and w > 0]
            fused = reciprocal_rank_fusion(
                [r for _, r in used], k=cfg.rrf_k, weights=[w for w, _ in used]
            )
            return self._clips.hits(st, fused[:top_k], query)

    # --- query side ------------------------------------------------------------------------------
    def _label_matcher(self, st: LibraryState) -> LabelMatcher | None:
        backend = self.extractors.get("text")
        if backend is None or not self.settings.label_mapping:
            return None
        return lambda phrases: self._labels.match(phrases, backend, st.labels)

    @staticmethod
    def _keyword(
        st: LibraryState, groups: list[Group], depth: int, mask: np.ndarray | None
    ) -> list[int]:
        if st.main is None or not groups:
            return []
        found = bm25_search(
            [st.main, *st.recent],
            groups,
            depth,
            n_docs=st.n_docs,
            avg_len=st.avg_len,
            n_ids=st.next_row,
            live=st.live,
            allowed=mask,
        )
        return [row for row, _ in found]

    def _embed(self, query: str) -> dict[str, np.ndarray]:
        out = {}
        for name, kind in MODALITIES.items():
            backend = self.extractors.get(kind)
            if backend is None:
                continue
            try:
                if name == "text":
                    q = backend.embed([query], query=True)
                else:
                    q = backend.embed_texts([query])
            except ModelUnavailable as e:  # switched off for the process, as the pipeline does
                log.warning("%s embedder unavailable, searching without it: %s", kind, e)
                self.extractors.mark_failed(kind, str(e))
                continue
            out[name] = np.ascontiguousarray(q, dtype=np.float32).reshape(1, -1)
        return out

    def _select(self, st: LibraryState, video_ids: Sequence[str] | None) -> list[VideoEntry]:
        if video_ids is None:
            return st.order
        chosen = []
        for vid in dict.fromkeys(video_ids):
            v = st.videos.get(vid)
            if v is None:
                try:
                    known = self.library.store(vid).exists("video.json")
                except ValueError:
                    known = False
                if known:
                    raise VideoNotReady(f"video {vid} is not indexed yet")
                raise VideoNotFound(f"no video {vid}")
            chosen.append(v)
        return chosen

    @staticmethod
    def _mask(st: LibraryState, selected: list[VideoEntry]) -> tuple[np.ndarray | None, int]:
        if len(selected) == len(st.order):
            return None, st.n_docs  # everything: no filter to pay for
        n_sel = sum(v.hi - v.lo for v in selected)
        mask = np.zeros(st.next_row, dtype=bool)
        for v in selected:
            mask[v.lo : v.hi] = True
        return mask, n_sel

    def _dense(
        self,
        st: LibraryState,
        name: str,
        q: np.ndarray,
        depth: int,
        mask: np.ndarray | None,
        n_sel: int,
    ) -> list[int]:
        d = st.dense[name]
        if d.index is None or d.index.ntotal == 0 or q.shape[1] != d.index.dim:
            return []
        nprobe = None
        if mask is not None and d.index.kind != FLAT:
            # a filter keeps a fraction of each list; probe more lists to see as many candidates
            live = sum(st.videos[m].hi - st.videos[m].lo for m in d.members) or 1
            nprobe = min(d.index.nlist, math.ceil(d.index.nprobe * live / max(n_sel, 1)))
        k = depth * (FRAMES_PER_CLIP if name == "frames" else TEXTS_PER_CLIP)
        _, ids = d.index.search(q, k, allowed=mask, nprobe=nprobe)
        rows = dict.fromkeys(int(i) for i in ids[0] if i >= 0)  # a clip at its best vector
        return list(rows)[:depth]

    # --- noticing changes ------------------------------------------------------------------------
    def _wanted_keys(self, queries: dict[str, np.ndarray]) -> dict[str, tuple[str, int] | None]:
        keys: dict[str, tuple[str, int] | None] = {}
        for name, kind in MODALITIES.items():
            q = queries.get(name)
            keys[name] = None if q is None else (self.extractors.status(kind).model, q.shape[1])
        return keys

    def _refresh(self, queries: dict[str, np.ndarray]) -> None:
        keys = self._wanted_keys(queries)
        unchanged = (
            self._seen_mtime is not None and folder_mtime(self.library.root) == self._seen_mtime
        )
        if unchanged and keys == self._keys:
            return  # nothing came, went or was re-indexed
        with self._refreshing:
            mtime = folder_mtime(
                self.library.root
            )  # before the listing: a later change moves it again
            scan = scan_library(self.library.root)
            if not self._current(scan) or keys != self._keys:
                new = self._builder.prepare(self._state, scan, keys)
                with self._lock.write():
                    self._state = new.commit()
                st = self._state
                log.info("library index: %d videos, %d clips", len(st.videos), st.n_docs)
                self._keys = keys
                if new.rebuilt:
                    del new
                    _release_free_memory()
            settled = time.time_ns() - mtime > SETTLE_NS
            self._seen_mtime = mtime if settled and mtime >= 0 else None

    def _current(self, scan: dict[str, Stamp]) -> bool:
        st = self._state
        if len(scan) != len(st.videos) + len(st.failed):
            return False
        return all(
            ((v := st.videos.get(vid)) is not None and v.stamp == s) or st.failed.get(vid) == s
            for vid, s in scan.items()
        )


def _release_free_memory() -> None:
    """Hand the heap freed by a rebuild back to the system. glibc keeps it otherwise (building
    the 1,000-hour library index left ~700 MB freed but resident); elsewhere a no-op."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
