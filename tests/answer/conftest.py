"""Fixtures of the answering tests (the doubles themselves live in `fakes.py`)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.store import Library
from indexer.types import Hit
from tests.answer.fakes import FakeVLLM, make_hit, write_frame
from tests.answer.llama import LlamaServer


@pytest.fixture(scope="session")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """A real llama.cpp server (SmolLM2-135M, n_ctx 2048) shared by the tests of a session."""
    server = LlamaServer(tmp_path_factory.mktemp("llama")).start()
    yield server
    server.stop()


@pytest.fixture
def fake_vllm() -> Iterator[FakeVLLM]:
    server = FakeVLLM()
    yield server
    server.close()


@pytest.fixture
def fake_vllm2() -> Iterator[FakeVLLM]:
    server = FakeVLLM()
    yield server
    server.close()


@pytest.fixture
def dead_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def library(tmp_path: Path) -> Library:
    """Two videos: `aaaa` (clips at 10–20 s and 750.4–760.6 s) and `bbbb` (clip at 10–20 s),
    each clip with 4 frames of 640x360."""
    lib = Library(tmp_path / "videos")
    for vid, starts in (("aaaa", (10, 750)), ("bbbb", (10,))):
        for s in starts:
            for k in range(4):
                write_frame(
                    lib.store(vid).root / "frames" / f"{s + 2 * k:06d}.jpg",
                    (40 * k, 80, 120),
                    f"{vid} {s + 2 * k}",
                )
    return lib


@pytest.fixture
def hits() -> list[Hit]:
    """Three hits in rank order: aaaa's late clip, bbbb's clip, aaaa's early clip."""
    return [
        make_hit(
            "aaaa",
            75,
            750.4,
            760.6,
            0.9,
            speech="the launch code is seven four two",
            ocr="CODE 742",
            objects="1 person, 1 laptop",
        ),
        make_hit("bbbb", 1, 10.0, 20.0, 0.7, speech="welcome to the budget meeting"),
        make_hit("aaaa", 1, 10.0, 20.0, 0.5, ocr="EXIT 12"),
    ]
