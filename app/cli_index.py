"""`vidrag index FILE`: index a video in this process, into the same catalog the service reads.

The run does what a Celery worker does, through the same catalog calls: it registers the video
and its job, starts the job, records the plan, claims each step under its own owner name
(`cli:<host>:<pid>:<nonce>`), beats for the steps it holds, writes their progress with the
workers' `StepReporter`, and closes the job as ready (with capabilities and clip count) or
failed. So the video appears in `GET /v1/videos`, and a gateway running beside it leaves the
steps alone while they beat. The parts run in a pool of processes (app/cli_parts.py); this
process writes the catalog, draws the bars and runs `finish`.

Ctrl-C stops the pool, gives the held steps back and prints the command that resumes: finished
stages are kept on disk, so the next run (or a running `vidrag serve`) starts from them."""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import threading
import time
import uuid
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

from app.cli_common import say
from app.cli_parts import start_pool, submit
from app.cli_progress import StageBars
from app.settings import AppSettings
from indexer.catalog import FAILED, FINISH, READY, Catalog, Claim, part_step
from indexer.catalog.progress import StepLost, StepReporter
from indexer.errors import VidragError
from indexer.manifest import VideoManifest
from indexer.part_stages import PART_STAGES
from indexer.pipeline import FINISH_STAGES, Indexer
from indexer.store import ArtifactStore, Library, sha256_file, video_id_for


class Interrupted(Exception):
    """Ctrl-C: the held steps were given back; the message says how to resume."""


class IndexRun:
    """One `vidrag index` of one file."""

    def __init__(self, settings: AppSettings, catalog: Catalog, *, jobs: int, bars: bool) -> None:
        self.settings = settings
        self.catalog = catalog
        self.library = Library(settings.videos_dir)
        self.indexer = Indexer(settings)
        self.jobs = jobs
        self.show_bars = bars
        self.owner = f"cli:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._beating = threading.Event()
        self._pool: Pool | None = None
        self._events: Any = None

    # --- the steps -------------------------------------------------------------------------------
    def run(self, path: Path, title: str | None) -> tuple[VideoManifest | None, str]:
        """Index `path`. Returns (manifest, video id); the manifest is None when the video was
        already indexed. Raises VidragError (recorded as the job's failure), StepLost (the video
        was deleted meanwhile) or Interrupted."""
        vid = video_id_for(sha256_file(path))
        state = self.catalog.get(vid)
        if state is not None and state.status == READY:
            return None, vid
        manifest = self.indexer.accept(path, self.library, title=title, move=False)
        state, _ = self.catalog.add_video(manifest)
        job = state.job_id
        if state.status == FAILED:
            self.catalog.reopen(job)
        # it is being run here: a gateway's periodic sweep must not hand it to a worker too
        self.catalog.mark_enqueued(job)
        self._release_dead_runs(job)
        if not self.catalog.start_job(job):
            return self._settled(vid)
        store = self.library.store(vid)
        parts = self.indexer.plan(store)
        todo = self.catalog.set_parts(job, len(parts))
        say(f"{vid}  {manifest.filename}  {manifest.media.duration_s:.0f} s  {len(parts)} part(s)")
        threading.Thread(target=self._beat, daemon=True, name="heartbeat").start()
        warm = threading.Thread(target=self._warm_text, daemon=True, name="warm-text")
        warm.start()
        bars = StageBars(parts, PART_STAGES, FINISH_STAGES, enabled=self.show_bars)
        for k in set(range(len(parts))) - set(todo):
            bars.part_done(k)
        try:
            self._run_parts(job, store, todo, bars)
            warm.join()
            manifest = self._finish(job, store, bars)
        except KeyboardInterrupt:
            self._stop_pool(terminate=True)
            self.catalog.release(job, self.owner)
            # a `vidrag serve` on this library picks it up; so does the next `vidrag index`
            self.catalog.mark_enqueued(job, sent=False)
            raise Interrupted(vid) from None
        except StepLost:
            self._stop_pool(terminate=True)
            if self.catalog.get(vid) is None:  # deleted meanwhile: remove what was written
                self.library.delete(vid)
                raise StepLost(f"video {vid} was deleted while it was being indexed") from None
            raise
        except Exception as e:
            self._stop_pool(terminate=True)
            if isinstance(e, VidragError):
                type_, message = e.type, e.message
            else:
                type_, message = "indexing_failed", f"{type(e).__name__}: {e}"
            self.catalog.mark_failed(job, type_, f"vidrag index: {message}")
            raise
        finally:
            self._beating.set()
            bars.close()
        return manifest, vid

    def _run_parts(self, job: int, store: ArtifactStore, todo: list[int], bars: StageBars) -> None:
        remaining = sorted(todo)
        waiting_said = False
        while remaining:
            claimed, done = [], []
            for k in remaining:
                claim = self._claim(job, part_step(k))
                if claim is Claim.CLAIMED:
                    claimed.append(k)
                elif claim is Claim.DONE:  # another runner finished it
                    done.append(k)
                    bars.part_done(k)
            if claimed:
                self._run_claimed(job, store, claimed, bars)
            # what is left is held by a live runner elsewhere (a worker of `vidrag serve`)
            remaining = [k for k in remaining if k not in claimed and k not in done]
            if remaining and not claimed:
                if not waiting_said:
                    say(f"parts {remaining} are held by another runner; waiting for them", err=True)
                    waiting_said = True
                time.sleep(self.settings.jobs.busy_retry_s)
        self._stop_pool(terminate=False)

    def _run_claimed(
        self, job: int, store: ArtifactStore, claimed: list[int], bars: StageBars
    ) -> None:
        if self._pool is None:
            n = max(1, min(self.jobs or (os.cpu_count() or 1), len(claimed)))
            self._pool, self._events = start_pool(n, self.settings.model_dump_json())
        interval = self.settings.jobs.progress_interval_s
        running = {k: submit(self._pool, store.root, k) for k in claimed}
        reporters = {
            k: StepReporter(self.catalog, job, part_step(k), self.owner, PART_STAGES, interval)
            for k in claimed
        }
        while running:
            with contextlib.suppress(queue.Empty):
                k, stage, fraction = self._events.get(timeout=0.2)
                if k in running:  # a late report of a finished part changes nothing
                    reporters[k](stage, fraction)
                    bars.part(k, stage, fraction)
            for k, result in list(running.items()):
                if result.ready():
                    result.get()  # re-raises the part's error here
                    del running[k]
                    if not self.catalog.step_done(job, part_step(k), self.owner):
                        raise StepLost(f"{part_step(k)} is no longer ours")
                    bars.part_done(k)

    def _finish(self, job: int, store: ArtifactStore, bars: StageBars) -> VideoManifest:
        while (claim := self._claim(job, FINISH)) is Claim.BUSY:
            time.sleep(self.settings.jobs.busy_retry_s)
        if claim is not Claim.CLAIMED:  # another runner finished it meanwhile
            return self.indexer.manifest(store)
        report = StepReporter(
            self.catalog,
            job,
            FINISH,
            self.owner,
            FINISH_STAGES,
            self.settings.jobs.progress_interval_s,
        )

        def progress(stage: str, fraction: float) -> None:
            report(stage, fraction)
            bars.finish(stage, fraction)

        manifest = self.indexer.finish(store, progress)
        summary = {
            "clip_count": manifest.clip_count,
            "capabilities": {kind: c.model_dump() for kind, c in manifest.capabilities.items()},
        }
        if not self.catalog.mark_ready(job, self.owner, summary):
            raise StepLost("the finish step is no longer ours")
        return manifest

    # --- helpers ---------------------------------------------------------------------------------
    def _claim(self, job: int, step: str) -> Claim:
        claim, _ = self.catalog.claim_step(job, step, self.owner, self.settings.jobs.stale_after_s)
        if claim is Claim.GONE:
            raise StepLost(f"job {job} is gone or finished")
        return claim

    def _settled(self, vid: str) -> tuple[VideoManifest | None, str]:
        """start_job found the job finished or gone: another runner got there first."""
        state = self.catalog.get(vid)
        if state is None:
            raise StepLost(f"video {vid} was deleted")
        if state.status == READY:
            return None, vid
        raise VidragError(f"video {vid} is {state.status}: {state.error_message or ''}")

    def _release_dead_runs(self, job: int) -> None:
        """Steps held by a `vidrag index` on this machine that is no longer running (killed)
        are taken back at once, instead of after the heartbeat goes stale."""
        host = socket.gethostname()
        for owner in self.catalog.running_owners(job):
            kind, owner_host, pid, *_ = [*owner.split(":"), "", "", ""]
            if kind == "cli" and owner_host == host and pid.isdigit() and not _alive(int(pid)):
                self.catalog.release(job, owner)

    def _beat(self) -> None:
        while not self._beating.wait(self.settings.jobs.heartbeat_s):
            with contextlib.suppress(Exception):  # a missed beat is not fatal
                self.catalog.heartbeat([self.owner])

    def _warm_text(self) -> None:
        # the text embedder is needed only by `finish`: load it while the parts run
        embedder = self.indexer.extractors.get("text")
        if embedder is not None:
            with contextlib.suppress(VidragError):  # `finish` records the capability as off
                embedder.warm_up()

    def _stop_pool(self, *, terminate: bool) -> None:
        if self._pool is None:
            return
        if terminate:
            self._pool.terminate()
        else:
            self._pool.close()
        self._pool.join()
        self._pool = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
