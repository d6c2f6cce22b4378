"""Library-wide vector indexes, one per dense modality, kept in step with the loaded videos:
updated in place while they fit, rebuilt (from what they hold plus the new) when outgrown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from indexer.search.vectors import FLAT, VectorIndex, ivf_nlist
from indexer.search.video_index import VideoIndex, text_clip_of
from indexer.settings import IndexSettings

if TYPE_CHECKING:
    from indexer.search.library import VideoEntry

MODALITIES = {"text": "text", "frames": "frames"}  # dense modality -> extractor kind
# (index, row ranges to remove, (vectors, rows) to add): applied when the new state goes live
DenseUpdate = tuple[VectorIndex, list[tuple[int, int]], list[tuple[np.ndarray, np.ndarray]]]


@dataclass
class DenseIndex:
    """One modality's vectors of the member videos, ids = rows."""

    key: tuple[str, int] | None = None  # (model, dim) of the vectors it holds
    index: VectorIndex | None = None
    members: frozenset[str] = frozenset()


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


def video_vectors(
    v: VideoEntry, name: str, src: VideoIndex | _Vectors | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, rows) of modality `name`; the vectors memory-mapped, read when copied."""
    src = src or _Vectors(v.root, v.meta)
    if name == "text" and src.text_vectors is not None:
        return src.text_vectors, v.rows_of(src.text_clip)
    if name == "frames" and src.frame_vectors is not None and src.frame_clip is not None:
        return src.frame_vectors, v.rows_of(src.frame_clip)
    raise ValueError(f"video {v.vid} has no {name} vectors")


def model_of(meta: dict, name: str) -> str:
    """The model that made a video's `name` vectors: meta["<name>_model"], else the pipeline's
    capability record for that extractor kind; "" when unknown."""
    caps = meta.get("capabilities") or {}
    cap = caps.get(MODALITIES[name]) or {}
    return str(meta.get(f"{name}_model") or cap.get("model") or "")


def outgrown(index: VectorIndex, n: int, settings: IndexSettings) -> bool:
    if index.kind == FLAT:
        return n > settings.flat_max
    # back to exact when small again; retrain when the lists should be twice as many
    return n <= settings.flat_max // 2 or ivf_nlist(n) > 2 * index.nlist


def prepare_dense(
    dense: dict[str, DenseIndex],
    videos: dict[str, VideoEntry],
    order: Sequence[VideoEntry],
    name: str,
    key: tuple[str, int] | None,
    gone: list[VideoEntry],
    new: list[VideoEntry],
    live: np.ndarray,
    loaded: dict[str, VideoIndex],
    settings: IndexSettings,
) -> tuple[DenseUpdate | None, bool]:
    """Sets `dense[name]` for the next state; returns the in-place update the commit applies
    (None when nothing is shared or nothing changed) and whether an index was built anew."""
    d = dense[name]
    if key is None:  # capability off: free the memory
        dense[name] = DenseIndex()
        return None, False
    want_model, want_dim = key

    def fits(v: VideoEntry) -> bool:
        info = v.meta.get(name) or {}
        model = model_of(v.meta, name)
        # vectors of another model live in another space: never mix them
        return info.get("dim") == want_dim and (not want_model or not model or model == want_model)

    same = d.key == key and d.index is not None  # else: built anew from the files
    adds = [v for v in new if fits(v)]
    drops = [v for v in gone if v.vid in d.members] if same else []
    if same:
        members = (d.members - {v.vid for v in drops}) | {v.vid for v in adds}
    else:
        members = frozenset(v.vid for v in order if fits(v))
    n_after = sum(videos[m].meta[name]["count"] for m in members)
    if same and d.index is not None and not outgrown(d.index, n_after, settings):
        dense[name] = DenseIndex(key, d.index, members)
        if not adds and not drops:
            return None, False
        # read from disk now, not under the write lock that adding them takes
        reads = [video_vectors(v, name, loaded.get(v.vid)) for v in adds]
        ranges = [(v.lo, v.hi) for v in drops]
        return (d.index, ranges, [(np.array(x, np.float32), r) for x, r in reads]), False
    sources: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]
    if same and d.index is not None:  # retrain on what it holds (no disk reads) + the new
        held, held_rows = d.index.vectors()
        sources = [(held, held_rows, live[held_rows])]
        sources += [(*video_vectors(v, name, loaded.get(v.vid)), None) for v in adds]
    else:
        sources = [(*video_vectors(videos[m], name, loaded.get(m)), None) for m in sorted(members)]
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
    index = VectorIndex.build(vecs, rows, settings) if len(rows) else None
    dense[name] = DenseIndex(key, index, members)
    return None, True
