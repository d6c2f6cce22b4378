"""Library-wide vector indexes, one per dense modality, that are never changed once searches can
see them: videos that arrive go into small exact "delta" indexes beside the base, videos that
leave are hidden by the live-row mask, and the whole is rebuilt aside (base retrained, deltas
folded in, dead rows dropped) when the deltas or the dead grow past a share of it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import faiss as _faiss
import numpy as np

from indexer.search.ivf_file import mapped_ivf
from indexer.search.vectors import FLAT, VectorIndex, ivf_nlist
from indexer.settings import IndexSettings

if TYPE_CHECKING:
    from indexer.search.library import VideoEntry

MODALITIES = {"text": "text", "frames": "frames"}  # dense modality -> extractor kind
DELTAS_MAX = 8  # delta indexes searched beside the base before they are folded into one
REBUILD_SHARE = 0.25  # rebuild when deltas or dead vectors exceed this share of the base


@dataclass(frozen=True)
class DenseIndex:
    """One modality's vectors of the member videos, ids = rows: a base index, delta indexes of
    videos added since it was built, and a count of vectors of removed videos still inside."""

    key: tuple[str, int] | None = None  # (model, dim) of the vectors it holds
    base: VectorIndex | None = None
    deltas: tuple[VectorIndex, ...] = ()
    members: frozenset[str] = frozenset()
    dead: int = 0  # vectors of removed videos still inside (hidden by the live mask)
    in_deltas: frozenset[str] = frozenset()  # members whose vectors are in the deltas

    @property
    def parts(self) -> list[VectorIndex]:
        return [p for p in (self.base, *self.deltas) if p is not None and p.ntotal]

    @property
    def ntotal(self) -> int:
        return sum(p.ntotal for p in self.parts)

    def search(
        self, q: np.ndarray, k: int, allowed: np.ndarray | None, filtered_share: float
    ) -> np.ndarray:
        """Ids of the best `k` vectors over all parts, best first (one query). `filtered_share`:
        the share of the vectors `allowed` keeps; an IVF then probes that many more lists."""
        scores, ids = [], []
        # one query: OpenMP threads cost more than they save, and with concurrent searches on a
        # busy machine they spin against each other (10 h library, load 9 on 2 cores: 92 ms a
        # search with one thread, 265 ms with two). Per calling thread: builds keep theirs.
        _faiss.omp_set_num_threads(1)
        for part in self.parts:
            nprobe = None
            if allowed is not None and part.kind != FLAT:
                nprobe = min(part.nlist, int(np.ceil(part.nprobe / max(filtered_share, 1e-9))))
            s, i = part.search(q, k, allowed=allowed, nprobe=nprobe)
            scores.append(s[0])
            ids.append(i[0])
        return merge_top(scores, ids, k)


def merge_top(scores: Sequence[np.ndarray], ids: Sequence[np.ndarray], k: int) -> np.ndarray:
    """The ids of the k best of several (scores, ids) lists, best first; -1 ids dropped."""
    if not ids:
        return np.zeros(0, np.int64)
    s, i = np.concatenate(scores), np.concatenate(ids)
    keep = i >= 0
    s, i = s[keep], i[keep]
    order = np.argsort(-s, kind="stable")[:k]
    return np.asarray(i[order], np.int64)


def exact_top(videos: list[VideoEntry], name: str, q: np.ndarray, k: int) -> np.ndarray:
    """Rows of the k best vectors of `videos` by exact inner product, best first."""
    scores, rows = [], []
    for v in videos:
        x, r = v.dense[name]
        s = np.asarray(x @ q[0], np.float32)
        top = np.argpartition(-s, k - 1)[:k] if len(s) > k else np.arange(len(s))
        scores.append(s[top])
        rows.append(r[top])
    return merge_top(scores, rows, k)


def model_of(meta: dict, name: str) -> str:
    """The model that made a video's `name` vectors: meta["<name>_model"], else the pipeline's
    capability record for that extractor kind; "" when unknown."""
    caps = meta.get("capabilities") or {}
    cap = caps.get(MODALITIES[name]) or {}
    return str(meta.get(f"{name}_model") or cap.get("model") or "")


def fits(v: VideoEntry, name: str, key: tuple[str, int]) -> bool:
    """Whether the video's `name` vectors live in the space of `key` (model, dim)."""
    want_model, want_dim = key
    info = v.meta.get(name) or {}
    model = model_of(v.meta, name)
    return (
        name in v.dense
        and info.get("dim") == want_dim
        and (not want_model or not model or model == want_model)
    )


def build_from(
    videos: Iterable[VideoEntry],
    name: str,
    dim: int,
    settings: IndexSettings,
    kind: str | None = None,
) -> VectorIndex | None:
    """One index over the videos' vectors (memory-mapped files, read here), ids = rows."""
    chosen = list(videos)
    total = sum(len(v.dense[name][1]) for v in chosen)
    if not total:
        return None
    # one array filled in place: concatenating copies would double the peak (553 MB at 1,000 h)
    vecs = np.empty((total, dim), np.float32)
    rows = np.empty(total, np.int64)
    at = 0
    for v in chosen:
        x, r = v.dense[name]
        vecs[at : at + len(r)], rows[at : at + len(r)] = x, r
        at += len(r)
    return VectorIndex.build(vecs, rows, settings, kind=kind)


def prepare_dense(
    old: DenseIndex,
    videos: dict[str, VideoEntry],
    name: str,
    key: tuple[str, int] | None,
    gone: list[VideoEntry],
    new: list[VideoEntry],
    settings: IndexSettings,
    rebuild: bool = True,
    cache: Path | None = None,
) -> tuple[DenseIndex, bool]:
    """The modality's index for the next state (`videos`: its loaded videos) and whether it was
    rebuilt from the files. The old index is never changed: searches may be using it. With
    `rebuild` False only deltas are added (fast: proportional to the new videos); an index of
    another model is then kept as it is, and not searched. `cache`: where a base too large for
    an exact index is kept as a memory-mapped file (None: in this process's memory)."""
    if key is None:  # capability off: free the memory
        return DenseIndex(), False
    if not rebuild and (old.key != key or old.base is None):
        return old, False  # built whole by the rebuild pass (another model is not searched)
    if old.key == key and old.parts and old.base is not None:
        adds = [v for v in new if fits(v, name, key)]
        members = (old.members - {v.vid for v in gone}) | {v.vid for v in adds}
        in_deltas = old.in_deltas | {v.vid for v in adds}
        deltas = old.deltas
        if adds:
            delta = build_from(adds, name, key[1], settings, kind=FLAT)
            deltas = (*deltas, delta) if delta is not None else deltas
        if len(deltas) > DELTAS_MAX:  # exact and small: folding them costs a copy
            in_deltas = in_deltas & members
            folded = build_from(
                [videos[m] for m in sorted(in_deltas)], name, key[1], settings, kind=FLAT
            )
            deltas = (folded,) if folded is not None else ()
        live = sum(len(videos[m].dense[name][1]) for m in members)
        held = old.base.ntotal
        dead = held + sum(d.ntotal for d in deltas) - live
        if not rebuild or (
            dead <= REBUILD_SHARE * held
            and live - held <= REBUILD_SHARE * held
            and not outgrown(old.base, live, settings)
        ):
            return DenseIndex(key, old.base, deltas, frozenset(members), dead, in_deltas), False
    chosen = sorted((v for v in videos.values() if fits(v, name, key)), key=lambda v: v.lo)
    total = sum(len(v.dense[name][1]) for v in chosen)
    if cache is not None and total > settings.flat_max:
        base: VectorIndex | None = mapped_ivf(cache, chosen, name, key[1], settings)
    else:
        base = build_from(chosen, name, key[1], settings)
    return DenseIndex(key, base, (), frozenset(v.vid for v in chosen), 0), True


def outgrown(index: VectorIndex, n: int, settings: IndexSettings) -> bool:
    if index.kind == FLAT:
        return n > settings.flat_max
    # back to exact when small again; retrain when the lists should be twice as many
    return n <= settings.flat_max // 2 or ivf_nlist(n) > 2 * index.nlist
