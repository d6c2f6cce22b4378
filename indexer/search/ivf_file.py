"""Library-wide IVF indexes built list by list from the videos' files, kept in a file named by
what it holds, and searched memory-mapped.

Why: at 1,000 hours the frame vectors alone are 3.6 M x 512. Built the plain way, a gateway
copies every float into one array (7.4 GB) to train and fill the index, then holds the 8-bit
codes (1.8 GB) in its own heap, and each gateway process does both again. Here the lists are
filled video by video (a training sample and the list numbers are all that is held beside the
codes), written once to `<cache>/<modality>-<key>.faiss` and read back memory-mapped: the codes
live in the kernel's page cache, shared by every gateway process on the machine, a search reads
only the lists it probes, and a gateway restarted over an unchanged library maps the file
instead of training again. The key hashes the videos (id, index stamp, rows), the model and the
index parameters, so a changed library never maps a stale file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from indexer.search.vectors import (
    TRAIN_PER_LIST,
    VectorIndex,
    as_vectors,
    faiss,
    ivf_kind,
    ivf_nlist,
    new_ivf,
    place_in_lists,
    probes,
    size_lists,
)
from indexer.settings import IndexSettings

if TYPE_CHECKING:
    from indexer.search.library import VideoEntry

log = logging.getLogger(__name__)
FORMAT = 1  # bump when the build changes: files of an older build are never mapped
CHUNK_ROWS = 1 << 18  # vectors encoded and placed per step (a few videos' worth)
UNUSED_S = 60  # another file of the same modality unused this long is removed


def mapped_ivf(
    cache: Path, chosen: list[VideoEntry], name: str, dim: int, settings: IndexSettings
) -> VectorIndex:
    """The IVF over the `name` vectors of `chosen` (in row order), mapped from its file in
    `cache`: built and written first when no file holds it. A cache that cannot be written
    (disk full, read-only) leaves the index in this process's memory."""
    n = sum(len(v.dense[name][1]) for v in chosen)
    kind = ivf_kind(n, dim)
    path = cache / f"{name}-{_key(chosen, name, dim, kind, settings)}.faiss"
    try:
        index = VectorIndex.load(path, settings, mmap=True)
        os.utime(path)  # in use: see _prune
        return index
    except (OSError, RuntimeError):  # not built yet, or unreadable: build it (again)
        pass
    index = build_streaming(chosen, name, dim, settings, kind)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        index.save(path)
        mapped = VectorIndex.load(path, settings, mmap=True)
    except (OSError, RuntimeError) as e:
        log.warning(
            "search cache %s not written (%s): the %s index stays in memory", cache, e, name
        )
        return index
    _prune(cache, name, keep=path)
    return mapped


def build_streaming(
    chosen: list[VideoEntry], name: str, dim: int, settings: IndexSettings, kind: str
) -> VectorIndex:
    """An IVF over the videos' vectors without copying them into one array: trained on a
    sample, then each list sized once and filled in place (no growth slack)."""
    n = sum(len(v.dense[name][1]) for v in chosen)
    if n == 0:
        raise ValueError("an IVF index needs vectors to train on")
    nlist = ivf_nlist(n)
    index = new_ivf(dim, nlist, kind, settings)
    index.train(_sample(chosen, name, dim, n, TRAIN_PER_LIST * nlist))
    ivf = faiss.extract_index_ivf(index)
    # pass 1: the list of every vector (the quantizer search is the costly part: done once)
    assign = np.concatenate(
        [ivf.quantizer.search(x, 1)[1][:, 0] for x, _ in _chunks(chosen, name, dim)]
    )
    size_lists(ivf, np.bincount(assign, minlength=nlist))
    # pass 2: encode each chunk and write it at each list's fill mark
    filled, at = np.zeros(nlist, np.int64), 0
    for x, ids in _chunks(chosen, name, dim):
        place_in_lists(ivf, x, ids, np.ascontiguousarray(assign[at : at + len(x)]), filled)
        at += len(x)
    ivf.ntotal = index.ntotal = n
    return VectorIndex(index, kind, probes(settings, index, kind), settings.use_gpu)


def _chunks(
    chosen: list[VideoEntry], name: str, dim: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(vectors, rows) of consecutive videos, about CHUNK_ROWS at a time, in order."""
    xs: list[np.ndarray] = []
    ids: list[np.ndarray] = []
    held = 0
    for v in chosen:
        x, rows = v.dense[name]
        xs.append(as_vectors(x, dim))
        ids.append(np.asarray(rows, np.int64))
        held += len(rows)
        if held >= CHUNK_ROWS:
            yield np.concatenate(xs), np.concatenate(ids)
            xs, ids, held = [], [], 0
    if held:
        yield np.concatenate(xs), np.concatenate(ids)


def _sample(chosen: list[VideoEntry], name: str, dim: int, n: int, want: int) -> np.ndarray:
    """Up to `want` vectors drawn evenly at random from all videos (the k-means sample)."""
    picks = np.sort(np.random.default_rng(1234).choice(n, min(n, want), replace=False))
    out = np.empty((len(picks), dim), np.float32)
    at = taken = 0
    for v in chosen:
        m = len(v.dense[name][1])
        lo, hi = np.searchsorted(picks, [at, at + m])
        out[taken : taken + hi - lo] = v.dense[name][0][picks[lo:hi] - at]
        taken += hi - lo
        at += m
    return out


def _key(chosen: list[VideoEntry], name: str, dim: int, kind: str, settings: IndexSettings) -> str:
    spec = [FORMAT, name, dim, kind, TRAIN_PER_LIST, settings.model_dump(include={"flat_max"})]
    videos = [(v.vid, list(v.stamp), v.lo, v.hi, len(v.dense[name][1])) for v in chosen]
    blob = json.dumps([spec, videos], separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def _prune(cache: Path, name: str, keep: Path) -> None:
    """Remove the modality's other files that no process mapped in the last UNUSED_S, and
    temp files of writes that died. A process that still has a removed file mapped keeps its
    pages (the file's space is freed when the mapping goes)."""
    now = time.time()
    for p in [*cache.glob(f"{name}-*.faiss"), *cache.glob(".*.tmp")]:
        try:
            age = now - p.stat().st_mtime
            if p != keep and age > (UNUSED_S if p.suffix == ".faiss" else 3600):
                p.unlink()
        except OSError:
            continue
