"""Inner-product vector search (FAISS) over L2-normalised float32 vectors with int64 ids: an
exact flat index for small collections, IVF (8-bit codes when large) above `flat_max`."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import faiss as _faiss
import numpy as np

from indexer.settings import IndexSettings
from indexer.store import atomic_path

# faiss's bundled stubs lack much of its SWIG surface (get_xb, id_map, SearchParameters(sel=...))
faiss: Any = _faiss

FLAT, IVF, IVF_SQ8 = "flat", "ivf", "ivf_sq8"
# Above this many bytes of raw vectors an IVF keeps 8-bit codes instead of floats: 4x less memory
# for ~1% recall (360k x 384 random vectors: 553 -> 138 MB, recall@10 0.99 of IVF-Flat's). Frame
# vectors at 1 fps reach this at ~1,000 hours (3.6M x 512 floats = 7.4 GB).
COMPRESS_ABOVE_BYTES = 2 << 30
TRAIN_PER_LIST = 40  # k-means sample per list: FAISS wants 39..256 points per centroid


def ivf_nlist(n: int) -> int:
    # FAISS guideline 4*sqrt(n) lists, but never fewer than 39 training points per list
    return max(1, min(round(4 * math.sqrt(n)), n // 39))


def ivf_kind(n: int, dim: int) -> str:
    """IVF with float codes, or 8-bit codes when the floats would pass COMPRESS_ABOVE_BYTES."""
    return IVF_SQ8 if n * dim * 4 > COMPRESS_ABOVE_BYTES else IVF


class VectorIndex:
    """Inner-product search over L2-normalised float32 vectors with int64 ids.

    `search` returns `(scores, ids)` arrays of shape (queries, k), best first; where fewer than
    k vectors qualify, the tail ids are -1. Not synchronised: callers serialise writes."""

    def __init__(self, index: Any, kind: str, nprobe: int = 16, use_gpu: bool = False):
        self._cpu = index
        self.kind = kind
        self.nprobe = nprobe
        self._use_gpu = use_gpu and hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0
        self._gpu: Any = None
        self._gpu_lock = threading.Lock()  # concurrent readers may race to clone

    # --- construction ----------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        ids: np.ndarray,
        settings: IndexSettings,
        kind: str | None = None,
        nlist: int | None = None,
    ) -> VectorIndex:
        """Exact flat index up to `settings.flat_max` vectors, else IVF trained on a sample of
        them (8-bit codes above COMPRESS_ABOVE_BYTES); `kind` forces one of flat/ivf/ivf_sq8."""
        x, xid = as_vectors(vectors), np.ascontiguousarray(ids, dtype=np.int64)
        if x.shape[0] != xid.shape[0]:
            raise ValueError(f"{x.shape[0]} vectors but {xid.shape[0]} ids")
        n, d = x.shape
        if kind is None:
            kind = FLAT if n <= settings.flat_max else ivf_kind(n, d)
        if kind == FLAT:
            index = faiss.index_factory(d, "IDMap,Flat", faiss.METRIC_INNER_PRODUCT)
        elif kind in (IVF, IVF_SQ8):
            if n == 0:
                raise ValueError("an IVF index needs vectors to train on")
            index = new_ivf(d, nlist or ivf_nlist(n), kind, settings)
            index.train(x)  # on a sample: max_points_per_centroid
        else:
            raise ValueError(f"unknown index kind {kind!r}")
        if kind == FLAT:
            index.add_with_ids(x, xid)
        else:
            _fill_lists(faiss.extract_index_ivf(index), x, xid)
        return cls(index, kind, probes(settings, index, kind), settings.use_gpu)

    @classmethod
    def load(
        cls, path: Path, settings: IndexSettings | None = None, *, mmap: bool = False
    ) -> VectorIndex:
        """`mmap`: an IVF's lists stay in the file, mapped read-only (the index must then not
        be changed); the mapping outlives the file's removal."""
        flags = (faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY) if mmap else 0
        index = faiss.read_index(str(path), flags)
        kind = _kind_of(index)
        if settings is not None:
            return cls(index, kind, probes(settings, index, kind), settings.use_gpu)
        saved = faiss.extract_index_ivf(index).nprobe if kind != FLAT else 16
        return cls(index, kind, int(saved))

    def save(self, path: Path) -> None:
        """Written to a temp file beside `path`, then renamed over it (from the CPU copy)."""
        if self.kind != FLAT:
            faiss.extract_index_ivf(self._cpu).nprobe = self.nprobe
        with atomic_path(Path(path)) as tmp:
            faiss.write_index(self._cpu, str(tmp))

    # --- properties ------------------------------------------------------------------------------
    @property
    def ntotal(self) -> int:
        return int(self._cpu.ntotal)

    @property
    def dim(self) -> int:
        return int(self._cpu.d)

    @property
    def nlist(self) -> int:
        return 1 if self.kind == FLAT else int(faiss.extract_index_ivf(self._cpu).nlist)

    # --- updates ---------------------------------------------------------------------------------
    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        x = as_vectors(vectors, self.dim)
        self._cpu.add_with_ids(x, np.ascontiguousarray(ids, dtype=np.int64))
        self._gpu = None

    def remove_range(self, lo: int, hi: int) -> int:
        """Remove every vector whose id is in [lo, hi); returns how many were removed."""
        self._gpu = None
        return int(self._cpu.remove_ids(faiss.IDSelectorRange(lo, hi)))

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """Every stored vector (decoded, for compressed kinds) and its id."""
        n, d = self.ntotal, self.dim
        if self.kind == FLAT:
            flat = faiss.downcast_index(self._cpu.index)
            x = faiss.rev_swig_ptr(flat.get_xb(), n * d).copy().reshape(n, d) if n else None
            return (
                x if x is not None else np.zeros((0, d), np.float32),
                faiss.vector_to_array(self._cpu.id_map).astype(np.int64),
            )
        ivf = faiss.extract_index_ivf(self._cpu)
        lists, cs, ccs = ivf.invlists, ivf.invlists.code_size, ivf.coarse_code_size()
        xs, ids = [np.zeros((0, d), np.float32)], [np.zeros(0, np.int64)]
        for no in range(ivf.nlist):
            m = lists.list_size(no)
            if m == 0:
                continue
            codes = faiss.rev_swig_ptr(lists.get_codes(no), m * cs).reshape(m, cs)
            # sa_decode wants the list number in front of each code (it adds back the centroid)
            coarse = np.frombuffer(np.int64(no).tobytes()[:ccs], np.uint8)
            xs.append(self._cpu.sa_decode(np.hstack([np.tile(coarse, (m, 1)), codes])))
            ids.append(faiss.rev_swig_ptr(lists.get_ids(no), m).astype(np.int64))
        return np.vstack(xs), np.concatenate(ids)

    # --- search ----------------------------------------------------------------------------------
    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        allowed: np.ndarray | None = None,
        nprobe: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by inner product. `allowed`: a bool mask indexed by id (covering every id); only
        ids where it is True are returned. `nprobe` overrides the IVF lists scanned this call."""
        q = as_vectors(queries, self.dim)
        k = min(k, self.ntotal)
        if k <= 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        probes = min(nprobe or self.nprobe, self.nlist)
        if allowed is None and nprobe in (None, self.nprobe) and self._use_gpu:
            with self._gpu_lock:  # cloned lazily after each update; the CPU copy stays canonical
                if self._gpu is None:
                    if self.kind != FLAT:
                        faiss.extract_index_ivf(self._cpu).nprobe = self.nprobe
                    self._gpu = faiss.index_cpu_to_all_gpus(self._cpu)
                gpu = self._gpu
            return gpu.search(q, k)
        sel = bits = None
        if allowed is not None:
            # the bitmap must outlive the search: FAISS keeps only a pointer to it
            bits = np.packbits(np.asarray(allowed, dtype=bool), bitorder="little")
            sel = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))  # n is in bytes
        if self.kind == FLAT:
            params: Any = faiss.SearchParameters(sel=sel) if sel is not None else None
        else:
            params = faiss.SearchParametersIVF(nprobe=probes, sel=sel)
        scores, ids = self._cpu.search(q, k, params=params)
        del bits
        return scores, ids


def probes(settings: IndexSettings, index: Any, kind: str) -> int:
    """The lists an IVF search scans: `nprobe`, or `probe_share` of its lists when more. On
    real e5 embeddings with as many lists as the 1,000-h text index (4,800), recall@10 against
    exact search is 0.83 at 16 lists, 0.95 at 128, 0.97 at 256 (`bench.ivf_recall`)."""
    if kind == FLAT:
        return settings.nprobe
    nlist = int(faiss.extract_index_ivf(index).nlist)
    return max(settings.nprobe, math.ceil(settings.probe_share * nlist))


def new_ivf(d: int, nlist: int, kind: str, settings: IndexSettings) -> Any:
    """An untrained IVF index of `nlist` lists, float (IVF) or 8-bit (IVF_SQ8) codes."""
    codec = "SQ8" if kind == IVF_SQ8 else "Flat"
    index = faiss.index_factory(d, f"IVF{nlist},{codec}", faiss.METRIC_INNER_PRODUCT)
    ivf = faiss.extract_index_ivf(index)
    ivf.cp.niter = 10
    ivf.cp.max_points_per_centroid = TRAIN_PER_LIST  # FAISS samples a larger training set
    ivf.cp.seed = 1234
    ivf.nprobe = settings.nprobe
    return index


def _fill_lists(ivf: Any, x: np.ndarray, ids: np.ndarray) -> None:
    """`add_with_ids` for an empty IVF with each list sized once: appending vector by vector
    grows each list by doubling and leaves ~30% unused (360k x 384 floats: 707 MB for 553)."""
    _, assign = ivf.quantizer.search(x, 1)
    assign = np.ascontiguousarray(assign[:, 0])
    size_lists(ivf, np.bincount(assign, minlength=ivf.nlist))
    place_in_lists(ivf, x, ids, assign, np.zeros(ivf.nlist, np.int64))
    ivf.ntotal += len(x)


def size_lists(ivf: Any, counts: np.ndarray) -> None:
    """Give each list of an empty IVF its final length (filled by `place_in_lists`)."""
    for no in np.flatnonzero(counts):
        ivf.invlists.resize(int(no), int(counts[no]))


def place_in_lists(
    ivf: Any, x: np.ndarray, ids: np.ndarray, assign: np.ndarray, filled: np.ndarray
) -> None:
    """Encode `x` and write each code and id at its list's fill mark (`assign`: the list of
    each vector), one call per list; `filled` is moved on."""
    if isinstance(faiss.downcast_index(ivf), faiss.IndexIVFFlat):
        codes = x.view(np.uint8)  # its codes are the floats themselves: no copy
    else:
        codes = np.empty((len(x), ivf.code_size), np.uint8)
        ivf.encode_vectors(len(x), faiss.swig_ptr(x), faiss.swig_ptr(assign), faiss.swig_ptr(codes))
    order = np.argsort(assign, kind="stable")
    counts = np.bincount(assign, minlength=ivf.nlist)
    ends = np.cumsum(counts)
    for no in np.flatnonzero(counts):
        sel = order[ends[no] - counts[no] : ends[no]]
        lid, lcodes = np.ascontiguousarray(ids[sel]), np.ascontiguousarray(codes[sel])
        ivf.invlists.update_entries(
            int(no), int(filled[no]), len(sel), faiss.swig_ptr(lid), faiss.swig_ptr(lcodes)
        )
        filled[no] += len(sel)


def as_vectors(x: np.ndarray, dim: int | None = None) -> np.ndarray:
    a = np.ascontiguousarray(x, dtype=np.float32)
    if a.ndim != 2 or (dim is not None and a.shape[1] != dim):
        raise ValueError(f"expected vectors of shape (n, {dim or 'd'}), got {a.shape}")
    return a


def _kind_of(index: Any) -> str:
    real = faiss.downcast_index(index)
    if isinstance(real, faiss.IndexIDMap):
        return FLAT
    if isinstance(real, faiss.IndexIVFScalarQuantizer):
        return IVF_SQ8
    if isinstance(real, faiss.IndexIVFFlat):
        return IVF
    raise ValueError(f"unsupported FAISS index type {type(real).__name__}")
