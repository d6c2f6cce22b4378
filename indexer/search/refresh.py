"""Keeping the Searcher's view of the library current without making searches wait.

Each search asks `LibraryWatcher.notice`: one stat of the videos folder (whose mtime moves when
a video folder comes or goes and when `write_video_index` finishes) says whether anything
changed; if so a background thread lists the library (one stat of `index/meta.json` per video),
loads what is new beside the live state and swaps the new state in with one assignment, first
with the new videos merely added (milliseconds per video), then again after any merge or
retraining the change calls for. Searches read whichever state is current and never wait for a
refresh, except for a video they name that is still being loaded (at most `wait_s`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from indexer.search.library import LibraryState, Stamp, StateBuilder, folder_mtime, scan_library
from indexer.settings import IndexSettings
from indexer.store import Library

log = logging.getLogger(__name__)
SETTLE_NS = 2_000_000_000  # a folder mtime this recent may still move within its clock tick
Keys = dict[str, tuple[str, int] | None]  # per dense modality: (model, dim) wanted, or None


@dataclass(frozen=True)
class VideoSearchState:
    """Whether a video on disk can be searched: "loaded", "loading" or "failed" (with why)."""

    state: str
    reason: str = ""


class LibraryWatcher:
    """Owns the current LibraryState and refreshes it in the background."""

    def __init__(
        self, library: Library, settings: IndexSettings, cache: Path | None = None
    ) -> None:
        self.library = library
        self._builder = StateBuilder(library, settings, cache)
        self.state = LibraryState()  # replaced whole, never changed: readers need no lock
        self._keys: Keys = {}
        self._wanted: Keys = {}
        self._seen_mtime: int | None = None  # of the videos folder, once settled and applied
        self._scan: dict[str, Stamp] = {}
        self._cond = threading.Condition()  # guards the fields below; notified on each swap
        self._running = False
        self._again = False
        self.loaded = False  # the first full load has been applied
        self.refreshes = 0  # states swapped in so far

    # --- what searches call --------------------------------------------------------------------
    def notice(self, keys: Keys) -> None:
        """Start a background refresh when the library or the wanted models changed."""
        unchanged = (
            self._seen_mtime is not None and folder_mtime(self.library.root) == self._seen_mtime
        )
        if unchanged and keys == self._keys and self.loaded:
            return
        with self._cond:
            self._wanted = keys
            if self._running:
                self._again = True
                return
            self._running = True
        threading.Thread(target=self._run, name="library-refresh", daemon=True).start()

    def refresh_now(self, keys: Keys) -> None:
        """Refresh in this thread and return when the state is current (start-up, tests)."""
        self.notice(keys)
        with self._cond:
            self._cond.wait_for(lambda: not self._running)

    def pending(self, video_ids: list[str]) -> list[str]:
        """The named videos whose index on disk is not what the current state holds (new,
        re-indexed, or repaired after failing), by one stat each."""
        st, out = self.state, []
        for vid in video_ids:
            stamp = self.stamp(vid)
            v = st.videos.get(vid)
            held = v.stamp if v is not None else st.failed.get(vid, (None, ""))[0]
            if stamp is not None and stamp != held:
                out.append(vid)
        return out

    def wait_for(self, video_ids: list[str], timeout_s: float) -> None:
        """Wait until none of `video_ids` is pending or no refresh is running, at most
        `timeout_s` (a refresh for them must have been noticed first)."""
        with self._cond:
            self._cond.wait_for(
                lambda: not self._running or not self.pending(video_ids), timeout=timeout_s
            )

    def wait_loaded(self, timeout_s: float | None) -> bool:
        """Wait for the first full load, at most `timeout_s` (None: however long it takes);
        whether it is done."""
        with self._cond:
            return self._cond.wait_for(lambda: self.loaded, timeout=timeout_s)

    def video_states(self) -> dict[str, VideoSearchState]:
        """Every video with an index on disk (as last listed) and whether it can be searched."""
        st, out = self.state, {}
        for vid in sorted(set(self._scan) | set(st.videos) | set(st.failed)):
            if vid in st.failed:
                out[vid] = VideoSearchState("failed", st.failed[vid][1])
            elif vid in st.videos:
                out[vid] = VideoSearchState("loaded")
            else:
                out[vid] = VideoSearchState("loading")
        return out

    def on_disk(self, vid: str) -> bool:
        """Whether the video has a complete index (a meta.json), by one stat."""
        return self.stamp(vid) is not None

    def stamp(self, vid: str) -> Stamp | None:
        """The stamp of the video's index/meta.json; None when it has none."""
        try:
            s = os.stat(self.library.store(vid).path("index") / "meta.json")
        except (OSError, ValueError):  # none yet, or not a valid id
            return None
        return (s.st_ino, s.st_mtime_ns)

    # --- the refresh thread ----------------------------------------------------------------------
    def _run(self) -> None:
        finished = False
        try:
            while not finished:
                with self._cond:
                    keys, self._again = self._wanted, False
                try:
                    self._refresh(keys)
                except Exception:  # a bug here must not stop later refreshes
                    log.exception("library refresh failed")
                with self._cond:  # checked and cleared together: no change noticed is lost
                    if not self._again:
                        self.loaded, self._running, finished = True, False, True
                        self._cond.notify_all()
        finally:
            if not finished:  # died: let the next search start another
                with self._cond:
                    self._running = False
                    self._cond.notify_all()

    def _refresh(self, keys: Keys) -> None:
        mtime = folder_mtime(self.library.root)  # before the listing: a later change moves it
        scan = scan_library(self.library.root)
        self._scan = scan
        if not self._current(scan) or keys != self._keys:
            # new videos first, merely added: searchable in milliseconds
            fast, _ = self._builder.prepare(self.state, scan, keys, rebuild=False)
            self._swap(fast)
            # then whatever merge or retraining that calls for, built aside
            full, rebuilt = self._builder.prepare(fast, scan, keys, rebuild=True)
            self._swap(full)
            self._keys = keys
            st = self.state
            log.info("library index: %d videos, %d clips", len(st.videos), st.n_docs)
            if rebuilt:
                del fast, full
                _release_free_memory()
        settled = time.time_ns() - mtime > SETTLE_NS
        self._seen_mtime = mtime if settled and mtime >= 0 else None

    def _swap(self, st: LibraryState) -> None:
        with self._cond:
            self.state = st
            self.refreshes += 1
            self._cond.notify_all()

    def _current(self, scan: dict[str, Stamp]) -> bool:
        st = self.state
        if len(scan) != len(st.videos) + len(st.failed):
            return False
        return all(
            ((v := st.videos.get(vid)) is not None and v.stamp == s)
            or (vid in st.failed and st.failed[vid][0] == s)
            for vid, s in scan.items()
        )


def _release_free_memory() -> None:
    """Hand the heap freed by a rebuild back to the system. glibc keeps it otherwise (building
    the 1,000-hour library index left ~700 MB freed but resident); elsewhere a no-op."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
