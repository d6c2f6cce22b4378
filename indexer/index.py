"""Vector (FAISS) and keyword (BM25) indexes, and the per-video index on disk.

Layout of a video's `index/` (written by `write_video_index`, read by `VideoIndex.load`):
    meta.json             written last, in one rename: its presence means a complete index;
                          `version` names the folder below that holds this index
    <version>/text.npy    float32, one L2-normalised vector per clip, in clip order (optional)
    <version>/frames.npy  float32, one vector per sampled frame (optional)
    <version>/index.npz   clip table (clip_index, start_s, end_s), frame_clip (the clip index of
                          each frame vector), BM25 postings of each clip's evidence (kw_*)
    <version>/clips.bin   the ClipDocs as JSON lines in zlib blocks of CLIP_BLOCK
Vectors are stored raw, not as FAISS files, so a library-wide index can memory-map and copy
them; a video's own FAISS index is built from them on first use (`VideoIndex.text`).
A re-index writes a new version folder and then swaps meta.json, so a reader sees the old index
or the new one, never a mix; the version before the current one is kept for readers in flight.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import shutil
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import faiss as _faiss
import numpy as np
import Stemmer  # PyStemmer: Snowball stemmers in C

from indexer.errors import VideoNotReady
from indexer.settings import IndexSettings
from indexer.store import ArtifactStore, atomic_path, write_text_atomic
from indexer.types import ClipDoc

# faiss's bundled stubs lack much of its SWIG surface (get_xb, id_map, SearchParameters(sel=...))
faiss: Any = _faiss

FLAT, IVF, IVF_SQ8 = "flat", "ivf", "ivf_sq8"
# Above this many bytes of raw vectors an IVF keeps 8-bit codes instead of floats: 4x less memory
# for ~1% recall (360k x 384 random vectors: 553 -> 138 MB, recall@10 0.99 of IVF-Flat's). Frame
# vectors at 1 fps reach this at ~1,000 hours (3.6M x 512 floats = 7.4 GB).
COMPRESS_ABOVE_BYTES = 2 << 30
TRAIN_PER_LIST = 40  # k-means sample per list: FAISS wants 39..256 points per centroid
FORMAT = 1


def ivf_nlist(n: int) -> int:
    # FAISS guideline 4*sqrt(n) lists, but never fewer than 39 training points per list
    return max(1, min(round(4 * math.sqrt(n)), n // 39))


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
        cls, vectors: np.ndarray, ids: np.ndarray, settings: IndexSettings, kind: str | None = None
    ) -> VectorIndex:
        """Exact flat index up to `settings.flat_max` vectors, else IVF trained on a sample of
        them (8-bit codes above COMPRESS_ABOVE_BYTES); `kind` forces one of flat/ivf/ivf_sq8."""
        x, xid = _as_vectors(vectors), np.ascontiguousarray(ids, dtype=np.int64)
        if x.shape[0] != xid.shape[0]:
            raise ValueError(f"{x.shape[0]} vectors but {xid.shape[0]} ids")
        n, d = x.shape
        if kind is None:
            kind = FLAT if n <= settings.flat_max else IVF
            if kind == IVF and x.nbytes > COMPRESS_ABOVE_BYTES:
                kind = IVF_SQ8
        if kind == FLAT:
            index = faiss.index_factory(d, "IDMap,Flat", faiss.METRIC_INNER_PRODUCT)
        elif kind in (IVF, IVF_SQ8):
            if n == 0:
                raise ValueError("an IVF index needs vectors to train on")
            nlist = ivf_nlist(n)
            codec = "SQ8" if kind == IVF_SQ8 else "Flat"
            index = faiss.index_factory(d, f"IVF{nlist},{codec}", faiss.METRIC_INNER_PRODUCT)
            ivf = faiss.extract_index_ivf(index)
            ivf.cp.niter = 10
            ivf.cp.max_points_per_centroid = TRAIN_PER_LIST  # FAISS then samples for us
            ivf.cp.seed = 1234
            ivf.nprobe = settings.nprobe
            index.train(x)
        else:
            raise ValueError(f"unknown index kind {kind!r}")
        if kind == FLAT:
            index.add_with_ids(x, xid)
        else:
            _fill_lists(faiss.extract_index_ivf(index), x, xid)
        return cls(index, kind, settings.nprobe, settings.use_gpu)

    @classmethod
    def load(cls, path: Path, settings: IndexSettings | None = None) -> VectorIndex:
        index = faiss.read_index(str(path))
        kind = _kind_of(index)
        if settings is not None:
            return cls(index, kind, settings.nprobe, settings.use_gpu)
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
        x = _as_vectors(vectors, self.dim)
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
        q = _as_vectors(queries, self.dim)
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


def _fill_lists(ivf: Any, x: np.ndarray, ids: np.ndarray) -> None:
    """`add_with_ids` for an empty IVF, one append per list: appending vector by vector grows
    each list by doubling and leaves ~30% unused (360k x 384 floats: 707 MB where 553 suffice)."""
    _, assign = ivf.quantizer.search(x, 1)
    assign = np.ascontiguousarray(assign[:, 0])
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
        ivf.invlists.add_entries(int(no), len(sel), faiss.swig_ptr(lid), faiss.swig_ptr(lcodes))
    ivf.ntotal += len(x)


def _as_vectors(x: np.ndarray, dim: int | None = None) -> np.ndarray:
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


# --- keywords ------------------------------------------------------------------------------------
_COMPOUND = re.compile(r"[^\W_]+(?:[-_./:'’+#][^\W_]+)*")
_PART = re.compile(r"[^\W_]+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_KW_ARRAYS = ("indptr", "doc", "tf", "ids", "doc_len")


_STEMMER = Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    """Lowercased alphanumeric tokens. A compound such as "A-113" or "3.14" yields its joined
    form and its parts ("a113", "a", "113"), so codes match however they were written; CJK runs,
    which have no spaces, yield their characters and character bigrams. Words are reduced to
    their Snowball stems so "oranges" finds "orange" and "considered" finds "consider"."""
    return _STEMMER.stemWords(_raw_tokens(text))


def _raw_tokens(text: str) -> list[str]:
    out: list[str] = []
    for m in _COMPOUND.finditer(text.casefold()):
        parts = _PART.findall(m.group())
        if len(parts) > 1:
            out.append("".join(parts))
        for p in parts:
            if _CJK.search(p):
                out.extend(p)
                out.extend(p[i : i + 2] for i in range(len(p) - 1))
            else:
                out.append(p)
                out.extend(glued_words(p))
    return out


_GLUED_MIN = 8  # shorter tokens are almost always one word


@functools.lru_cache(maxsize=65536)
def _split_glued(token: str) -> tuple[str, ...]:
    import wordninja  # English unigram word splitter

    parts = tuple(wordninja.split(token))
    return parts if len(parts) > 1 and all(len(w) > 1 for w in parts) else ()


def glued_words(token: str) -> tuple[str, ...]:
    """The words of a token that lost its spaces ("nolitter" → "no", "litter"): OCR models
    often drop the spaces of Latin text, and a question never writes words glued together.
    Empty for ordinary words."""
    if len(token) < _GLUED_MIN or not token.isascii() or not token.isalpha():
        return ()
    return _split_glued(token)


def unglue(text: str) -> str:
    """`text` with glued words spaced out, for embedders that see whole strings."""
    return _PART.sub(lambda m: " ".join(glued_words(m.group().casefold())) or m.group(), text)


class KeywordIndex:
    """Term postings of documents with int64 ids, scored by BM25 (Lucene's idf, k1=1.2, b=0.75).

    `search` returns `[(id, score)]`, best first, only documents sharing a term with the query.
    Weights are computed per query from tf and length, so several indexes can be searched as
    one collection with shared statistics (`bm25_search`) and merged without rescoring."""

    K1, B = 1.2, 0.75

    def __init__(
        self,
        terms: list[str],
        indptr: np.ndarray,
        doc: np.ndarray,
        tf: np.ndarray,
        ids: np.ndarray,
        doc_len: np.ndarray,
        vocab: dict[str, int] | None = None,
    ) -> None:
        self.terms = terms  # posting list t is doc[indptr[t]:indptr[t+1]] (document positions)
        self.indptr, self.doc, self.tf = indptr, doc, tf
        self.ids, self.doc_len = ids, doc_len
        self._vocab = vocab
        self._posting: tuple[np.ndarray, np.ndarray] | None = None
        self._positional: KeywordIndex | None = None

    @property
    def vocab(self) -> dict[str, int]:
        if self._vocab is None:
            self._vocab = {t: i for i, t in enumerate(self.terms)}
        return self._vocab

    @property
    def posting_ids_lens(self) -> tuple[np.ndarray, np.ndarray]:
        """Each posting's document id and length, in posting order: a query term then reads
        contiguous slices instead of gathering by document."""
        if self._posting is None:
            ids = self.ids.astype(np.int32) if self.n_docs and self.ids.max() < 2**31 else self.ids
            self._posting = (ids[self.doc], self.doc_len[self.doc])
        return self._posting

    def prepare_search(self) -> KeywordIndex:
        """Build the lookup structures now rather than in the first search; returns self."""
        _ = self.vocab, self.posting_ids_lens
        return self

    @property
    def n_docs(self) -> int:
        return len(self.ids)

    @property
    def avg_len(self) -> float:
        return max(float(self.doc_len.mean()), 1e-9) if self.n_docs else 1.0

    def with_ids(self, ids: np.ndarray) -> KeywordIndex:
        """The same postings with documents renamed (arrays shared, not copied)."""
        if len(ids) != self.n_docs:
            raise ValueError(f"{len(ids)} ids for {self.n_docs} documents")
        ids = np.asarray(ids, np.int64)
        return KeywordIndex(
            self.terms, self.indptr, self.doc, self.tf, ids, self.doc_len, self._vocab
        )

    @classmethod
    def build(cls, texts: Sequence[str], ids: Sequence[int] | np.ndarray) -> KeywordIndex:
        if len(texts) != len(ids):
            raise ValueError(f"{len(texts)} texts but {len(ids)} ids")
        vocab: dict[str, int] = {}
        rows: list[tuple[int, int, int]] = []
        lengths = []
        for pos, text in enumerate(texts):
            toks = tokenize(text)
            lengths.append(len(toks))
            rows.extend((vocab.setdefault(t, len(vocab)), pos, c) for t, c in Counter(toks).items())
        arr = np.array(rows, dtype=np.int64).reshape(-1, 3)
        ids_a, lens = np.asarray(ids, np.int64), np.asarray(lengths, np.float32)
        return cls._from_postings(list(vocab), arr[:, 0], arr[:, 1], arr[:, 2], ids_a, lens)

    @classmethod
    def merge(cls, parts: Sequence[KeywordIndex], live: np.ndarray | None = None) -> KeywordIndex:
        """One index over the documents of all parts (keeping their ids, which must be distinct);
        with `live`, a bool mask indexed by id, only the documents it marks are kept."""
        vocab: dict[str, int] = {}
        terms, docs, tfs, ids, lens = [], [], [], [], []
        offset = 0
        for part in parts:
            gmap = np.fromiter(
                (vocab.setdefault(t, len(vocab)) for t in part.terms), np.int64, len(part.terms)
            )
            keep = live[part.ids] if live is not None else np.ones(part.n_docs, bool)
            new_pos = np.cumsum(keep) - 1 + offset
            on = keep[part.doc]
            terms.append(np.repeat(gmap, np.diff(part.indptr))[on])
            docs.append(new_pos[part.doc[on]])
            tfs.append(part.tf[on])
            ids.append(part.ids[keep])
            lens.append(part.doc_len[keep])
            offset += int(keep.sum())
        term = np.concatenate([np.zeros(0, np.int64), *terms])
        used = np.bincount(term, minlength=len(vocab)) > 0  # drop terms left without documents
        renum = np.cumsum(used) - 1
        words = [t for t, u in zip(vocab, used.tolist(), strict=True) if u]
        return cls._from_postings(
            words,
            renum[term],
            np.concatenate([np.zeros(0, np.int64), *docs]),
            np.concatenate([np.zeros(0, np.float32), *tfs]),
            np.concatenate([np.zeros(0, np.int64), *ids]),
            np.concatenate([np.zeros(0, np.float32), *lens]),
        )

    @classmethod
    def _from_postings(
        cls,
        terms: list[str],
        term: np.ndarray,
        doc: np.ndarray,
        tf: np.ndarray,
        ids: np.ndarray,
        doc_len: np.ndarray,
    ) -> KeywordIndex:
        order = np.argsort(term, kind="stable")  # term-major, documents ascending within a term
        indptr = np.zeros(len(terms) + 1, np.int64)
        np.cumsum(np.bincount(term, minlength=len(terms)), out=indptr[1:])
        return cls(
            terms,
            indptr,
            doc[order].astype(np.int32),
            tf[order].astype(np.float32),
            ids,
            doc_len.astype(np.float32),
        )

    def search(
        self, query: str, k: int, *, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """`allowed`: a bool mask indexed by id (covering every id); other documents are skipped."""
        if self._positional is None:
            self._positional = self.with_ids(np.arange(self.n_docs)).prepare_search()
        hits = bm25_search(
            [self._positional],
            query,
            k,
            n_docs=self.n_docs,
            avg_len=self.avg_len,
            n_ids=self.n_docs,
            allowed=None if allowed is None else allowed[self.ids],
        )
        return [(int(self.ids[p]), s) for p, s in hits]

    # --- storage: plain arrays, no pickle --------------------------------------------------------
    def arrays(self, prefix: str = "") -> dict[str, Any]:
        blob = np.frombuffer("\n".join(self.terms).encode(), dtype=np.uint8)
        out = {f"{prefix}{n}": getattr(self, n) for n in _KW_ARRAYS}
        return {**out, f"{prefix}terms": blob, f"{prefix}n_terms": np.int64(len(self.terms))}

    @classmethod
    def from_arrays(cls, z: Any, prefix: str = "") -> KeywordIndex:
        n_terms = int(z[f"{prefix}n_terms"])
        terms = z[f"{prefix}terms"].tobytes().decode().split("\n") if n_terms else []
        return cls(terms, *(z[f"{prefix}{n}"] for n in _KW_ARRAYS))

    def save(self, path: Path) -> None:
        with atomic_path(Path(path)) as tmp, tmp.open("wb") as f:
            np.savez(f, **self.arrays())

    @classmethod
    def load(cls, path: Path) -> KeywordIndex:
        with np.load(path, allow_pickle=False) as z:
            return cls.from_arrays(z)


def bm25_search(
    segments: Sequence[KeywordIndex],
    query: str,
    k: int,
    *,
    n_docs: int,
    avg_len: float,
    n_ids: int,
    live: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
) -> list[tuple[int, float]]:
    """BM25 over several indexes taken as one collection of `n_docs` documents of average
    length `avg_len`, whose ids are distinct and below `n_ids`. `live` (bool by id) hides removed
    documents, also from document frequencies; `allowed` (bool by id) filters the results only."""
    k1, b = KeywordIndex.K1, KeywordIndex.B
    keys, weights = [], []
    for tok in dict.fromkeys(tokenize(query)) if k > 0 else ():
        found = [(s, s.vocab[tok]) for s in segments if tok in s.vocab]
        if not found:
            continue
        spans = [(s.posting_ids_lens, s.tf, s.indptr[t], s.indptr[t + 1]) for s, t in found]
        ids = np.concatenate([p[0][a:z] for p, _, a, z in spans])
        dl = np.concatenate([p[1][a:z] for p, _, a, z in spans])
        tf = np.concatenate([tf[a:z] for _, tf, a, z in spans])
        if live is not None:
            on = live[ids]
            ids, tf, dl = ids[on], tf[on], dl[on]
        if not len(ids):
            continue
        idf = math.log1p((n_docs - len(ids) + 0.5) / (len(ids) + 0.5))
        keys.append(ids)
        weights.append(idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avg_len)))
    if not keys:
        return []
    scores = np.bincount(np.concatenate(keys), weights=np.concatenate(weights), minlength=n_ids)
    cand = np.flatnonzero(scores > 0)
    if allowed is not None:
        cand = cand[allowed[cand]]
    if len(cand) > k:
        cand = cand[np.argpartition(-scores[cand], k - 1)[:k]]
    cand = cand[np.lexsort((cand, -scores[cand]))]  # ties: lower id first
    return [(int(c), float(scores[c])) for c in cand]


# --- the per-video index on disk -----------------------------------------------------------------
CLIP_BLOCK = 16  # ClipDocs per compressed block of clips.bin: one block inflates in ~50 µs


def _pack_clips(clips: Sequence[ClipDoc]) -> tuple[bytes, np.ndarray]:
    blocks = [
        zlib.compress(b"\n".join(c.model_dump_json().encode() for c in clips[i : i + CLIP_BLOCK]))
        for i in range(0, len(clips), CLIP_BLOCK)
    ]
    offsets = np.zeros(len(blocks) + 1, np.int64)
    np.cumsum([len(b) for b in blocks], out=offsets[1:])
    return b"".join(blocks), offsets


def unpack_clip(data: bytes | memoryview, offsets: np.ndarray, pos: int, base: int = 0) -> ClipDoc:
    """The ClipDoc at position `pos` from clips.bin bytes (`data` starting at byte `base`)."""
    b = pos // CLIP_BLOCK
    a, z = int(offsets[b]) - base, int(offsets[b + 1]) - base
    return ClipDoc.model_validate_json(zlib.decompress(data[a:z]).split(b"\n")[pos % CLIP_BLOCK])


def _keyword_text(doc: ClipDoc) -> str:
    return "\n".join(e.text for e in doc.evidence if e.text)


def write_video_index(
    store: ArtifactStore,
    clips: list[ClipDoc],
    text_vecs: np.ndarray | None,
    frame_vecs: np.ndarray | None,
    frame_clip: np.ndarray | None,
    settings: IndexSettings,
    meta: dict[str, Any],
    *,
    text_clip: np.ndarray | None = None,
) -> None:
    """Write (or atomically replace) the video's index. `text_vecs`: one row per clip, in order,
    or, with `text_clip`, any number of rows each naming its clip (a clip's speech, on-screen text
    and objects embedded apart, so a long transcript does not drown a short label);
    `frame_vecs` with `frame_clip`: one row per frame and the clip index it belongs to. `meta`
    (e.g. text_model, frames_model, which the Searcher compares with its own) goes into
    meta.json beside the counts. Raises ValueError when the shapes disagree."""
    index_of = np.array([c.clip.index for c in clips], dtype=np.int64)
    if len(np.unique(index_of)) != len(clips):
        raise ValueError("clip indexes are not unique")
    tv = None if text_vecs is None else _as_vectors(text_vecs)
    fv = None if frame_vecs is None else _as_vectors(frame_vecs)
    tc = index_of if text_clip is None else np.asarray(text_clip, np.int64)
    if tv is not None and (len(tv) != len(tc) or not np.isin(tc, index_of).all()):
        raise ValueError(f"{len(tv)} text vectors for {len(tc)} clip references")
    if (fv is None) != (frame_clip is None):
        raise ValueError("frame_vecs and frame_clip go together")
    fc = None if frame_clip is None else np.asarray(frame_clip, np.int64)
    if (
        fv is not None
        and fc is not None
        and (len(fv) != len(fc) or not np.isin(fc, index_of).all())
    ):
        raise ValueError("frame_clip must name one known clip per frame vector")
    root = store.path("index")
    version = f"v{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    vdir = root / version
    vdir.mkdir(parents=True)
    info: dict[str, Any] = {"text": None, "frames": None}
    for name, vecs in (("text", tv), ("frames", fv)):
        if vecs is not None:
            with atomic_path(vdir / f"{name}.npy") as tmp, tmp.open("wb") as f:
                np.save(f, vecs, allow_pickle=False)
            info[name] = {"dim": int(vecs.shape[1]), "count": len(vecs)}
    kw = KeywordIndex.build([_keyword_text(c) for c in clips], index_of)
    blob, offsets = _pack_clips(clips)
    with atomic_path(vdir / "clips.bin") as tmp:
        tmp.write_bytes(blob)
    table: dict[str, Any] = {
        "clip_index": index_of,
        "start_s": np.array([c.clip.start_s for c in clips], np.float64),
        "end_s": np.array([c.clip.end_s for c in clips], np.float64),
        "block_offsets": offsets,
        "frame_clip": fc if fc is not None else np.zeros(0, np.int64),
        "text_clip": tc if tv is not None else np.zeros(0, np.int64),
    }
    with atomic_path(vdir / "index.npz") as tmp, tmp.open("wb") as f:
        np.savez(f, **table, **kw.arrays("kw_"))
    previous = _read_meta(root).get("version")
    record = {
        **meta,
        "format": FORMAT,
        "version": version,
        "clips": len(clips),
        "keyword": {"docs": kw.n_docs, "terms": len(kw.terms)},
        **info,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_text_atomic(root / "meta.json", json.dumps(record, ensure_ascii=False, indent=1))
    touch_library(store.root.parent)
    for old in root.iterdir():  # keep the previous version for readers that already chose it
        if old.is_dir() and old.name not in (version, previous):
            shutil.rmtree(old, ignore_errors=True)


def touch_library(videos_dir: Path) -> None:
    """Tell Searchers that an index changed: they re-list the library when its folder's mtime
    moves (adding or deleting a video folder moves it too)."""
    with contextlib.suppress(FileNotFoundError):
        os.utime(videos_dir)


def _read_meta(root: Path) -> dict[str, Any]:
    try:
        meta: dict[str, Any] = json.loads((root / "meta.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return meta


def text_clip_of(z: Any) -> np.ndarray:
    """The clip index of each text vector; indexes written before `text_clip` existed hold one
    vector per clip, in clip order."""
    tc = z["text_clip"] if "text_clip" in z.files else np.zeros(0, np.int64)
    return tc if len(tc) else z["clip_index"]


class VideoIndex:
    """A video's loaded index: `meta`, the clip table (`clip_index`, `start_s`, `end_s`),
    `keyword` (ids = clip indexes), raw `text_vectors` / `frame_vectors` + `frame_clip` (None
    when absent), FAISS indexes over them built on first use (`text`, `frames`), `clips` and
    `read_clip(pos)`. `load` raises VideoNotReady when the video has no complete index."""

    def __init__(self, root: Path, meta: dict[str, Any], z: Any, settings: IndexSettings) -> None:
        self.root, self.meta, self.settings = root, meta, settings
        self.clip_index, self.start_s, self.end_s = z["clip_index"], z["start_s"], z["end_s"]
        self.block_offsets = z["block_offsets"]
        self.keyword = KeywordIndex.from_arrays(z, "kw_")
        self.frame_clip: np.ndarray | None = z["frame_clip"] if meta.get("frames") else None
        self.text_clip: np.ndarray = text_clip_of(z)
        self.text_vectors = self._vectors("text")
        self.frame_vectors = self._vectors("frames")

    def _vectors(self, name: str) -> np.ndarray | None:
        if not self.meta.get(name):
            return None
        # memory-mapped: whoever copies them (the library index) pays the read, no one else
        return np.load(self.root / f"{name}.npy", mmap_mode="r", allow_pickle=False)

    @classmethod
    def load(cls, store: ArtifactStore, settings: IndexSettings | None = None) -> VideoIndex:
        root = store.path("index")
        for attempt in range(3):
            meta = _read_meta(root)
            if not meta:
                raise VideoNotReady(f"video {store.root.name} has no index yet")
            vdir = root / str(meta["version"])
            try:
                with np.load(vdir / "index.npz", allow_pickle=False) as z:
                    return cls(vdir, meta, z, settings or IndexSettings())
            except FileNotFoundError:
                # two re-indexes since we read meta.json removed its version: read it again
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def __len__(self) -> int:
        return len(self.clip_index)

    @cached_property
    def text(self) -> VectorIndex | None:
        if self.text_vectors is None:
            return None
        return VectorIndex.build(self.text_vectors, self.text_clip, self.settings)

    @cached_property
    def frames(self) -> VectorIndex | None:
        if self.frame_vectors is None or self.frame_clip is None:
            return None
        return VectorIndex.build(self.frame_vectors, self.frame_clip, self.settings)

    def clip_blob(self) -> bytes:
        """clips.bin as bytes, for `unpack_clip` (the Searcher keeps these in memory)."""
        return (self.root / "clips.bin").read_bytes()

    def read_clip(self, pos: int) -> ClipDoc:
        """The ClipDoc at position `pos` (not clip index), reading only its block."""
        b = pos // CLIP_BLOCK
        a, z = int(self.block_offsets[b]), int(self.block_offsets[b + 1])
        with (self.root / "clips.bin").open("rb") as f:
            f.seek(a)
            return unpack_clip(f.read(z - a), self.block_offsets, pos, base=a)

    @cached_property
    def clips(self) -> list[ClipDoc]:
        blob = self.clip_blob()
        return [unpack_clip(blob, self.block_offsets, i) for i in range(len(self))]
