"""The library's search state: which videos are loaded (and which could not be, and why), the
rows their clips occupy, and the library-wide keyword segments and vector indexes over them.

A `LibraryState` is never changed once searches can see it: `StateBuilder.prepare` makes the
next one beside it (reading new videos from disk, merging keyword segments, building vector
indexes) and the Searcher swaps it in with one assignment, so no search waits for a refresh.
A video whose index cannot be read is recorded in `failed` with the reason and left out; it is
tried again when its meta.json changes.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from indexer.search.dense_build import MODALITIES, DenseIndex, prepare_dense
from indexer.search.keyword import KeywordIndex
from indexer.search.video_index import VideoIndex, unpack_clip
from indexer.settings import IndexSettings
from indexer.store import Library

log = logging.getLogger(__name__)
Stamp = tuple[int, int]  # (inode, mtime) of a video's index/meta.json: a rewrite changes both
RECENT_MAX = 8  # keyword parts of new videos searched apart before being merged together
# merge everything again when this share of the keyword postings is dead or not in the main part
REMERGE_SHARE = 0.25


@dataclass
class VideoEntry:
    """A loaded video: its rows [lo, hi) in clip order and its clip documents (zlib blocks)."""

    vid: str
    stamp: Stamp
    root: Path  # the index version folder
    meta: dict
    lo: int
    hi: int
    clip_index: np.ndarray
    block_offsets: np.ndarray
    blob: bytes  # clips.bin
    doc_len_sum: float
    # per dense modality: the vectors (memory-mapped) and the row of each
    dense: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def rows_of(self, clip_indexes: np.ndarray) -> np.ndarray:
        order = np.argsort(self.clip_index)
        pos = np.searchsorted(self.clip_index, clip_indexes, sorter=order)
        return self.lo + order[pos]


@dataclass
class LibraryState:
    """One consistent view of the loaded library; rows number the clips of every video."""

    videos: dict[str, VideoEntry] = field(default_factory=dict)
    failed: dict[str, tuple[Stamp, str]] = field(default_factory=dict)  # (stamp, reason)
    next_row: int = 0
    order: list[VideoEntry] = field(default_factory=list)  # by lo, for row -> video
    los: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    dense: dict[str, DenseIndex] = field(
        default_factory=lambda: {m: DenseIndex() for m in MODALITIES}
    )
    main: KeywordIndex | None = None  # keyword segments, ids = rows; may hold removed rows
    recent: tuple[KeywordIndex, ...] = ()
    live: np.ndarray | None = None  # bool by row, when segments hold removed rows
    n_docs: int = 0
    avg_len: float = 1.0
    languages: frozenset[str] = frozenset()  # of the loaded videos' text (meta "languages")
    labels: frozenset[str] = frozenset()  # detector labels seen in the loaded videos

    def video_of(self, row: int) -> VideoEntry:
        return self.order[int(np.searchsorted(self.los, row, side="right")) - 1]


class StateBuilder:
    """Prepares the next LibraryState from a listing of the library's indexes."""

    def __init__(
        self, library: Library, settings: IndexSettings, cache: Path | None = None
    ) -> None:
        self.library, self.settings, self.cache = library, settings, cache

    def prepare(
        self,
        old: LibraryState,
        scan: dict[str, Stamp],
        keys: dict[str, tuple[str, int] | None],
        rebuild: bool = True,
    ) -> tuple[LibraryState, bool]:
        """The next state for the listing `scan`, and whether a big index was rebuilt. Without
        `rebuild`, new videos are only added beside what exists (milliseconds per video), so
        they are searchable before the slower merges and retraining run."""
        gone = [v for vid, v in old.videos.items() if scan.get(vid) != v.stamp]
        videos = {vid: v for vid, v in old.videos.items() if scan.get(vid) == v.stamp}
        failed = {vid: f for vid, f in old.failed.items() if scan.get(vid) == f[0]}
        next_row, new, parts = old.next_row, [], []
        for vid, stamp in sorted(scan.items()):  # rows in id order, whatever the listing's
            if vid in videos or vid in failed:
                continue
            try:
                v, kw = self._load(vid, stamp, next_row)
            except Exception as e:  # any broken file fails this video only
                # raced with a delete or rewrite (retried when its meta.json changes) or broken
                log.warning("cannot load the index of video %s: %s", vid, e)
                failed[vid] = (stamp, f"{type(e).__name__}: {str(e)[:300]}")
                continue
            next_row = v.hi
            videos[vid] = v
            new.append(v)
            parts.append(kw)
        order = sorted(videos.values(), key=lambda v: v.lo)
        live = np.zeros(next_row, dtype=bool)
        for v in order:
            live[v.lo : v.hi] = True
        n_docs = sum(v.hi - v.lo for v in order)
        st = replace(
            old,
            videos=videos,
            failed=failed,
            next_row=next_row,
            order=order,
            los=np.array([v.lo for v in order], dtype=np.int64),
            n_docs=n_docs,
            avg_len=max(sum(v.doc_len_sum for v in order) / n_docs, 1e-9) if n_docs else 1.0,
            dense=dict(old.dense),
            languages=frozenset(x for v in order for x in v.meta.get("languages") or ()),
            labels=frozenset(x for v in order for x in v.meta.get("object_labels") or ()),
        )
        rebuilt = self._prepare_keywords(st, parts, live, rebuild)
        for name in MODALITIES:
            dense, built = prepare_dense(
                old.dense[name],
                videos,
                name,
                keys[name],
                gone,
                new,
                self.settings,
                rebuild,
                self.cache,
            )
            st.dense[name] = dense
            rebuilt |= built
        st.live = live if _holds_dead(st) else None  # a mask only where rows must be hidden
        if rebuild and st.next_row - st.n_docs > REMERGE_SHARE * max(st.n_docs, 1):
            return self._compact(st, keys), True
        return st, rebuilt

    def _compact(self, st: LibraryState, keys: dict[str, tuple[str, int] | None]) -> LibraryState:
        """The same videos on rows 0..n_docs again: rows of removed videos are never reused,
        so after enough removals every index is rebuilt on fresh, dense row numbers (per-query
        arrays and masks are sized by the highest row)."""
        remap = np.full(st.next_row, -1, np.int64)
        videos, lo = {}, 0
        for v in st.order:
            n = v.hi - v.lo
            remap[v.lo : v.hi] = np.arange(lo, lo + n)
            dense = {name: (x, rows - v.lo + lo) for name, (x, rows) in v.dense.items()}
            videos[v.vid] = replace(v, lo=lo, hi=lo + n, dense=dense)
            lo += n
        segments = [s for s in (st.main, *st.recent) if s is not None]
        merged = KeywordIndex.merge(segments, live=remap >= 0)
        main = merged.with_ids(remap[merged.ids]).prepare_search()
        order = [videos[v.vid] for v in st.order]
        out = replace(
            st,
            videos=videos,
            order=order,
            los=np.array([v.lo for v in order], dtype=np.int64),
            next_row=lo,
            main=main,
            recent=(),
            live=None,
            dense={},
        )
        for name in MODALITIES:
            out.dense[name], _ = prepare_dense(
                DenseIndex(), videos, name, keys[name], [], [], self.settings, cache=self.cache
            )
        return out

    def _load(self, vid: str, stamp: Stamp, lo: int) -> tuple[VideoEntry, KeywordIndex]:
        vi = VideoIndex.load(self.library.store(vid), self.settings)
        blob = vi.clip_blob()
        if len(vi):  # a clips.bin that does not inflate fails here, not in a search
            unpack_clip(blob, vi.block_offsets, 0)
            unpack_clip(blob, vi.block_offsets, len(vi) - 1)
        v = VideoEntry(
            vid,
            stamp,
            vi.root,
            vi.meta,
            lo,
            lo + len(vi),
            vi.clip_index,
            vi.block_offsets,
            blob,
            float(vi.keyword.doc_len.sum()),
        )
        if vi.text_vectors is not None:
            v.dense["text"] = (vi.text_vectors, v.rows_of(vi.text_clip))
        if vi.frame_vectors is not None and vi.frame_clip is not None:
            v.dense["frames"] = (vi.frame_vectors, v.rows_of(vi.frame_clip))
        return v, vi.keyword.with_ids(np.arange(v.lo, v.hi))

    @staticmethod
    def _prepare_keywords(
        st: LibraryState, parts: list[KeywordIndex], live: np.ndarray, rebuild: bool
    ) -> bool:
        recent = [*st.recent, *parts]
        held = (st.main.n_docs if st.main else 0) + sum(p.n_docs for p in recent)
        main_docs = st.main.n_docs if st.main else 0
        rebuilt = False
        if st.main is None or (
            rebuild
            and (
                held - st.n_docs > REMERGE_SHARE * st.n_docs
                or held - main_docs > REMERGE_SHARE * main_docs
            )
        ):
            # everything into one part again, leaving out removed videos
            st.main = KeywordIndex.merge([*([st.main] if st.main else []), *recent], live=live)
            st.recent = ()
            rebuilt = True
        elif rebuild and len(recent) > RECENT_MAX:
            st.recent = (KeywordIndex.merge(recent, live=live),)
        else:
            st.recent = tuple(recent)
        for seg in (st.main, *st.recent):
            seg.prepare_search()
        st.live = live
        return rebuilt


def folder_mtime(root: Path) -> int:
    """The videos folder's mtime (ns), -1 when it does not exist."""
    try:
        return os.stat(root).st_mtime_ns
    except FileNotFoundError:
        return -1


def scan_library(root: Path) -> dict[str, Stamp]:
    """The stamp of each video's index/meta.json, by video id: one stat per video."""
    out: dict[str, Stamp] = {}
    try:
        entries = os.scandir(root)
    except FileNotFoundError:
        return out
    with entries:
        for e in entries:
            if e.name.startswith("."):  # ".deleting-<id>" and temp files
                continue
            try:
                s = os.stat(os.path.join(e.path, "index", "meta.json"))
            except OSError:
                continue
            out[e.name] = (s.st_ino, s.st_mtime_ns)
    return out


def _holds_dead(st: LibraryState) -> bool:
    """Whether any segment or vector index still holds rows of removed videos."""
    held = (st.main.n_docs if st.main else 0) + sum(p.n_docs for p in st.recent)
    return held > st.n_docs or any(d.dead for d in st.dense.values())
