"""VectorIndex contract (run against every kind it builds), KeywordIndex, and the per-video
index on disk."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest

from indexer.errors import VideoNotReady
from indexer.search import vectors as vectors_mod
from indexer.search import video_index as video_index_mod
from indexer.search.bm25 import bm25_search, bm25_search_covered
from indexer.search.keyword import KeywordIndex
from indexer.search.language import detect_language
from indexer.search.tokens import analyze, raw_tokens, tokenize, unglue
from indexer.search.vectors import FLAT, IVF, IVF_SQ8, VectorIndex
from indexer.search.video_index import CLIP_BLOCK, VideoIndex, write_video_index
from indexer.settings import IndexSettings
from indexer.store import ArtifactStore
from tests.index_helpers import HashEmbedder, clip_docs

SMALL = IndexSettings(flat_max=1000, nprobe=8)
N, D = 3000, 32


def clustered(n: int, d: int = D, seed: int = 0) -> np.ndarray:
    """Unit vectors around 40 centres: the structure real embeddings have and IVF relies on."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, d)).astype(np.float32)
    x = centres[rng.integers(0, 40, n)] + 0.3 * rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact_top(x: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    return ids[np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :k]]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(
        np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, truth, strict=True)])
    )


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = clustered(N)
    ids = np.arange(N, dtype=np.int64) * 7 + 3  # ids are not positions
    rng = np.random.default_rng(1)
    q = x[rng.integers(0, N, 40)] + 0.1 * rng.standard_normal((40, D)).astype(np.float32)
    return x, ids, q / np.linalg.norm(q, axis=1, keepdims=True)


# --- VectorIndex ---------------------------------------------------------------------------------
def test_kind_follows_size(data):
    x, ids, _ = data
    assert VectorIndex.build(x[: SMALL.flat_max], ids[: SMALL.flat_max], SMALL).kind == FLAT
    big = VectorIndex.build(x, ids, SMALL)
    assert big.kind == IVF
    assert big.nlist == min(round(4 * math.sqrt(N)), N // 39)


def test_compressed_above_the_byte_threshold(data, monkeypatch):
    x, ids, _ = data
    monkeypatch.setattr(vectors_mod, "COMPRESS_ABOVE_BYTES", x.nbytes - 1)
    assert VectorIndex.build(x, ids, SMALL).kind == IVF_SQ8


@pytest.fixture(params=[FLAT, IVF, IVF_SQ8])
def built(request, data) -> VectorIndex:
    x, ids, _ = data
    return VectorIndex.build(x, ids, SMALL, kind=request.param)


def test_contract_recall_against_exact(built, data):
    x, ids, q = data
    scores, found = built.search(q, 10)
    assert found.shape == scores.shape == (len(q), 10)
    assert recall(found, exact_top(x, ids, q, 10)) >= 0.9
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    assert set(found.ravel()) <= set(ids.tolist())
    assert (built.ntotal, built.dim) == (N, D)


def test_contract_filter_returns_only_allowed_ids(built, data):
    x, ids, q = data
    allowed = np.zeros(ids.max() + 1, dtype=bool)
    keep = ids[(np.arange(N) % 10) == 0]  # a tenth of the vectors
    allowed[keep] = True
    _, found = built.search(q, 10, allowed=allowed, nprobe=built.nlist)
    assert np.all(allowed[found[found >= 0]])
    truth = exact_top(x[(np.arange(N) % 10) == 0], keep, q, 10)
    assert recall(found, truth) >= 0.9


def test_contract_save_load_round_trip(built, data, tmp_path):
    _, _, q = data
    path = tmp_path / "v.faiss"
    built.save(path)
    again = VectorIndex.load(path, SMALL)
    assert (again.kind, again.ntotal, again.dim, again.nlist) == (
        built.kind,
        built.ntotal,
        built.dim,
        built.nlist,
    )
    np.testing.assert_array_equal(again.search(q, 10)[1], built.search(q, 10)[1])


def test_contract_add_remove_and_vectors(built, data):
    x, ids, q = data
    built.remove_range(0, 7 * 1000)  # ids 3, 10, ... below 7000: the first 1000
    assert built.ntotal == N - 1000
    _, found = built.search(q, 20)
    assert found[found >= 0].min() >= 7000
    built.add(x[:10], np.arange(10) + 10**6)
    assert built.ntotal == N - 990
    vecs, vid = built.vectors()
    order = np.argsort(vid)
    expect = np.concatenate([x[1000:], x[:10]])
    expect_ids = np.concatenate([ids[1000:], np.arange(10) + 10**6])
    np.testing.assert_array_equal(vid[order], np.sort(expect_ids))
    tol = 0.02 if built.kind == IVF_SQ8 else 0.0
    np.testing.assert_allclose(vecs[order], expect[np.argsort(expect_ids)], atol=tol)


def test_contract_fewer_vectors_than_k(built):
    _, found = built.search(clustered(1, seed=5), built.ntotal + 5)
    assert found.shape[1] == built.ntotal  # k is clipped to what exists


def test_empty_flat_and_bad_shapes():
    empty = VectorIndex.build(np.zeros((0, 8), np.float32), np.zeros(0, np.int64), SMALL)
    assert empty.ntotal == 0
    assert empty.search(np.ones((1, 8), np.float32), 5)[1].shape == (1, 0)
    with pytest.raises(ValueError):
        empty.search(np.ones((1, 9), np.float32), 5)
    with pytest.raises(ValueError):
        VectorIndex.build(np.ones((3, 8), np.float32), np.arange(2), SMALL)
    with pytest.raises(ValueError):
        VectorIndex.build(np.zeros((0, 8), np.float32), np.zeros(0), SMALL, kind=IVF)


def test_save_is_atomic(data, tmp_path, monkeypatch):
    x, ids, _ = data
    path = tmp_path / "v.faiss"
    VectorIndex.build(x[:100], ids[:100], SMALL).save(path)
    VectorIndex.build(x[100:300], ids[100:300], SMALL).save(path)  # replace
    assert VectorIndex.load(path).ntotal == 200

    def broken(index, name):
        with open(name, "wb") as f:
            f.write(b"half an index")
        raise RuntimeError("disk full")

    monkeypatch.setattr(vectors_mod.faiss, "write_index", broken)
    with pytest.raises(RuntimeError):
        VectorIndex.build(x[:5], ids[:5], SMALL).save(path)
    monkeypatch.undo()
    assert VectorIndex.load(path).ntotal == 200  # the old index, untouched
    assert [p.name for p in tmp_path.iterdir()] == ["v.faiss"]  # no temp file left


# --- keywords ------------------------------------------------------------------------------------
def test_tokenize_keeps_codes_in_every_spelling():
    toks = tokenize("Door A-113, room 42B; see U.S.A.")
    assert {"door", "a113", "a", "113", "42b", "usa"} <= set(toks)
    assert tokenize("A113") == ["a113"]
    assert "東京" in tokenize("東京タワー")  # no spaces in CJK: bigrams


def bm25_reference(texts: list[str], query: str, k1: float = 1.2, b: float = 0.75) -> list[float]:
    """BM25 computed the textbook way, one document at a time."""
    docs = [Counter(tokenize(t)) for t in texts]
    n = len(docs)
    avg = sum(sum(d.values()) for d in docs) / n
    out = []
    for d in docs:
        dl, s = sum(d.values()), 0.0
        for t in dict.fromkeys(tokenize(query)):
            df = sum(1 for e in docs if t in e)
            if t in d and df:
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                s += idf * d[t] * (k1 + 1) / (d[t] + k1 * (1 - b + b * dl / avg))
        out.append(s)
    return out


TEXTS = [
    "the courier drops parcel A-113 at the north gate",
    "nothing happens here, the gate stays closed",
    "a113 is written on the whiteboard next to Maria",
    "Maria Gonzalez signs the form, code B-7",
    "the the the gate gate",
    "weather is fine today",
]


def test_keyword_finds_exact_codes_and_names():
    kw = KeywordIndex.build(TEXTS, [10, 11, 12, 13, 14, 15])
    assert [i for i, _ in kw.search("A-113", 5)][:2] == [10, 12]  # both spellings, hyphen first
    assert kw.search("b-7", 5)[0][0] == 13
    assert {i for i, _ in kw.search("maria", 5)} == {12, 13}
    assert kw.search("zebra", 5) == []  # only documents with a positive score
    assert all(s > 0 for _, s in kw.search("gate", 10))


def test_keyword_scores_are_bm25():
    kw = KeywordIndex.build(TEXTS, list(range(len(TEXTS))))
    for query in ("gate courier", "maria code", "the gate"):
        ref = bm25_reference(TEXTS, query)
        got = dict(kw.search(query, len(TEXTS)))
        for i, r in enumerate(ref):
            assert got.get(i, 0.0) == pytest.approx(r, rel=1e-5)
        ranked = [i for i, _ in kw.search(query, len(TEXTS))]
        assert ranked == sorted(got, key=lambda i: -got[i])


def test_keyword_filter_save_load_and_merge(tmp_path):
    kw = KeywordIndex.build(TEXTS, list(range(len(TEXTS))))
    allowed = np.array([False, True, False, False, True, False])
    assert {i for i, _ in kw.search("gate", 10, allowed=allowed)} == {1, 4}
    kw.save(tmp_path / "k.npz")
    again = KeywordIndex.load(tmp_path / "k.npz")
    assert again.search("maria a-113", 5) == kw.search("maria a-113", 5)
    # merging parts equals building over everything
    merged = KeywordIndex.merge(
        [
            KeywordIndex.build(TEXTS[:2], [0, 1]).with_ids(np.array([100, 101])),
            KeywordIndex.build(TEXTS[2:], [0, 1, 2, 3]).with_ids(np.array([102, 103, 104, 105])),
        ]
    )
    whole = KeywordIndex.build(TEXTS, [100, 101, 102, 103, 104, 105])
    for query in ("gate", "maria a-113", "the weather"):
        assert_same_hits(merged.search(query, 6), whole.search(query, 6))


def test_keyword_coverage_of_the_best_document():
    """How much of the query the best document holds: all of a name it contains, little of a
    question whose only matched word is a common one (words the library lacks count too)."""
    parts = [KeywordIndex.build(TEXTS, range(6))]
    stats = {"n_docs": 6, "avg_len": float(parts[0].doc_len.mean()), "n_ids": 6}
    found, covered = bm25_search_covered(parts, "maria gonzalez", 6, **stats)
    assert found[0][0] == 3 and covered == pytest.approx(1.0)
    found, covered = bm25_search_covered(parts, "which gate does the zebra guard", 6, **stats)
    assert found[0][0] in (0, 1, 4) and 0.0 < covered < 0.5
    assert bm25_search_covered(parts, "zebra", 6, **stats) == ([], 0.0)
    # bm25_search is the same ranking without the coverage
    assert (
        bm25_search(parts, "maria code", 6, **stats)
        == (bm25_search_covered(parts, "maria code", 6, **stats)[0])
    )


def assert_same_hits(got, want):
    assert [i for i, _ in got] == [i for i, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want])


def test_segments_search_as_one_collection():
    """Parts searched together with shared statistics score like one index over their union;
    `live` hides removed documents from results and from document frequencies alike."""
    parts = [KeywordIndex.build(TEXTS[:3], [0, 1, 2]), KeywordIndex.build(TEXTS[3:], [3, 4, 5])]
    whole = KeywordIndex.build(TEXTS, range(6))
    lens = np.concatenate([p.doc_len for p in parts])
    for query in ("gate", "maria a-113 gate", "the weather"):
        got = bm25_search(parts, query, 6, n_docs=6, avg_len=float(lens.mean()), n_ids=6)
        assert_same_hits(got, whole.search(query, 6))
    live = np.array([True, False, True, True, True, False])  # documents 1 and 5 removed
    kept = [TEXTS[i] for i in (0, 2, 3, 4)]
    alive = KeywordIndex.build(kept, [0, 2, 3, 4])
    for query in ("gate", "weather maria"):
        got = bm25_search(
            parts, query, 6, n_docs=4, avg_len=float(lens[live].mean()), n_ids=6, live=live
        )
        assert_same_hits(got, alive.search(query, 6))
    compacted = KeywordIndex.merge(parts, live=live)
    assert sorted(compacted.ids.tolist()) == [0, 2, 3, 4]
    assert "weather" not in compacted.vocab  # terms left without documents are dropped
    assert_same_hits(compacted.search("gate maria", 6), alive.search("gate maria", 6))


def test_keyword_empty_index(tmp_path):
    kw = KeywordIndex.build([], [])
    assert kw.search("anything", 3) == []
    kw.save(tmp_path / "e.npz")
    assert KeywordIndex.load(tmp_path / "e.npz").search("anything", 3) == []


# --- the per-video index on disk ------------------------------------------------------------------
def write(store: ArtifactStore, texts: list[str], frames: bool = True) -> list:
    clips = clip_docs(texts)
    emb = HashEmbedder()
    fv = fc = None
    if frames:  # two frames per clip
        fc = np.repeat([c.clip.index for c in clips], 2)
        fv = emb.embed([texts[i] for i in fc])
    write_video_index(
        store,
        clips,
        emb.embed([c.text() for c in clips]),
        fv,
        fc,
        SMALL,
        {"text_model": emb.model, "video_id": "v1"},
    )
    return clips


def test_video_index_round_trip(tmp_path):
    store = ArtifactStore(tmp_path / "v1")
    clips = write(store, TEXTS)
    vi = VideoIndex.load(store)
    assert vi.clips == clips
    assert len(vi) == len(TEXTS)
    assert vi.read_clip(3) == clips[3]
    assert vi.meta["clips"] == len(TEXTS) and vi.meta["text_model"] == "hash-64"
    assert vi.meta["text"] == {"dim": 64, "count": len(TEXTS)}
    assert vi.meta["frames"]["count"] == 2 * len(TEXTS)
    assert vi.text is not None and vi.frames is not None
    q = HashEmbedder().embed(["parcel A-113"], query=True)
    assert vi.text.search(q, 1)[1][0, 0] == 0
    assert vi.frames.search(q, 2)[1][0].tolist() == [0, 0]  # both frames of clip 0
    assert vi.text.kind == FLAT
    assert vi.keyword.search("maria", 5)[0][0] in (2, 3)
    np.testing.assert_array_equal(vi.start_s, [c.clip.start_s for c in clips])


def test_clip_blocks_round_trip(tmp_path):
    store = ArtifactStore(tmp_path / "v1")
    texts = [f"clip number {i} mentions item-{i}" for i in range(2 * CLIP_BLOCK + 3)]
    clips = write(store, texts, frames=False)
    vi = VideoIndex.load(store)
    assert vi.clips == clips
    assert [vi.read_clip(i) for i in (0, CLIP_BLOCK - 1, CLIP_BLOCK, len(texts) - 1)] == [
        clips[0],
        clips[CLIP_BLOCK - 1],
        clips[CLIP_BLOCK],
        clips[-1],
    ]


def test_video_without_index_is_not_ready(tmp_path):
    with pytest.raises(VideoNotReady):
        VideoIndex.load(ArtifactStore(tmp_path / "nothing"))


def test_write_rejects_inconsistent_input(tmp_path):
    store = ArtifactStore(tmp_path / "v")
    clips = clip_docs(["a", "b"])
    with pytest.raises(ValueError):
        write_video_index(store, clips, np.ones((3, 4), np.float32), None, None, SMALL, {})
    with pytest.raises(ValueError):  # a frame of an unknown clip
        write_video_index(store, clips, None, np.ones((1, 4), np.float32), np.array([7]), SMALL, {})
    assert not store.exists("index/meta.json")


def test_reindex_replaces_whole_and_keeps_one_previous_version(tmp_path):
    store = ArtifactStore(tmp_path / "v1")
    write(store, TEXTS)
    first = json.loads(store.path("index/meta.json").read_text())["version"]
    (store.path("index") / "v-crashed-half-written").mkdir()  # a killed earlier attempt
    write(store, ["only one clip about zebras"], frames=False)
    vi = VideoIndex.load(store)
    assert len(vi) == 1 and vi.frames is None and vi.meta["frames"] is None
    assert [i for i, _ in vi.keyword.search("zebras", 3)] == [0]
    assert vi.keyword.search("maria", 3) == []  # nothing of the old index mixed in
    dirs = {p.name for p in store.path("index").iterdir() if p.is_dir()}
    assert dirs == {first, vi.meta["version"]}  # the previous stays for readers in flight
    write(store, ["third"], frames=False)
    dirs = {p.name for p in store.path("index").iterdir() if p.is_dir()}
    assert first not in dirs and len(dirs) == 2


def test_incomplete_write_is_invisible(tmp_path, monkeypatch):
    store = ArtifactStore(tmp_path / "v1")
    write(store, TEXTS)
    before = VideoIndex.load(store).meta["version"]

    def crash(*a, **k):
        raise OSError("killed")

    monkeypatch.setattr(video_index_mod, "_pack_clips", crash)
    with pytest.raises(OSError):
        write(store, ["new content"])
    monkeypatch.undo()
    vi = VideoIndex.load(store)
    assert vi.meta["version"] == before and len(vi) == len(TEXTS)


@pytest.mark.gpu
@pytest.mark.parametrize("kind", [FLAT, IVF])
def test_gpu_search_matches_cpu(data, kind):
    """On a GPU host the index's GPU copy answers as the CPU index does; elsewhere the same
    setting falls back to the CPU index (a GPU setting must not break a CPU-only worker)."""
    x, ids, q = data
    cpu = VectorIndex.build(x, ids, SMALL, kind=kind)
    gpu = VectorIndex.build(x, ids, SMALL.model_copy(update={"use_gpu": True}), kind=kind)
    assert gpu._use_gpu == (vectors_mod.faiss.get_num_gpus() > 0)
    assert recall(gpu.search(q, 10)[1], cpu.search(q, 10)[1]) >= 0.95
    gpu.remove_range(0, 7 * 1000)  # updates go to the CPU copy, then a fresh clone
    assert gpu.search(q, 20)[1].min() >= 7000


def test_words_glued_by_ocr_are_found():
    """OCR often drops the spaces of Latin text ("NOLITTER"); questions never glue words."""
    kw = KeywordIndex.build(
        ["@港区MINATO CITY NOLITTER", "Reduceyourriskofcoronavirusinfection"], [0, 1]
    )
    assert kw.search("no litter sign", 2)[0][0] == 0
    assert kw.search("coronavirus", 2)[0][0] == 1
    assert "dashwood" in tokenize("mister dashwood") and "dash" not in tokenize("dashwood")
    assert unglue("NOLITTER here") == "no litter here"


# --- languages, scripts, sub-word forms -----------------------------------------------------------
def test_language_detection_by_script_and_common_words():
    assert detect_language("the trains are leaving from the station at noon") == "en"
    assert detect_language("Les trains partent de la gare du Nord, nous sommes en retard") == "fr"
    assert detect_language("Die Strassenbahn fährt heute nicht, wir nehmen den Bus") == "de"
    assert detect_language("東京タワー") == "ja" and detect_language("愚园路") == "zh"
    assert detect_language("ถนนสุขุมวิท") == "th"
    assert detect_language("GATE A34") == "und"  # too short to tell: treated as English


def test_other_languages_are_not_cut_by_english_rules():
    german = analyze("Die Strassenbahn fährt heute nicht zum Hauptbahnhof, wir nehmen den Bus")
    assert german.language == "de"
    assert "strassenbahn" in german.words and "bahn" not in german.words  # no English splitting
    assert "fahrt" in german.words  # German stem, accent folded
    english = analyze("the trains are leaving the station")
    assert "leav" in english.words  # English stems for English
    french = KeywordIndex.build(["les trains partent de la gare du nord ce soir"], [0])
    assert french.search("gare du nord", 1)[0][0] == 0
    assert "nolitter" in raw_tokens("NOLITTER") and unglue("Strassenbahnhof ist zu") == (
        "Strassenbahnhof ist zu"
    )


def test_unsegmented_scripts_yield_characters_and_bigrams():
    assert {"東京", "京タ"} <= set(tokenize("東京タワー"))
    thai = tokenize("ถนนสุขุมวิท")
    assert "สุ" in thai and "ุ" not in thai  # vowel signs stay on their consonant
    kw = KeywordIndex.build(["ถนนสุขุมวิท ปิด", "愚园路 Yuyuan Rd.", "nothing here"], [0, 1, 2])
    assert kw.search("สุขุมวิท", 3)[0][0] == 0
    assert kw.search("愚园", 3)[0][0] == 1


def test_subword_forms_are_terms_but_not_length():
    a = analyze("Kowalski ordered the accordions")
    assert "#kow" in a.subwords and "#<ac" in a.subwords
    assert not any(s.startswith("#") for s in a.words)
    assert not [s for s in a.subwords if "the" in s]  # common words have none
    kw = KeywordIndex.build(["Kowalski ordered the accordions"], [0])
    assert kw.doc_len.tolist() == [len(a.words)]  # BM25 length counts words only


def test_alternatives_count_a_document_once_at_its_best():
    kw = KeywordIndex.build(["a car parks", "a car and an automobile", "a bus"], [0, 1, 2])
    one = dict(kw.search([(("car", 1.0),)], 3))
    both = dict(kw.search([(("car", 1.0), ("automobil", 1.0))], 3))
    assert both[0] == pytest.approx(one[0])
    auto = dict(kw.search([(("automobil", 1.0),)], 3))
    assert both[1] == pytest.approx(max(one[1], auto[1]))  # the best alternative, not the sum
    half = dict(kw.search([(("car", 0.5),)], 3))
    assert half[0] == pytest.approx(one[0] / 2)
