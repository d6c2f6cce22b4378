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
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from indexer.errors import InvalidQuery, ModelUnavailable, VideoNotFound, VideoNotReady
from indexer.index import (
    FLAT,
    KeywordIndex,
    VectorIndex,
    VideoIndex,
    bm25_search,
    ivf_nlist,
    text_clip_of,
    tokenize,
    unpack_clip,
)
from indexer.settings import IndexSettings, Settings
from indexer.store import Library
from indexer.types import ClipDoc, Hit

if TYPE_CHECKING:
    from indexer.extractors import Extractors

log = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)
Stamp = tuple[int, int]  # (inode, mtime) of a video's index/meta.json: a rewrite changes both
MODALITIES = {"text": "text", "frames": "frames"}  # dense modality -> extractor kind
FRAMES_PER_CLIP = 10  # frame hits fetched per clip wanted (1 fps over 10 s clips)
TEXTS_PER_CLIP = 4  # text vectors per clip: the whole clip, and its speech, text and objects
CLIP_CACHE = 4096  # parsed ClipDocs kept for repeated hits
RECENT_MAX = 8  # keyword parts of new videos searched apart before being merged together
# merge everything again when this share of the keyword postings is dead or not in the main part
REMERGE_SHARE = 0.25
SETTLE_NS = 2_000_000_000  # a folder mtime this recent may still move within its clock tick


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[K]], k: int = 60, weights: Sequence[float] | None = None
) -> list[tuple[K, float]]:
    """Fuse rankings (best first) by sum of weight / (k + rank); returns (key, score) best first,
    ties in order of first appearance. A key repeated within one ranking counts at its best rank."""
    if k < 0:
        raise ValueError("k must be >= 0")
    weights = [1.0] * len(rankings) if weights is None else list(weights)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    scores: dict[K, float] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        seen: set[K] = set()
        for rank, key in enumerate(ranking, start=1):
            if key not in seen:
                seen.add(key)
                scores[key] = scores.get(key, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


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


@dataclass
class _Video:
    vid: str
    stamp: Stamp
    root: Path  # the index version folder
    meta: dict
    lo: int  # rows [lo, hi) are this video's clips, in order
    hi: int
    clip_index: np.ndarray
    block_offsets: np.ndarray
    blob: bytes  # clips.bin
    doc_len_sum: float

    def rows_of(self, clip_indexes: np.ndarray) -> np.ndarray:
        order = np.argsort(self.clip_index)
        pos = np.searchsorted(self.clip_index, clip_indexes, sorter=order)
        return self.lo + order[pos]

    def vectors(
        self, name: str, src: VideoIndex | _Vectors | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(vectors, rows) of modality `name`; the vectors memory-mapped, read when copied."""
        src = src or _Vectors(self.root, self.meta)
        if name == "text" and src.text_vectors is not None:
            return src.text_vectors, self.rows_of(src.text_clip)
        if name == "frames" and src.frame_vectors is not None and src.frame_clip is not None:
            return src.frame_vectors, self.rows_of(src.frame_clip)
        raise ValueError(f"video {self.vid} has no {name} vectors")


@dataclass
class _Dense:
    key: tuple[str, int] | None = None  # (model, dim) of the vectors it holds
    index: VectorIndex | None = None
    members: frozenset[str] = frozenset()


@dataclass
class _State:
    videos: dict[str, _Video] = field(default_factory=dict)
    failed: dict[str, Stamp] = field(default_factory=dict)  # not retried until changed
    next_row: int = 0
    order: list[_Video] = field(default_factory=list)  # by lo, for row -> video
    los: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    dense: dict[str, _Dense] = field(default_factory=lambda: {m: _Dense() for m in MODALITIES})
    main: KeywordIndex | None = None  # keyword segments, ids = rows; may hold removed rows
    recent: tuple[KeywordIndex, ...] = ()
    live: np.ndarray | None = None  # bool by row, when segments hold removed rows
    n_docs: int = 0
    avg_len: float = 1.0


class Searcher:
    """Searches the ready videos of a library (those with `index/meta.json`).

    `search` returns up to top_k Hits, best first. Raises InvalidQuery (empty query, top_k out of
    1..max_top_k, empty video_ids), VideoNotFound (unknown id), VideoNotReady (not indexed yet).
    Thread-safe; modalities whose extractor is off are skipped (no text embedder: keyword only)."""

    def __init__(self, library: Library, extractors: Extractors, settings: Settings) -> None:
        self.library, self.extractors = library, extractors
        self.settings: IndexSettings = settings.index
        self._state = _State()
        self._keys: dict[str, tuple[str, int] | None] = {}
        self._seen_mtime: int | None = None  # of the videos folder, once settled and applied
        self._lock = _RWLock()  # searches read; swapping in a new state writes
        self._refreshing = threading.Lock()  # one thread prepares changes at a time
        self._clips: OrderedDict[tuple[str, int], ClipDoc] = OrderedDict()
        self._clips_lock = threading.Lock()
        self._rebuilt = False  # set while preparing: a big index was built and the old dropped

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
            rankings = []
            if st.main is not None:  # first: equal fused scores go to exact-word matches
                segments = [st.main, *st.recent]
                found = bm25_search(
                    segments,
                    query,
                    depth,
                    n_docs=st.n_docs,
                    avg_len=st.avg_len,
                    n_ids=st.next_row,
                    live=st.live,
                    allowed=mask,
                )
                rankings.append([row for row, _ in found])
            for name, q in queries.items():
                rankings.append(self._dense(st, name, q, depth, mask, n_sel))
            fused = reciprocal_rank_fusion([r for r in rankings if r], k=self.settings.rrf_k)
            return self._hits(st, fused[:top_k], query)

    # --- query side ------------------------------------------------------------------------------
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

    def _select(self, st: _State, video_ids: Sequence[str] | None) -> list[_Video]:
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
    def _mask(st: _State, selected: list[_Video]) -> tuple[np.ndarray | None, int]:
        if len(selected) == len(st.order):
            return None, st.n_docs  # everything: no filter to pay for
        n_sel = sum(v.hi - v.lo for v in selected)
        mask = np.zeros(st.next_row, dtype=bool)
        for v in selected:
            mask[v.lo : v.hi] = True
        return mask, n_sel

    def _dense(
        self, st: _State, name: str, q: np.ndarray, depth: int, mask: np.ndarray | None, n_sel: int
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

    def _hits(self, st: _State, fused: list[tuple[int, float]], query: str) -> list[Hit]:
        words = set(tokenize(query))
        hits = []
        for row, score in fused:
            v = st.order[int(np.searchsorted(st.los, row, side="right")) - 1]
            doc = self._clip(v, row - v.lo)
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

    def _clip(self, v: _Video, pos: int) -> ClipDoc:
        key = (str(v.root), pos)
        with self._clips_lock:
            if key in self._clips:
                self._clips.move_to_end(key)
                return self._clips[key]
        doc = unpack_clip(v.blob, v.block_offsets, pos)
        with self._clips_lock:
            self._clips[key] = doc
            if len(self._clips) > CLIP_CACHE:
                self._clips.popitem(last=False)
        return doc

    # --- noticing changes ------------------------------------------------------------------------
    def _wanted_keys(self, queries: dict[str, np.ndarray]) -> dict[str, tuple[str, int] | None]:
        keys: dict[str, tuple[str, int] | None] = {}
        for name, kind in MODALITIES.items():
            q = queries.get(name)
            keys[name] = None if q is None else (self.extractors.status(kind).model, q.shape[1])
        return keys

    def _folder_mtime(self) -> int:
        try:
            return os.stat(self.library.root).st_mtime_ns
        except FileNotFoundError:
            return -1

    def _scan(self) -> dict[str, Stamp]:
        out: dict[str, Stamp] = {}
        try:
            entries = os.scandir(self.library.root)
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

    def _refresh(self, queries: dict[str, np.ndarray]) -> None:
        keys = self._wanted_keys(queries)
        unchanged = self._seen_mtime is not None and self._folder_mtime() == self._seen_mtime
        if unchanged and keys == self._keys:
            return  # nothing came, went or was re-indexed
        with self._refreshing:
            mtime = self._folder_mtime()  # before the listing: a later change moves it again
            scan = self._scan()
            if not self._current(scan) or keys != self._keys:
                self._rebuilt = False
                new = self._prepare(self._state, scan, keys)
                with self._lock.write():
                    self._commit(new)
                self._keys = keys
                if self._rebuilt:
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

    # --- applying changes ------------------------------------------------------------------------
    def _prepare(
        self, old: _State, scan: dict[str, Stamp], keys: dict[str, tuple[str, int] | None]
    ) -> tuple[_State, list[tuple[VectorIndex, list[_Video], list[tuple[np.ndarray, np.ndarray]]]]]:
        """The next state, built beside the live one (searches go on), and the in-place updates
        of live vector indexes left for the commit: (index, videos to remove, vectors to add)."""
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
            v = _Video(
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
        )
        self._prepare_keywords(st, [loaded[v.vid][1] for v in new], live)
        updates = []
        for name in MODALITIES:
            upd = self._prepare_dense(
                st, name, keys[name], gone, new, live, {vid: x[0] for vid, x in loaded.items()}
            )
            if upd is not None:
                updates.append(upd)
        return st, updates

    def _prepare_keywords(self, st: _State, parts: list[KeywordIndex], live: np.ndarray) -> None:
        recent = [*st.recent, *parts]
        held = (st.main.n_docs if st.main else 0) + sum(p.n_docs for p in recent)
        main_docs = st.main.n_docs if st.main else 0
        if (
            st.main is None
            or held - st.n_docs > REMERGE_SHARE * st.n_docs
            or (held - main_docs > REMERGE_SHARE * main_docs)
        ):
            # everything into one part again, leaving out removed videos
            st.main = KeywordIndex.merge([*([st.main] if st.main else []), *recent], live=live)
            st.recent = ()
            self._rebuilt = True
        elif len(recent) > RECENT_MAX:
            st.recent = (KeywordIndex.merge(recent, live=live),)
        else:
            st.recent = tuple(recent)
        for seg in (st.main, *st.recent):
            seg.prepare_search()
        held = st.main.n_docs + sum(p.n_docs for p in st.recent)
        st.live = live if held > st.n_docs else None

    def _prepare_dense(
        self,
        st: _State,
        name: str,
        key: tuple[str, int] | None,
        gone: list[_Video],
        new: list[_Video],
        live: np.ndarray,
        loaded: dict[str, VideoIndex],
    ) -> tuple[VectorIndex, list[_Video], list[tuple[np.ndarray, np.ndarray]]] | None:
        d = st.dense[name]
        if key is None:  # capability off: free the memory
            st.dense[name] = _Dense()
            return None
        want_model, want_dim = key

        def fits(v: _Video) -> bool:
            info = v.meta.get(name) or {}
            model = _model_of(v.meta, name)
            # vectors of another model live in another space: never mix them
            return info.get("dim") == want_dim and (
                not want_model or not model or model == want_model
            )

        same = d.key == key and d.index is not None  # else: built anew from the files
        adds = [v for v in new if fits(v)]
        drops = [v for v in gone if v.vid in d.members] if same else []
        if same:
            members = (d.members - {v.vid for v in drops}) | {v.vid for v in adds}
        else:
            members = frozenset(v.vid for v in st.order if fits(v))
        n_after = sum(st.videos[m].meta[name]["count"] for m in members)
        if same and d.index is not None and not self._outgrown(d.index, n_after):
            st.dense[name] = _Dense(key, d.index, members)
            if not adds and not drops:
                return None
            # read from disk now, not under the write lock that adding them takes
            reads = [v.vectors(name, loaded.get(v.vid)) for v in adds]
            return d.index, drops, [(np.array(x, np.float32), r) for x, r in reads]
        if same and d.index is not None:  # retrain on what it holds (no disk reads) + the new
            held, held_rows = d.index.vectors()
            keep = live[held_rows]
            sources = [(held, held_rows, keep)]
            sources += [(*v.vectors(name, loaded.get(v.vid)), None) for v in adds]
        else:
            sources = [(*st.videos[m].vectors(name, loaded.get(m)), None) for m in sorted(members)]
        # one array filled in place: concatenating copies would double the peak (553 MB at 1,000 h)
        total = sum(len(r) if k is None else int(k.sum()) for _, r, k in sources)
        vecs = np.empty((total, want_dim), np.float32)
        rows = np.empty(total, np.int64)
        at = 0
        for x, r, k in sources:
            n = len(r) if k is None else int(k.sum())
            if k is None:
                vecs[at : at + n], rows[at : at + n] = x, r
            else:
                np.compress(k, x, axis=0, out=vecs[at : at + n])
                np.compress(k, r, out=rows[at : at + n])
            at += n
        del sources
        index = VectorIndex.build(vecs, rows, self.settings) if len(rows) else None
        st.dense[name] = _Dense(key, index, members)
        self._rebuilt = True
        return None

    def _outgrown(self, index: VectorIndex, n: int) -> bool:
        if index.kind == FLAT:
            return n > self.settings.flat_max
        # back to exact when small again; retrain when the lists should be twice as many
        return n <= self.settings.flat_max // 2 or ivf_nlist(n) > 2 * index.nlist

    def _commit(
        self,
        new: tuple[
            _State, list[tuple[VectorIndex, list[_Video], list[tuple[np.ndarray, np.ndarray]]]]
        ],
    ) -> None:
        st, updates = new
        for index, drops, adds in updates:  # milliseconds: removals scan ids, adds assign lists
            for v in drops:
                index.remove_range(v.lo, v.hi)
            for x, rows in adds:
                index.add(x, rows)
        self._state = st
        log.info("library index: %d videos, %d clips", len(st.videos), st.n_docs)


class _Vectors:
    """The vector files of an index version, memory-mapped (for videos loaded earlier)."""

    def __init__(self, root: Path, meta: dict) -> None:
        def load(name: str) -> np.ndarray | None:
            if not meta.get(name):
                return None
            return np.load(root / f"{name}.npy", mmap_mode="r", allow_pickle=False)

        self.text_vectors = load("text")
        self.frame_vectors = load("frames")
        self.frame_clip: np.ndarray | None = None
        with np.load(root / "index.npz", allow_pickle=False) as z:
            self.text_clip = text_clip_of(z)
            if self.frame_vectors is not None:
                self.frame_clip = z["frame_clip"]


def _model_of(meta: dict, name: str) -> str:
    """The model that made a video's `name` vectors: meta["<name>_model"], else the pipeline's
    capability record for that extractor kind; "" when unknown."""
    caps = meta.get("capabilities") or {}
    cap = caps.get(MODALITIES[name]) or {}
    return str(meta.get(f"{name}_model") or cap.get("model") or "")


def _release_free_memory() -> None:
    """Hand the heap freed by a rebuild back to the system. glibc keeps it otherwise (building
    the 1,000-hour library index left ~700 MB freed but resident); elsewhere a no-op."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
