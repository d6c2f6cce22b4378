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


def test_hits_name_the_text_of_their_closest_vector(tmp_path: Path) -> None:
    """A clip embedded as the pipeline embeds it (whole evidence, then windows of a long
    transcript: indexer/clip_texts.py) names the window closest to the query, which the
    extractive answer quotes; an index with other vector counts names none."""
    from indexer.clip_texts import clip_texts
    from indexer.search.video_index import write_video_index

    filler = "we talked about the weather and the long drive home from the coast that day"
    speech = f"{filler} then the courier dropped parcel A-113 at the north gate {filler}"
    settings = Settings(data_dir=tmp_path, index=IndexSettings())
    library = Library(settings.videos_dir)
    store = library.store("vid")
    store.write_json("video.json", {"id": "vid"})
    docs = clip_docs([speech, "a kitten sleeps on the sofa"])
    emb = HashEmbedder()
    texts, owners = clip_texts(docs)
    assert len(texts) > 3  # windows
    meta = {"text_model": emb.model}
    write_video_index(
        store,
        docs,
        emb.embed(texts),
        None,
        None,
        settings.index,
        meta,
        text_clip=np.asarray(owners, dtype=np.int64),
    )
    hits = Searcher(library, FakeExtractors(text=emb), settings).search("courier parcel gate")
    assert hits[0].clip_index == 0 and hits[0].closest_text is not None
    assert "courier" in hits[0].closest_text and hits[0].closest_text in speech

    # one vector per clip where clip_texts gives three (whole, objects, speech): no text named
    one_vector = searcher_over(tmp_path / "b", text=emb).search("courier parcel")
    assert one_vector[0].dense_similarity is not None and one_vector[0].closest_text is None
