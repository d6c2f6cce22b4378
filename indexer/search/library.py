"""The library's search state: which videos are loaded, the rows their clips occupy, and the
library-wide keyword segments and vector indexes over those rows.

A `LibraryState` is never changed once searches can see it: `StateBuilder.prepare` makes the
next one beside it (reading new videos from disk, merging keyword segments, building vector
indexes), and the few in-place updates of vector indexes shared with the live state are left to
`Prepared.commit`, which takes milliseconds.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from indexer.errors import VideoNotReady
from indexer.search.dense_build import MODALITIES, DenseIndex, DenseUpdate, prepare_dense
from indexer.search.keyword import KeywordIndex
from indexer.search.video_index import VideoIndex
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

    def rows_of(self, clip_indexes: np.ndarray) -> np.ndarray:
        order = np.argsort(self.clip_index)
        pos = np.searchsorted(self.clip_index, clip_indexes, sorter=order)
        return self.lo + order[pos]


@dataclass
class LibraryState:
    """One consistent view of the loaded library; rows number the clips of every video."""

    videos: dict[str, VideoEntry] = field(default_factory=dict)
    failed: dict[str, Stamp] = field(default_factory=dict)  # not retried until changed
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


@dataclass
class Prepared:
    """The next state and the updates of vector indexes it shares with the live one."""

    state: LibraryState
    updates: list[DenseUpdate]
    rebuilt: bool  # a big index was built and an old one dropped: worth returning the heap

    def commit(self) -> LibraryState:
        for index, drops, adds in self.updates:  # milliseconds: removals scan ids, adds assign
            for lo, hi in drops:
                index.remove_range(lo, hi)
            for x, rows in adds:
                index.add(x, rows)
        return self.state


class StateBuilder:
    """Prepares the next LibraryState from a listing of the library's indexes."""

    def __init__(self, library: Library, settings: IndexSettings) -> None:
        self.library, self.settings = library, settings

    def prepare(
        self,
        old: LibraryState,
        scan: dict[str, Stamp],
        keys: dict[str, tuple[str, int] | None],
    ) -> Prepared:
        gone = [v for vid, v in old.videos.items() if scan.get(vid) != v.stamp]
        videos = {vid: v for vid, v in old.videos.items() if scan.get(vid) == v.stamp}
        failed = {vid: s for vid, s in old.failed.items() if scan.get(vid) == s}
        next_row, new, loaded = old.next_row, [], {}
        for vid, stamp in sorted(scan.items()):  # rows in id order, whatever the listing's
            if vid in videos or vid in failed:
                continue
            try:
                vi = VideoIndex.load(self.library.store(vid), self.settings)
                blob = vi.clip_blob()
            except (VideoNotReady, OSError, RuntimeError, ValueError, KeyError) as e:
                # raced with a delete or rewrite (retried when its meta.json changes) or broken
                log.warning("cannot load the index of video %s: %s", vid, e)
                failed[vid] = stamp
                continue
            v = VideoEntry(
                vid,
                stamp,
                vi.root,
                vi.meta,
                next_row,
                next_row + len(vi),
                vi.clip_index,
                vi.block_offsets,
                blob,
                float(vi.keyword.doc_len.sum()),
            )
            next_row = v.hi
            videos[vid], loaded[vid] = v, (vi, vi.keyword.with_ids(np.arange(v.lo, v.hi)))
            new.append(v)
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
        rebuilt = self._prepare_keywords(st, [loaded[v.vid][1] for v in new], live)
        updates = []
        indexes = {vid: x[0] for vid, x in loaded.items()}
        for name in MODALITIES:
            upd, built = prepare_dense(
                st.dense,
                st.videos,
                st.order,
                name,
                keys[name],
                gone,
                new,
                live,
                indexes,
                self.settings,
            )
            rebuilt |= built
            if upd is not None:
                updates.append(upd)
        return Prepared(st, updates, rebuilt)

    @staticmethod
    def _prepare_keywords(st: LibraryState, parts: list[KeywordIndex], live: np.ndarray) -> bool:
        recent = [*st.recent, *parts]
        held = (st.main.n_docs if st.main else 0) + sum(p.n_docs for p in recent)
        main_docs = st.main.n_docs if st.main else 0
        rebuilt = False
        if (
            st.main is None
            or held - st.n_docs > REMERGE_SHARE * st.n_docs
            or (held - main_docs > REMERGE_SHARE * main_docs)
        ):
            # everything into one part again, leaving out removed videos
            st.main = KeywordIndex.merge([*([st.main] if st.main else []), *recent], live=live)
            st.recent = ()
            rebuilt = True
        elif len(recent) > RECENT_MAX:
            st.recent = (KeywordIndex.merge(recent, live=live),)
        else:
            st.recent = tuple(recent)
        for seg in (st.main, *st.recent):
            seg.prepare_search()
        held = st.main.n_docs + sum(p.n_docs for p in st.recent)
        st.live = live if held > st.n_docs else None
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
