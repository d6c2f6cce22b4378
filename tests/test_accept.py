"""Issue 2, must-hold 2 at the library level: `Indexer.accept` rejects bad media with the
specific error and leaves nothing half-written; good media is placed once (content-addressed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer import errors
from indexer.pipeline import Indexer
from indexer.settings import MediaSettings, Settings
from indexer.store import Library
from tests.test_media import bad, samples, strip  # noqa: F401  (session fixtures of real media)

CASES = [
    ("empty.mp4", errors.EmptyFile),
    ("random.mp4", errors.NotAVideo),
    ("text.mp4", errors.NotAVideo),
    ("trunc.mp4", errors.CorruptMedia),
    ("speech.m4a", errors.NoVideoStream),
    ("photo.png", errors.NoVideoStream),
]


def _everything(root: Path) -> list[Path]:
    return sorted(root.rglob("*")) if root.exists() else []


@pytest.mark.parametrize(("name", "error"), CASES)
def test_bad_media_leaves_nothing_behind(tmp_path, bad, name, error):  # noqa: F811
    settings = Settings(data_dir=tmp_path / "data")
    library = Library(settings.videos_dir)
    upload = tmp_path / name
    upload.write_bytes((bad / name).read_bytes())
    with pytest.raises(error):
        Indexer(settings).accept(upload, library, move=True)
    assert _everything(library.root) == []
    assert upload.exists()  # the caller decides what happens to a rejected upload


def test_limits_are_enforced_before_anything_is_written(tmp_path, strip):  # noqa: F811
    settings = Settings(data_dir=tmp_path, media=MediaSettings(max_duration_s=1.0))
    with pytest.raises(errors.MediaTooLong):
        Indexer(settings).accept(strip, Library(settings.videos_dir), move=False)
    assert _everything(settings.videos_dir) == []


def test_same_bytes_are_placed_once(tmp_path, strip):  # noqa: F811
    settings = Settings(data_dir=tmp_path)
    library = Library(settings.videos_dir)
    indexer = Indexer(settings)
    first = indexer.accept(strip, library, title="Lecture", move=False)
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(strip.read_bytes())
    again = indexer.accept(copy, library, title="Other title", move=True)
    assert again.id == first.id and again.title == "Lecture"
    assert not copy.exists()  # a moved duplicate is consumed, not kept twice
    assert library.ids() == [first.id]
    assert sorted(p.name for p in library.store(first.id).root.iterdir()) == [
        "source.mp4",
        "video.json",
    ]
    assert not [p for p in library.root.iterdir() if p.name.startswith(".")]
