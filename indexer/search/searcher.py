"""Moment retrieval over the library: keyword, sub-word, dense text and frame rankings fused by
weighted reciprocal rank.

One library-wide index per modality, whose ids ("rows") number the clips of every loaded video
(a large IVF is a memory-mapped file, see ivf_file.py): at 1,000 hours one IVF search takes
about a millisecond. A search limited to a few videos (at most `exact_below` vectors) scans
their memory-mapped vectors exactly, so its cost follows what it searches. Clip documents stay
in memory (zlib blocks); a LibraryWatcher keeps the state current (see refresh.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from indexer.errors import InvalidQuery, ModelUnavailable, VideoNotFound, VideoNotReady
from indexer.search.bm25 import Group, bm25_search_covered
from indexer.search.dense_build import MODALITIES, exact_top
from indexer.search.fusion import ranking_weights, reciprocal_rank_fusion
from indexer.search.hits import ClipCache
from indexer.search.labels import LabelMapper
from indexer.search.library import LibraryState, VideoEntry
from indexer.search.query import LabelMatcher, build_query
from indexer.search.refresh import Keys, LibraryWatcher, VideoSearchState
from indexer.settings import IndexSettings, Settings
from indexer.store import Library
from indexer.types import Hit

if TYPE_CHECKING:
    from indexer.extractors import Extractors

log = logging.getLogger(__name__)
FRAMES_PER_CLIP = 10  # frame hits fetched per clip wanted (1 fps over 10 s clips)
TEXTS_PER_CLIP = 6  # text vectors fetched per clip wanted (whole, text+objects, speech windows)


@dataclass
class SearchResult:
    """Hits, best first, and the requested videos that were not searched, with why."""

    hits: list[Hit]
    unavailable: dict[str, str] = field(default_factory=dict)


class Searcher:
    """Searches the videos of a library that have an index (`index/meta.json`).

    `search` returns up to top_k Hits, best first. Raises InvalidQuery (empty query, top_k out of
    1..max_top_k, empty video_ids). For a video it names that cannot be searched it raises
    VideoNotFound (unknown id) or VideoNotReady (not indexed, still loading, or its index is
    broken) — unless `skip_unavailable`, which searches the rest (library-wide searches).
    Thread-safe; modalities whose extractor is off are skipped (no text embedder: keyword only).
    `video_states()` says which videos can be searched and why not."""

    def __init__(self, library: Library, extractors: Extractors, settings: Settings) -> None:
        self.library, self.extractors = library, extractors
        self.settings: IndexSettings = settings.index
        cache = settings.search_cache_dir if self.settings.map_ivf else None
        self.watcher = LibraryWatcher(library, self.settings, cache)
        self._clips = ClipCache()
        self._labels = LabelMapper(self.settings.label_min_z)

    # --- public ----------------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Load the library indexes now (and the embedders); returns when loaded."""
        self.watcher.refresh_now(self._wanted_keys(self._embed("warm up")))

    @property
    def loaded(self) -> bool:
        """Whether the first load of the library is done (readiness)."""
        return self.watcher.loaded

    def video_states(self) -> dict[str, VideoSearchState]:
        return self.watcher.video_states()

    def search(
        self,
        query: str,
        video_ids: Sequence[str] | None = None,
        top_k: int | None = None,
        *,
        skip_unavailable: bool = False,
    ) -> list[Hit]:
        return self.search_result(query, video_ids, top_k, skip_unavailable=skip_unavailable).hits

    def search_result(
        self,
        query: str,
        video_ids: Sequence[str] | None = None,
        top_k: int | None = None,
        *,
        skip_unavailable: bool = False,
    ) -> SearchResult:
        top_k = self._check(query, video_ids, top_k)
        queries, keys = self._embedded(query)
        st, found, unavailable = self._scope(video_ids, skip_unavailable)
        selected = st.order if found is None else [st.videos[v] for v in found]
        if not selected:
            return SearchResult([], unavailable)
        depth = max(50, 4 * top_k)
        mask = self._mask(st, selected)
        ranked, covered = self._ranked(st, query, queries, keys, depth, selected, mask)
        weights = ranking_weights(self.settings, covered)
        used = [(weights[name], r) for name, r in ranked.items() if r and weights[name] > 0]
        fused = reciprocal_rank_fusion(
            [r for _, r in used], k=self.settings.rrf_k, weights=[w for w, _ in used]
        )
        text_q = queries.get("text") if st.dense["text"].key == keys.get("text") else None
        hits = self._clips.hits(st, fused[:top_k], query, text_q)
        return SearchResult(hits, unavailable)

    def rankings(self, query: str, depth: int = 50) -> dict[str, list[Hit]]:
        """Each library-wide ranking a search fuses, by name and unfused, best first (for
        benchmarks that weigh them: bench/fusion_weights.py)."""
        queries, keys = self._embedded(query)
        st = self.watcher.state
        ranked, _ = self._ranked(st, query, queries, keys, depth, st.order, st.live)
        return {
            name: self._clips.hits(st, [(row, 0.0) for row in rows], query)
            for name, rows in ranked.items()
        }

    def _ranked(
        self,
        st: LibraryState,
        query: str,
        queries: dict[str, np.ndarray],
        keys: Keys,
        depth: int,
        selected: list[VideoEntry],
        mask: np.ndarray | None,
    ) -> tuple[dict[str, list[int]], dict[str, float]]:
        """The rankings (rows, best first): keyword, sub-word, and each dense one whose library
        vectors come from the query's model; and how much of the query each lexical one's best
        clip holds."""
        kq = build_query(query, st.languages, self._label_matcher(st))
        ranked, covered = {}, {}
        for name, groups in (("keyword", kq.words), ("subword", kq.subwords)):
            ranked[name], covered[name] = self._keyword(st, groups, depth, mask)
        for name, q in queries.items():
            if st.dense[name].key == keys[name]:  # vectors of another model: not comparable
                ranked[name] = self._dense(st, name, q, depth, selected, mask)
        return ranked, covered

    # --- scope -----------------------------------------------------------------------------------
    def _check(self, query: str, video_ids: Sequence[str] | None, top_k: int | None) -> int:
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
        return top_k

    def _scope(
        self, video_ids: Sequence[str] | None, skip: bool
    ) -> tuple[LibraryState, list[str] | None, dict[str, str]]:
        """The state to search, the named videos it holds (None: all), and the other named
        ones with why. A named video whose index exists but is not loaded yet is waited for
        (at most load_wait_s)."""
        st = self.watcher.state
        if video_ids is None:
            return st, None, {}
        wanted = list(dict.fromkeys(video_ids))
        # library-wide (`skip`): a stat only for videos not loaded (one per video cost 41 ms at
        # 1,000 videos); a loaded one indexed again moves the folder mtime: notice() refreshes
        unloaded = [v for v in wanted if v not in st.videos] if skip else wanted
        pending = self.watcher.pending(unloaded)
        if pending:
            self.watcher.wait_for(pending, self.settings.load_wait_s)
            st = self.watcher.state
        found, why = [], {}
        for vid in wanted:
            if vid in st.videos:
                found.append(vid)
                continue
            reason = self._why_not(st, vid)
            if not skip:
                if reason == "not found":
                    raise VideoNotFound(f"no video {vid}")
                raise VideoNotReady(f"video {vid} cannot be searched: {reason}")
            why[vid] = reason
        return st, found, why

    def _why_not(self, st: LibraryState, vid: str) -> str:
        if vid in st.failed:
            return f"its index could not be loaded ({st.failed[vid][1]})"
        if self.watcher.on_disk(vid):
            return "its index is still loading"
        try:
            known = self.library.store(vid).exists("video.json")
        except ValueError:
            known = False
        return "it is not indexed yet" if known else "not found"

    @staticmethod
    def _mask(st: LibraryState, selected: list[VideoEntry]) -> np.ndarray | None:
        """Rows a search may return (bool by row), None for every row."""
        if len(selected) == len(st.order):
            return st.live  # hides removed videos' rows, when segments still hold any
        mask = np.zeros(st.next_row, dtype=bool)
        for v in selected:
            mask[v.lo : v.hi] = True
        return mask

    # --- rankings --------------------------------------------------------------------------------
    def _label_matcher(self, st: LibraryState) -> LabelMatcher | None:
        backend = self.extractors.get("text")
        if backend is None or not self.settings.label_mapping:
            return None
        return lambda phrases: self._labels.match(phrases, backend, st.labels)

    @staticmethod
    def _keyword(
        st: LibraryState, groups: list[Group], depth: int, mask: np.ndarray | None
    ) -> tuple[list[int], float]:
        if st.main is None or not groups:
            return [], 0.0
        found, covered = bm25_search_covered(
            [st.main, *st.recent],
            groups,
            depth,
            n_docs=st.n_docs,
            avg_len=st.avg_len,
            n_ids=st.next_row,
            live=st.live,
            allowed=mask,
        )
        return [row for row, _ in found], covered

    def _dense(
        self,
        st: LibraryState,
        name: str,
        q: np.ndarray,
        depth: int,
        selected: list[VideoEntry],
        mask: np.ndarray | None,
    ) -> list[int]:
        d = st.dense[name]
        if not d.parts:
            return []
        k = depth * (FRAMES_PER_CLIP if name == "frames" else TEXTS_PER_CLIP)
        if len(selected) == len(st.order):  # the whole library: nothing to count per video
            ids = d.search(q, k, mask, 1.0)
        else:
            chosen = [v for v in selected if v.vid in d.members]
            n_sel = sum(len(v.dense[name][1]) for v in chosen)
            if n_sel <= self.settings.exact_below:  # a few videos: scan them, not the index
                ids = exact_top(chosen, name, q, k)
            else:
                ids = d.search(q, k, mask, n_sel / max(d.ntotal - d.dead, 1))
        rows = dict.fromkeys(int(i) for i in ids)  # a clip at its best vector
        return list(rows)[:depth]

    # --- query side ------------------------------------------------------------------------------
    def _embedded(self, query: str) -> tuple[dict[str, np.ndarray], Keys]:
        """The query's vectors and keys, once the library's first load is done."""
        queries = self._embed(query)
        keys = self._wanted_keys(queries)
        self.watcher.notice(keys)
        if not self.watcher.loaded:
            self.watcher.wait_loaded(None)
        return queries, keys

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

    def _wanted_keys(self, queries: dict[str, np.ndarray]) -> Keys:
        keys: Keys = {}
        for name, kind in MODALITIES.items():
            q = queries.get(name)
            keys[name] = None if q is None else (self.extractors.status(kind).model, q.shape[1])
        return keys
