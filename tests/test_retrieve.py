"""Rank fusion and the library Searcher over small synthetic videos written with
write_video_index (a bag-of-words test embedder stands in for the text model)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from indexer.errors import InvalidQuery, ModelUnavailable, VideoNotFound, VideoNotReady
from indexer.search import library as library_mod
from indexer.search import refresh as refresh_mod
from indexer.search.bm25 import bm25_search
from indexer.search.fusion import reciprocal_rank_fusion
from indexer.search.searcher import Searcher
from indexer.search.vectors import FLAT, IVF
from indexer.search.video_index import write_video_index
from indexer.settings import IndexSettings, Settings
from indexer.store import Library
from tests.index_helpers import FakeExtractors, HashEmbedder, add_video, clip_docs

FILLER = [f"uneventful footage number {i} of the hallway" for i in range(12)]
VIDEO_A = [*FILLER[:4], "the courier drops parcel A-113 at the north gate", *FILLER[4:8]]
VIDEO_B = [
    "a red car parks outside",
    "the driver opens the trunk",
    *FILLER[8:10],
    "Maria Gonzalez reads code B-7 aloud",
]
VIDEO_C = ["a kitten sleeps on the sofa", "someone makes coffee", "rain on the window"]


# --- fusion --------------------------------------------------------------------------------------
def test_rrf_sums_reciprocal_ranks():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "d"]], k=60)
    scores = dict(fused)
    assert [key for key, _ in fused] == ["b", "a", "d", "c"]
    assert scores["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert scores["a"] == pytest.approx(1 / 61)


def test_rrf_weights_ties_and_repeats():
    assert reciprocal_rank_fusion([["x"], ["y"]])[0][0] == "x"  # tie: first seen first
    assert reciprocal_rank_fusion([["x"], ["y"]], weights=[1.0, 2.0])[0][0] == "y"
    assert dict(reciprocal_rank_fusion([["x", "x", "y"]], k=0)) == {"x": 1.0, "y": 1 / 3}
    assert reciprocal_rank_fusion([]) == []
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["x"]], weights=[1.0, 1.0])


# --- the Searcher --------------------------------------------------------------------------------
def make(tmp_path: Path, index: IndexSettings | None = None, **backends):
    settings = Settings(data_dir=tmp_path, index=index or IndexSettings())
    library = Library(settings.videos_dir)
    extractors = FakeExtractors(**backends)
    return settings, library, Searcher(library, extractors, settings)


@pytest.fixture
def lib(tmp_path):
    settings, library, searcher = make(tmp_path, text=HashEmbedder())
    add_video(library, "vida", VIDEO_A, settings.index)
    add_video(library, "vidb", VIDEO_B, settings.index)
    add_video(library, "vidc", VIDEO_C, settings.index)
    return settings, library, searcher


def top(hits):
    return (hits[0].video_id, hits[0].clip_index)


def test_finds_exact_code_by_keyword(lib):
    _, _, searcher = lib
    hits = searcher.search("A-113")
    assert top(hits) == ("vida", 4)
    assert hits[0].start_s == 40.0 and hits[0].end_s == 50.0
    assert hits[0].frames == ["frames/000004.jpg"]
    assert top(searcher.search("who read code b7")) == ("vidb", 4)


def test_finds_by_dense_similarity_without_shared_words(lib):
    _, _, searcher = lib
    # "automobile" and "feline kitten" appear in no clip: only the embedder relates them
    assert top(searcher.search("automobile")) == ("vidb", 0)
    assert top(searcher.search("feline")) == ("vidc", 0)


def test_fusion_puts_clips_found_by_both_first(lib):
    _, _, searcher = lib
    hits = searcher.search("parcel at the gate", top_k=5)
    assert top(hits) == ("vida", 4)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len(hits) == 5


def test_matching_evidence_comes_first(lib):
    _, _, searcher = lib
    hit = searcher.search("A-113")[0]
    assert hit.evidence[0].modality == "speech"  # stored after "objects", moved forward
    assert {e.modality for e in hit.evidence} == {"speech", "objects"}


def test_video_ids_filter(lib):
    _, _, searcher = lib
    hits = searcher.search("A-113", video_ids=["vidc"], top_k=3)
    assert hits and {h.video_id for h in hits} == {"vidc"}
    both = searcher.search("hallway", video_ids=["vida", "vidb"], top_k=20)
    assert {h.video_id for h in both} == {"vida", "vidb"}


def test_errors(lib):
    settings, library, searcher = lib
    add_video(library, "vidd", ["not yet"], settings.index, ready=False)
    for bad in ("", "   \n"):
        with pytest.raises(InvalidQuery):
            searcher.search(bad)
    for k in (0, settings.index.max_top_k + 1, True, 2.5):
        with pytest.raises(InvalidQuery):
            searcher.search("gate", top_k=k)
    assert len(searcher.search("hallway", top_k=settings.index.max_top_k)) > 0
    with pytest.raises(InvalidQuery):
        searcher.search("gate", video_ids=[])
    with pytest.raises(VideoNotFound):
        searcher.search("gate", video_ids=["vida", "nosuch"])
    with pytest.raises(VideoNotFound):
        searcher.search("gate", video_ids=["../etc"])
    with pytest.raises(VideoNotReady):
        searcher.search("gate", video_ids=["vidd"])


def test_sees_new_reindexed_and_deleted_videos_without_restart(lib):
    settings, library, searcher = lib
    assert not any(h.video_id == "vide" for h in searcher.search("zeppelin"))
    add_video(library, "vide", ["a zeppelin floats over the stadium"], settings.index)
    # named (as the gateway names the videos its database says are ready): waited for
    every = ["vida", "vidb", "vidc", "vide"]
    assert top(searcher.search("zeppelin", video_ids=every)) == ("vide", 0)
    assert top(searcher.search("zeppelin")) == ("vide", 0)
    # re-indexed with other content: the old clips are gone, the new ones found
    add_video(library, "vida", ["a zeppelin lands", "the parcel is lost"], settings.index)
    searcher.warm_up()  # library-wide searches see what the background refresh has applied
    hits = searcher.search("A-113", top_k=10)
    assert all(h.video_id != "vida" or h.clip_index < 2 for h in hits)
    assert ("vida", 0) in [(h.video_id, h.clip_index) for h in searcher.search("zeppelin")]
    library.delete("vide")
    searcher.warm_up()
    assert all(h.video_id != "vide" for h in searcher.search("zeppelin", top_k=10))
    with pytest.raises(VideoNotFound):
        searcher.search("zeppelin", video_ids=["vide"])


def test_keyword_only_when_text_capability_is_off(tmp_path):
    settings, library, searcher = make(tmp_path)  # no text embedder
    add_video(library, "vida", VIDEO_A, settings.index)
    add_video(library, "vidb", VIDEO_B, settings.index)
    assert top(searcher.search("A-113")) == ("vida", 4)
    assert searcher.search("automobile") == []  # no shared words and no dense search
    assert searcher.watcher.state.dense["text"].base is None


def test_embedder_failing_at_load_falls_back_to_keywords(tmp_path):
    class Broken(HashEmbedder):
        def embed(self, texts, *, query=False):
            raise ModelUnavailable("weights missing")

    settings, library, searcher = make(tmp_path, text=Broken())
    add_video(library, "vida", VIDEO_A, settings.index)
    assert top(searcher.search("A-113")) == ("vida", 4)
    assert searcher.extractors.get("text") is None  # switched off for the process


def test_vectors_of_another_model_are_not_mixed(tmp_path):
    settings, library, searcher = make(tmp_path, text=HashEmbedder(model="hash-64"))
    add_video(library, "vida", VIDEO_A, settings.index)
    add_video(library, "vidb", VIDEO_B, settings.index, HashEmbedder(model="other"))
    add_video(library, "vidc", VIDEO_C, settings.index, HashEmbedder(dim=32, model="hash-64"))
    searcher.warm_up()
    assert searcher.watcher.state.dense["text"].members == {"vida"}
    assert top(searcher.search("Maria")) == ("vidb", 4)  # still found by keyword
    # the pipeline's record of what ran counts as well
    store = library.store("vidc")
    write_video_index(
        store,
        clip_docs(VIDEO_C),
        HashEmbedder(dim=64).embed(VIDEO_C),
        None,
        None,
        settings.index,
        {"capabilities": {"text": {"ok": True, "model": "other"}}},
    )
    searcher.warm_up()
    assert searcher.watcher.state.dense["text"].members == {"vida"}
    searcher.extractors.backends["text"] = HashEmbedder(model="other")  # the model changed
    searcher.warm_up()
    assert searcher.watcher.state.dense["text"].members == {"vidb", "vidc"}
    assert top(searcher.search("automobile")) == ("vidb", 0)


def test_frames_modality_maps_frames_to_clips(tmp_path):
    class Clip(HashEmbedder):  # a stand-in for the CLIP text tower
        def embed_texts(self, texts):
            return self.embed(texts)

    settings, library, searcher = make(tmp_path, frames=Clip(dim=48, model="clip"))
    store = library.store("vidf")
    store.write_json("video.json", {"id": "vidf"})
    clips = clip_docs(["speech about nothing", "more talk", "silence"])
    frame_clip = np.array([0, 0, 1, 1, 2, 2])
    pictures = ["a dog", "a dog running", "a lighthouse", "lighthouse at dusk", "a cup", "a cup"]
    write_video_index(
        store,
        clips,
        None,
        Clip(dim=48).embed(pictures),
        frame_clip,
        settings.index,
        {"frames_model": "clip"},
    )
    hits = searcher.search("lighthouse", top_k=3)
    assert top(hits) == ("vidf", 1)
    assert len({h.clip_index for h in hits}) == len(hits)  # one hit per clip, not per frame


def test_library_index_grows_into_ivf_and_filters_exactly(tmp_path):
    index = IndexSettings(flat_max=150, nprobe=1)
    settings, library, searcher = make(tmp_path, index=index, text=HashEmbedder())
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    for v in range(20):
        texts = [" ".join(rng.choice(words, 6)) for _ in range(40)]
        add_video(library, f"bulk{v}", texts, settings.index)
    searcher.search("w1")
    assert searcher.watcher.state.dense["text"].base.kind == IVF
    add_video(library, "needle", ["quokka selfie"], settings.index)
    searcher.warm_up()
    assert top(searcher.search("quokka selfie")) == ("needle", 0)
    # one small video out of many: the filtered IVF search still returns its clips
    hits = searcher.search("w5 w7", video_ids=["bulk3"], top_k=10)
    assert len(hits) == 10 and {h.video_id for h in hits} == {"bulk3"}
    for v in range(20):
        library.delete(f"bulk{v}")
    searcher.warm_up()
    assert searcher.watcher.state.dense["text"].base.kind == FLAT  # small again: exact


def test_concurrent_searches_while_a_video_arrives(lib):
    settings, library, searcher = lib
    errors: list[BaseException] = []

    def run():
        try:
            for _ in range(20):
                assert top(searcher.search("A-113")) == ("vida", 4)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    add_video(library, "late", ["a late arrival about zeppelins"], settings.index)
    for t in threads:
        t.join()
    assert not errors
    searcher.warm_up()
    assert top(searcher.search("zeppelins")) == ("late", 0)


def keyword_scores(searcher: Searcher, query: str) -> dict[tuple[str, int], float]:
    """Every clip's BM25 score in the searcher's library keyword index, by (video, position)."""
    st = searcher.watcher.state
    found = bm25_search(
        [st.main, *st.recent],
        query,
        st.next_row,
        n_docs=st.n_docs,
        avg_len=st.avg_len,
        n_ids=st.next_row,
        live=st.live,
    )
    out = {}
    for row, score in found:
        v = st.video_of(row)
        out[(v.vid, row - v.lo)] = score
    return out


def test_incremental_state_matches_a_fresh_searcher(tmp_path, monkeypatch):
    """Videos arriving one by one (keyword parts kept apart, merged, compacted) and leaving
    (removed rows hidden) score every clip as a Searcher that loads them all at once does."""
    monkeypatch.setattr(library_mod, "RECENT_MAX", 2)
    settings, library, searcher = make(tmp_path, text=HashEmbedder())
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(60)]
    seen_recent = False
    for v in range(9):
        texts = [" ".join(rng.choice(words, 5)) for _ in range(6)]
        add_video(library, f"v{v}", texts, settings.index)
        searcher.warm_up()
        seen_recent |= bool(searcher.watcher.state.recent)
        if v in (4, 7):
            library.delete(f"v{v - 2}")
    searcher.warm_up()
    assert seen_recent  # parts were searched apart from the main one at some point
    fresh = Searcher(library, FakeExtractors(text=HashEmbedder()), settings)
    fresh.search("w1")
    for q in ["w1 w2", "w3", "w10 w11 w12", "w7 gate"]:
        got, want = keyword_scores(searcher, q), keyword_scores(fresh, q)
        assert got.keys() == want.keys() and got
        assert [got[k] for k in want] == pytest.approx([want[k] for k in want])
        dense = [
            {(h.video_id, h.clip_index) for h in s.search(q, top_k=20)} for s in (searcher, fresh)
        ]
        assert len(dense[0] & dense[1]) >= 15  # fused: identical up to the order of ties


def test_unchanged_library_is_not_listed_again(lib, monkeypatch):
    settings, library, searcher = lib
    monkeypatch.setattr(refresh_mod, "SETTLE_NS", 0)  # treat the folder's mtime as settled at once
    searcher.search("gate")
    calls = []
    real_scan = refresh_mod.scan_library
    monkeypatch.setattr(
        refresh_mod, "scan_library", lambda root: calls.append(1) or real_scan(root)
    )
    searcher.search("gate")
    assert calls == []  # one stat of the folder sufficed
    time.sleep(0.05)  # past the folder's mtime clock tick
    add_video(library, "vidz", ["a zeppelin"], settings.index)
    searcher.warm_up()
    assert top(searcher.search("zeppelin")) == ("vidz", 0)
    assert calls == [1]


def test_empty_library(tmp_path):
    _, _, searcher = make(tmp_path, text=HashEmbedder())
    assert searcher.search("anything") == []


def test_several_text_vectors_per_clip_find_a_short_label(tmp_path):
    """A clip's objects embedded apart from its long transcript: a query about the objects
    reaches the clip through that vector even when the whole-clip vector is far away."""
    settings, library, searcher = make(tmp_path, text=HashEmbedder())
    emb = HashEmbedder()
    talk = " ".join(f"word{i}" for i in range(60))  # a long transcript, unrelated to fruit
    clips = clip_docs([talk, talk + " again", "someone makes coffee"])
    texts = [clips[0].text(), clips[1].text(), "objects: 6 orange", clips[2].text()]
    owners = np.array([0, 1, 1, 2])
    store = library.store("vidf")
    store.write_json("video.json", {"id": "vidf"})
    write_video_index(
        store,
        clips,
        emb.embed(texts),
        None,
        None,
        settings.index,
        {"text_model": emb.model},
        text_clip=owners,
    )
    hits = searcher.search("zzz orange", top_k=1)  # "zzz": no keyword match helps
    assert top(hits) == ("vidf", 1)
    with pytest.raises(ValueError):
        write_video_index(
            store, clips, emb.embed(texts), None, None, settings.index, {}, text_clip=owners[:3]
        )


# --- recognition errors, labels, weights ---------------------------------------------------------
def test_misheard_name_is_found_by_its_subword_forms(tmp_path):
    talk = [
        *FILLER[:5],
        "our guest today is Kalski from Saskatchewan",  # the ASR's hearing of "Kowalski"
        *FILLER[5:9],
    ]
    settings, library, searcher = make(tmp_path)  # keyword rankings only
    add_video(library, "talk", talk, settings.index)
    assert top(searcher.search("Kowalski")) == ("talk", 5)
    off = IndexSettings(weight_subword=0.0)
    _, _, words_only = make(tmp_path, index=off)
    assert words_only.search("Kowalski") == []


def test_words_about_the_asking_count_less_than_the_content(tmp_path):
    talk = [
        *FILLER[:4],
        "Saying the sentences of the reader",  # a slide: it says how, not what
        *FILLER[4:8],
        "so amiable a man she could become",
        *FILLER[8:10],
    ]
    settings, library, searcher = make(tmp_path)  # keyword rankings only
    add_video(library, "talk", talk, settings.index)
    # "reader" and "say" match the slide word for word; "become" is what the question is about
    assert top(searcher.search("What does the reader say he might have become?")) == ("talk", 9)


def objects_video(library: Library, settings: Settings, vid: str, objects: list[str]) -> None:
    clips = clip_docs([f"uneventful talk number {i}" for i in range(len(objects))])
    for c, line in zip(clips, objects, strict=True):
        c.evidence[0].text = line  # the objects line the detector wrote
    store = library.store(vid)
    store.write_json("video.json", {"id": vid})
    write_video_index(store, clips, None, None, None, settings.index, {})


def test_descriptive_words_reach_detector_labels_through_the_embedder(tmp_path):
    index = IndexSettings(weight_text=0.0)  # no dense ranking: only the label mapping can help
    settings, library, searcher = make(tmp_path, index=index, text=HashEmbedder())
    objects_video(library, settings, "street", ["2 person (left)", "1 car (center)", "1 dog"])
    assert searcher.watcher.state.labels == frozenset() and top(searcher.search("automobile")) == (
        "street",
        1,
    )
    assert searcher.watcher.state.labels == {"person", "car", "dog"}
    off = IndexSettings(weight_text=0.0, label_mapping=False)
    _, _, unmapped = make(tmp_path, index=off, text=HashEmbedder())
    assert unmapped.search("automobile") == []


def test_fusion_weights_are_settings(lib):
    settings, library, _ = lib
    # "feline" shares no word with any clip: only the dense ranking finds the kitten
    dense_off = Searcher(
        library,
        FakeExtractors(text=HashEmbedder()),
        Settings(data_dir=settings.data_dir, index=IndexSettings(weight_text=0.0)),
    )
    assert dense_off.search("feline") == []
    keyword_off = Searcher(
        library,
        FakeExtractors(text=HashEmbedder()),
        Settings(
            data_dir=settings.data_dir,
            index=IndexSettings(weight_keyword=0.0, weight_subword=0.0),
        ),
    )
    assert top(keyword_off.search("feline")) == ("vidc", 0)


def test_default_fusion_keeps_a_first_place_over_two_twentieth_places():
    cfg = IndexSettings()
    filler = [f"f{i}" for i in range(19)]
    keyword = ["kw-first", *filler]
    dense = [*filler, "both-20th"]
    fused = reciprocal_rank_fusion(
        [keyword, dense, dense],
        k=cfg.rrf_k,
        weights=[cfg.weight_keyword, cfg.weight_text, cfg.weight_frames],
    )
    ranked = [key for key, _ in fused]
    assert ranked.index("kw-first") < ranked.index("both-20th")


def test_matching_first_keeps_each_modality_in_its_recorded_order() -> None:
    from indexer.search.hits import matching_first
    from indexer.search.tokens import tokenize
    from indexer.types import Evidence

    lines = [("objects", "1 person"), ("ocr", "MENU"), ("ocr", "TEA 2.50"), ("ocr", "COFFEE 3")]
    ev = [Evidence(modality=m, text=t, start_s=0, end_s=1) for m, t in lines]
    out = [e.text for e in matching_first(ev, set(tokenize("a coffee")))]
    assert out == ["MENU", "TEA 2.50", "COFFEE 3", "1 person"]
