"""Each Hit carries the best cosine between the query's text embedding and its clip's text
vectors (the extractive answer's relevance-by-meaning signal), and None when there is none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer.search.searcher import Searcher
from indexer.settings import IndexSettings, Settings
from indexer.store import Library
from tests.index_helpers import FakeExtractors, HashEmbedder, add_video, clip_docs

TEXTS = [
    "the courier drops parcel A-113 at the north gate",
    "a kitten sleeps on the sofa",
    "rain on the window",
]


def searcher_over(tmp_path: Path, **backends: object) -> Searcher:
    settings = Settings(data_dir=tmp_path, index=IndexSettings())
    library = Library(settings.videos_dir)
    add_video(library, "vid", TEXTS, settings.index)
    return Searcher(library, FakeExtractors(**backends), settings)


def test_hits_carry_the_clip_cosine(tmp_path: Path) -> None:
    emb = HashEmbedder()
    searcher = searcher_over(tmp_path, text=emb)
    query = "where did the courier leave the parcel"
    hits = searcher.search(query, top_k=3)
    q = emb.embed([query], query=True)[0]
    clip_vecs = emb.embed([d.text() for d in clip_docs(TEXTS)])
    assert hits[0].clip_index == 0
    for h in hits:
        assert h.dense_similarity == pytest.approx(float(clip_vecs[h.clip_index] @ q), abs=1e-5)
    cosines = [h.dense_similarity for h in hits]
    assert cosines[0] is not None and cosines[0] == max(c for c in cosines if c is not None)
    assert not np.isclose(cosines[0], cosines[-1])


def test_no_cosine_without_a_comparable_text_model(tmp_path: Path) -> None:
    keyword_only = searcher_over(tmp_path / "a")
    assert [h.dense_similarity for h in keyword_only.search("courier parcel")] == [None]
    other_model = searcher_over(tmp_path / "b", text=HashEmbedder(model="another-64"))
    hits = other_model.search("courier parcel")
    assert hits and all(h.dense_similarity is None for h in hits)
