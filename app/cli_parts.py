"""`vidrag index`'s parallel parts: a pool of processes, each with its own models (loaded once),
indexing one part at a time and sending its progress back to the main process over a queue —
the main process is the one that writes the catalog and draws the bars.

This module is what each pool process imports first, so it imports nothing heavy at module level
(thread limits must be in the environment before a model library loads)."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import sys
from multiprocessing.pool import Pool
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

# (part, stage, fraction of that stage) as the pool processes report it
PartEvent = tuple[int, str, float]

_indexer: Any = None
_events: Queue[PartEvent] | None = None


def _init_process(settings_json: str, events: Queue[PartEvent]) -> None:
    # Ctrl-C reaches the whole process group: only the main process handles it (it stops the
    # pool), so the parts do not each print a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        # a killed `vidrag index` takes its parts with it, instead of leaving them running
        # beside the run that resumes it
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        # a spawned process inherits "spawn" as its default, so the locks a library makes in it
        # (tqdm's, for one) are named semaphores left for the resource tracker to clean up when
        # the pool is stopped; with Linux's usual default they are unlinked at once
        mp.set_start_method("fork", force=True)
    from app.settings import AppSettings
    from indexer.pipeline import Indexer

    global _indexer, _events
    _indexer = Indexer(AppSettings.model_validate_json(settings_json))
    _events = events


def _run_part(root: str, k: int) -> int:
    from indexer.store import ArtifactStore

    def progress(stage: str, fraction: float) -> None:
        assert _events is not None
        _events.put((k, stage, fraction))

    _indexer.run_part(ArtifactStore(Path(root)), k, progress)
    return k


def start_pool(processes: int, settings_json: str) -> tuple[Pool, Queue[PartEvent]]:
    """A pool of `processes` spawned processes that share the cores between them, and the queue
    their progress comes back on."""
    ctx = mp.get_context("spawn")  # fresh processes: no forked model or database state
    events: Queue[PartEvent] = ctx.Queue()
    threads = str(max(1, (os.cpu_count() or 1) // processes))
    # set while the processes start, so they inherit it before any library reads it; the main
    # process keeps all its threads for `finish`
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = saved or threads
    try:
        pool = ctx.Pool(processes, initializer=_init_process, initargs=(settings_json, events))
    finally:
        if saved is None:
            del os.environ["OMP_NUM_THREADS"]
    return pool, events


def submit(pool: Pool, root: Path, k: int) -> Any:
    """Start part `k` in the pool; the returned AsyncResult's `get()` re-raises its error."""
    return pool.apply_async(_run_part, (str(root), k))
