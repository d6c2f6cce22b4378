"""Shared fixtures: paths to the shared test media and models, offline settings, and a real
3-minute needle video indexed once per session with the real offline models."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from indexer.extractors import hub
from indexer.settings import DetectSettings, Settings

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIDRAG_SHARED_DIR", REPO.parent / "shared"))
TESTDATA = SHARED / "testdata"
YOLO_WEIGHTS = SHARED / "models" / "yolo11n" / "yolo11n_ovint8_rebuilt.pt"
# built videos survive between runs (they take ~30 s each to encode); keyed by their arguments
CACHE = Path(os.environ.get("VIDRAG_TEST_CACHE", Path.home() / ".cache" / "vidrag-tests"))


def offline_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings that use only what exists on a machine without model-hub access."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "hf_offline": True,
        "detect": DetectSettings(model=str(YOLO_WEIGHTS)),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def testdata() -> Path:
    assert TESTDATA.is_dir(), f"shared test media not found at {TESTDATA}"
    return TESTDATA


@pytest.fixture(scope="session")
def haystack3(testdata: Path):
    """A 3-minute video: filler footage and unrelated speech, one needle of each kind."""
    from bench.haystack import build_haystack

    return build_haystack(CACHE / "haystack-3min-seed1.mp4", 180, seed=1, testdata=testdata)


@pytest.fixture(scope="session")
def indexed_haystack(haystack3, tmp_path_factory):
    """The 3-minute haystack indexed with the real offline models: (settings, manifest)."""
    from indexer.pipeline import Indexer
    from indexer.store import Library

    settings = offline_settings(tmp_path_factory.mktemp("library"))
    indexer = Indexer(settings)
    library = Library(settings.videos_dir)
    manifest = indexer.accept(haystack3.path, library, move=False)
    manifest = indexer.run(library.store(manifest.id))
    return settings, indexer, manifest


# --- model hubs, for the backends' availability checks ----------------------------------------


@pytest.fixture
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from huggingface_hub import constants

    cache = tmp_path / "hf"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture
def dead_hub(monkeypatch: pytest.MonkeyPatch):
    """A hub endpoint that accepts connections and never answers."""
    from huggingface_hub import constants

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{sock.getsockname()[1]}")
    monkeypatch.setattr(hub, "HUB_TIMEOUT_S", 0.5)
    yield
    sock.close()
