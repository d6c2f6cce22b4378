"""The library-wide IVF built video by video, kept in a file and searched memory-mapped."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest

from indexer.search import ivf_file
from indexer.search.ivf_file import build_streaming, mapped_ivf
from indexer.search.vectors import IVF, IVF_SQ8, VectorIndex
from indexer.settings import IndexSettings
from tests.index_helpers import HashEmbedder, add_video
from tests.test_index import clustered, exact_top, recall
from tests.test_retrieve import make

SMALL = IndexSettings(flat_max=1000, nprobe=8)
D = 32


def videos(sizes: list[int], seed: int = 0) -> list[SimpleNamespace]:
    """VideoEntry stand-ins: rows numbered on from 0 in video order, vectors as on disk."""
    x = clustered(sum(sizes), D, seed)
    out, lo = [], 0
    for i, m in enumerate(sizes):
        rows = np.arange(lo, lo + m, dtype=np.int64)
        out.append(
            SimpleNamespace(
                vid=f"v{i}", stamp=(i, 1), lo=lo, hi=lo + m, dense={"text": (x[rows], rows)}
            )
        )
        lo += m
    return out


def all_vectors(vs: list[SimpleNamespace]) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.concatenate([v.dense["text"][0] for v in vs]),
        np.concatenate([v.dense["text"][1] for v in vs]),
    )


@pytest.mark.parametrize("kind", [IVF, IVF_SQ8])
def test_built_video_by_video_it_holds_every_vector_and_finds_them(kind, monkeypatch):
    monkeypatch.setattr(ivf_file, "CHUNK_ROWS", 700)  # several chunks, some cutting no video
    vs = videos([400, 900, 50, 1200, 650])
    x, rows = all_vectors(vs)
    index = build_streaming(vs, "text", D, SMALL, kind)
    assert (index.kind, index.ntotal) == (kind, len(rows))
    stored_x, stored_ids = index.vectors()
    assert sorted(stored_ids) == list(rows)
    order = np.argsort(stored_ids)
    assert np.allclose(stored_x[order], x, atol=0.02 if kind == IVF_SQ8 else 1e-6)
    # each vector finds itself first; neighbours agree with exact search
    _, found = index.search(x[::37], 10)
    assert (found[:, 0] == rows[::37]).mean() > (0.97 if kind == IVF_SQ8 else 0.999)
    assert recall(found, exact_top(x, rows, x[::37], 10)) > 0.9


def test_the_file_is_mapped_again_and_renamed_when_the_library_changes(tmp_path, monkeypatch):
    vs = videos([1500, 1500])
    first = mapped_ivf(tmp_path, vs, "text", D, SMALL)
    files = list(tmp_path.glob("text-*.faiss"))
    assert len(files) == 1 and first.ntotal == 3000
    # a second process over the same library maps the file: nothing is trained again
    monkeypatch.setattr(ivf_file, "build_streaming", lambda *a: pytest.fail("built again"))
    again = mapped_ivf(tmp_path, vs, "text", D, SMALL)
    x, _ = all_vectors(vs)
    assert np.array_equal(first.search(x[:20], 5)[1], again.search(x[:20], 5)[1])
    monkeypatch.undo()
    # a re-indexed video (new stamp) never maps the old file; the old one, unused, goes
    os.utime(files[0], (1, 1))
    vs[1].stamp = (7, 2)
    mapped_ivf(tmp_path, vs, "text", D, SMALL)
    now = list(tmp_path.glob("text-*.faiss"))
    assert len(now) == 1 and now != files


def test_a_cache_that_cannot_be_written_leaves_the_index_in_memory(tmp_path, caplog):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    index = mapped_ivf(blocked / "cache", videos([2000]), "text", D, SMALL)
    assert index.ntotal == 2000 and index.kind == IVF
    assert "stays in memory" in caplog.text


def test_a_broken_file_is_built_again(tmp_path):
    vs = videos([2000])
    mapped_ivf(tmp_path, vs, "text", D, SMALL)
    (path,) = tmp_path.glob("text-*.faiss")
    path.write_bytes(path.read_bytes()[:1000])
    assert mapped_ivf(tmp_path, vs, "text", D, SMALL).ntotal == 2000
    assert VectorIndex.load(path, SMALL, mmap=True).ntotal == 2000


def test_the_searcher_maps_the_library_index_and_a_restart_reuses_it(tmp_path, monkeypatch):
    index = IndexSettings(flat_max=20, nprobe=4)
    settings, library, searcher = make(tmp_path, index=index, text=HashEmbedder())
    for v in range(6):
        texts = [f"clip {i} of video {v} about topic{v} and subject{i}" for i in range(8)]
        add_video(library, f"v{v}", texts, settings.index)
    searcher.warm_up()
    assert searcher.watcher.state.dense["text"].base.kind == IVF
    (cached,) = (tmp_path / "search-cache").glob("text-*.faiss")
    hits = searcher.search("topic4 subject3", top_k=3)
    assert (hits[0].video_id, hits[0].clip_index) == ("v4", 3)
    monkeypatch.setattr(ivf_file, "build_streaming", lambda *a: pytest.fail("built again"))
    _, _, restarted = make(tmp_path, index=index, text=HashEmbedder())
    restarted.warm_up()
    hits = restarted.search("topic4 subject3", top_k=3)
    assert (hits[0].video_id, hits[0].clip_index) == ("v4", 3)
    assert list((tmp_path / "search-cache").glob("text-*.faiss")) == [cached]


def test_a_search_scans_a_share_of_the_lists_when_there_are_many():
    vs = videos([3000])
    x, rows = all_vectors(vs)
    few = IndexSettings(flat_max=1000, nprobe=2, probe_share=0.0)
    share = IndexSettings(flat_max=1000, nprobe=2, probe_share=0.5)
    for settings in (few, share):
        built = VectorIndex.build(x, rows, settings)
        streamed = build_streaming(vs, "text", D, settings, IVF)
        want = 2 if settings is few else -(-built.nlist // 2)
        assert built.nprobe == streamed.nprobe == want
