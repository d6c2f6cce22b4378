"""`VIDRAG_REQUIRE`: a capability that is off is normally skipped (the video is indexed without
it); a required one fails the video with `model_unavailable` and the reason, and the same video
indexes once the model works. The service-level version (a real worker, then `reindex`) is in
tests/service/test_lifecycle_workers.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.errors import ModelUnavailable
from indexer.pipeline import Indexer
from indexer.settings import Settings
from indexer.store import Library
from tests import synth
from tests.conftest import offline_settings


def _broken_whisper(root: Path) -> Path:
    """A directory that looks like a CTranslate2 model and is not one."""
    root.mkdir()
    (root / "model.bin").write_bytes(b"not a model")
    (root / "config.json").write_text("{}")
    return root


def test_require_reads_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDRAG_REQUIRE", "asr, text")
    assert Settings().require == ["asr", "text"]
    monkeypatch.setenv("VIDRAG_REQUIRE", "asr,teleport")
    with pytest.raises(ValueError, match="teleport"):
        Settings()


def test_a_broken_model_switches_its_capability_off_unless_required(tmp_path: Path) -> None:
    video = synth.small_video()
    broken = _broken_whisper(tmp_path / "whisper")
    asr = {"backend": "faster-whisper", "model": str(broken)}
    lenient = offline_settings(tmp_path / "a", asr=asr, frames={"backend": "none"})
    indexer = Indexer(lenient)
    library = Library(lenient.videos_dir)
    m = indexer.run(library.store(indexer.accept(video, library, move=False).id))
    assert not m.capabilities["asr"].ok
    assert "could not load" in m.capabilities["asr"].reason
    assert m.clip_count > 0 and m.capabilities["ocr"].ok

    strict = offline_settings(
        tmp_path / "b", asr=asr, frames={"backend": "none"}, require=["asr", "text"]
    )
    indexer = Indexer(strict)
    library = Library(strict.videos_dir)
    store = library.store(indexer.accept(video, library, move=False).id)
    with pytest.raises(ModelUnavailable, match=r"asr is required .* could not load"):
        indexer.run(store)
    assert not store.part(0).stage_done("speech")  # nothing recorded as done without speech

    # the model works again (a new process, as after installing it): the same video indexes
    fixed = offline_settings(tmp_path / "b", frames={"backend": "none"}, require=["asr", "text"])
    m = Indexer(fixed).run(store)
    assert m.capabilities["asr"].ok and m.counts["words"] > 0
