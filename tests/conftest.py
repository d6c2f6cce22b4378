"""Shared fixtures: offline settings, a 2-minute needle video made of generated media and indexed
once per session with the real offline models, and model-hub doubles. Test media is built by
the tests (tests/synth.py, tests/haystacks.py); YOLO weights come from tests/weights.py."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from indexer.extractors import hub
from indexer.settings import Settings
from tests.synth import CACHE
from tests.weights import detect_settings, no_yolo_reason, yolo_weights

__all__ = ["CACHE", "detect_settings", "no_yolo_reason", "offline_settings"]
# models assembled from packages (the packaged Whisper base, 145 MB) go into one cache for the
# whole run and the workers it starts, not into every test's data directory
os.environ.setdefault("VIDRAG_MODELS_DIR", str(CACHE / "models"))


def offline_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings that use only what exists on a machine without model-hub access (detection off
    when no YOLO weights can be had)."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "hf_offline": True,
        "detect": detect_settings(),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def haystack():
    """A 2-minute video: generated filler footage and unrelated speech, one needle of each
    kind (speech, text, object)."""
    from tests.haystacks import needle_haystack

    return needle_haystack("needles", 120, seed=1)


@pytest.fixture(scope="session")
def indexed_haystack(haystack, tmp_path_factory):
    """The haystack indexed with the real offline models: (settings, indexer, manifest)."""
    from indexer.pipeline import Indexer
    from indexer.store import Library

    settings = offline_settings(tmp_path_factory.mktemp("library"))
    indexer = Indexer(settings)
    library = Library(settings.videos_dir)
    manifest = indexer.accept(haystack.path, library, move=False)
    manifest = indexer.run(library.store(manifest.id))
    return settings, indexer, manifest


@pytest.fixture(scope="session")
def detectable_kinds() -> set[str]:
    """The needle kinds the offline models can find here: objects only with YOLO weights."""
    return {"speech", "text"} | ({"object"} if yolo_weights() else set())


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
