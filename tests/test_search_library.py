"""The Searcher's failure unit is one video, and a refresh never holds searches up: a library with
a broken index still answers from the rest; searches go on while a refresh is in progress; a
video named by a search is waited for while it loads, then reported as loading."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.retrieval import retrieve, search_states
from indexer.errors import VideoNotReady
from indexer.search.library import StateBuilder
from indexer.settings import IndexSettings
from indexer.store import Library
from tests.index_helpers import HashEmbedder, add_video
from tests.test_retrieve import VIDEO_A, VIDEO_B, VIDEO_C, make, top

IDS = ["vida", "vidb", "vidc"]


def truncate_npz(root: Path) -> None:
    npz = root / "index.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])


def garbage_clips(root: Path) -> None:
    (root / "clips.bin").write_bytes(b"\x00not zlib at all" * 64)


def broken_meta(root: Path) -> None:
    (root.parent / "meta.json").write_text('{"version": ', encoding="utf-8")


def version_dir(library: Library, vid: str) -> Path:
    index = library.store(vid).path("index")
    return next(p for p in index.iterdir() if p.is_dir())


@pytest.fixture(params=[truncate_npz, garbage_clips, broken_meta])
def broken_lib(request, tmp_path):
    settings, library, searcher = make(tmp_path, text=HashEmbedder())
    for vid, texts in zip(IDS, (VIDEO_A, VIDEO_B, VIDEO_C), strict=True):
        add_video(library, vid, texts, settings.index)
    request.param(version_dir(library, "vidb"))  # vidb's index is damaged on disk
    return settings, library, searcher


def test_a_broken_index_fails_its_video_only(broken_lib):
    _, _, searcher = broken_lib
    result = searcher.search_result("A-113 kitten", IDS, top_k=10, skip_unavailable=True)
    assert {h.video_id for h in result.hits} == {"vida", "vidc"}
    assert top(result.hits) in (("vida", 4), ("vidc", 0))
    assert "could not be loaded" in result.unavailable["vidb"]
    state = searcher.video_states()["vidb"]
    assert state.state == "failed" and state.reason
    assert searcher.video_states()["vida"].state == "loaded"
    with pytest.raises(VideoNotReady, match="could not be loaded"):
        searcher.search("A-113", ["vidb"])  # naming it is an error that says why
    assert top(searcher.search("A-113")) == ("vida", 4)  # everything loaded: the other two


def test_library_search_through_the_gateway_skips_the_broken_video(broken_lib):
    settings, _, searcher = broken_lib
    catalog = SimpleNamespace(ids_with_status=lambda *statuses, tenant=None: list(IDS))
    services = SimpleNamespace(settings=settings, catalog=catalog, searcher=searcher)
    hits = retrieve(services, "kitten", None, 5)  # type: ignore[arg-type]
    assert top(hits) == ("vidc", 0)
    assert search_states(services)["vidb"]["state"] == "failed"  # type: ignore[arg-type]


def test_a_repaired_index_is_loaded_again(broken_lib):
    settings, library, searcher = broken_lib
    searcher.warm_up()
    assert searcher.video_states()["vidb"].state == "failed"
    add_video(library, "vidb", VIDEO_B, settings.index)  # re-indexed: a new meta.json
    assert top(searcher.search("Maria Gonzalez", ["vidb"])) == ("vidb", 4)


class BlockedRefresh:
    """Makes the next refreshes stop inside StateBuilder.prepare until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        real = StateBuilder.prepare

        def prepare(builder, *args, **kwargs):
            self.entered.set()
            self.release.wait(timeout=60)
            return real(builder, *args, **kwargs)

        monkeypatch.setattr(StateBuilder, "prepare", prepare)


def test_searches_go_on_while_a_refresh_is_in_progress(tmp_path, monkeypatch):
    settings, library, searcher = make(tmp_path, text=HashEmbedder())
    for vid, texts in zip(IDS, (VIDEO_A, VIDEO_B, VIDEO_C), strict=True):
        add_video(library, vid, texts, settings.index)
    searcher.warm_up()
    blocked = BlockedRefresh(monkeypatch)
    add_video(library, "late", ["a late arrival about zeppelins"], settings.index)
    searcher.search("gate")  # notices the change: the refresh starts and stops in prepare
    assert blocked.entered.wait(timeout=30)
    done = []
    for i in range(40):  # every search answers from the current state, none waits for it
        assert top(searcher.search("A-113" if i % 2 else "Maria code B-7")) in (
            ("vida", 4),
            ("vidb", 4),
        )
        done.append(i)
    assert len(done) == 40 and not blocked.release.is_set()  # all while the refresh was held
    assert searcher.video_states()["late"].state == "loading"
    blocked.release.set()
    assert top(searcher.search("zeppelins", [*IDS, "late"])) == ("late", 0)


def test_a_named_video_still_loading_is_reported_as_loading(tmp_path, monkeypatch):
    index = IndexSettings(load_wait_s=0.2)
    settings, library, searcher = make(tmp_path, index=index, text=HashEmbedder())
    add_video(library, "vida", VIDEO_A, settings.index)
    assert not searcher.loaded
    searcher.warm_up()
    assert searcher.loaded  # readiness: the first load is done
    blocked = BlockedRefresh(monkeypatch)
    add_video(library, "late", ["a late arrival about zeppelins"], settings.index)
    with pytest.raises(VideoNotReady, match="still loading"):
        searcher.search("zeppelins", ["vida", "late"])
    result = searcher.search_result("A-113", ["vida", "late"], skip_unavailable=True)
    assert top(result.hits) == ("vida", 4) and "still loading" in result.unavailable["late"]
    blocked.release.set()
    searcher.warm_up()
    assert top(searcher.search("zeppelins", ["vida", "late"])) == ("late", 0)


def test_a_few_videos_are_searched_exactly_without_the_library_index(tmp_path, monkeypatch):
    """A search limited to small videos scans their vectors, not the library-wide index."""
    settings, library, searcher = make(tmp_path, text=HashEmbedder())
    for vid, texts in zip(IDS, (VIDEO_A, VIDEO_B, VIDEO_C), strict=True):
        add_video(library, vid, texts, settings.index)
    searcher.warm_up()
    dense = searcher.watcher.state.dense["text"]
    monkeypatch.setattr(type(dense), "search", lambda *a, **k: pytest.fail("library index used"))
    assert top(searcher.search("feline", ["vidc", "vidb"])) == ("vidc", 0)
    assert top(searcher.search("parcel gate", ["vida"])) == ("vida", 4)


def test_rows_of_removed_videos_are_compacted_away(tmp_path):
    settings, library, searcher = make(tmp_path, text=HashEmbedder())
    for v in range(8):
        add_video(
            library,
            f"v{v}",
            [f"clip {i} of video {v} about topic{v}" for i in range(5)],
            settings.index,
        )
    searcher.warm_up()
    assert searcher.watcher.state.next_row == 40
    for v in range(5):
        library.delete(f"v{v}")
    searcher.warm_up()
    st = searcher.watcher.state
    assert (st.next_row, st.n_docs, st.live) == (15, 15, None)  # rows 0..14 again, no mask
    assert [v.lo for v in st.order] == [0, 5, 10]
    assert (
        top(searcher.search("topic6")) == ("v6", 0) or searcher.search("topic6")[0].video_id == "v6"
    )
    assert {h.video_id for h in searcher.search("video", top_k=20)} == {"v5", "v6", "v7"}
    assert searcher.watcher.state.dense["text"].base.ntotal == 15
