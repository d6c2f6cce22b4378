"""`vidrag serve`: the gateway and an indexing worker on one machine.

The worker is a real `celery worker` process running the same tasks as production; with no
`VIDRAG_BROKER_URL` both sides use the embedded broker and SQLite under the data directory, so
nothing else needs to run. With `VIDRAG_BROKER_URL=redis://...` the same command joins a
distributed deployment (add `--no-worker` on gateway-only hosts)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time

from app.settings import AppSettings

log = logging.getLogger("vidrag.serve")


def default_concurrency(cores: int | None = None) -> int:
    """Embedded worker processes: one per core up to two, then one per two cores. Each loads
    its own models (~1.6 GB with the offline defaults) and takes cores // concurrency threads.
    Measured on 2 cores (`python -m bench.ingest --minutes 10 --jobs 1|2`): two single-threaded
    processes index the two parts at once at 7.7x realtime, one process with two threads at
    5.4x (decoding and much of the pipeline's Python run on one thread)."""
    cores = cores or os.cpu_count() or 1
    return min(cores, 2) if cores <= 4 else cores // 2


def worker_command(settings: AppSettings, concurrency: int, name: str) -> list[str]:
    queues = f"{settings.queue('cpu')},{settings.queue('gpu')}"
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.celery_app",
        "worker",
        "-Q",
        queues,
        "-c",
        str(concurrency),
        "-n",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
        "-l",
        "INFO",
    ]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class EmbeddedWorker:
    """A Celery worker child process, restarted if it dies while the gateway serves."""

    def __init__(self, settings: AppSettings, concurrency: int) -> None:
        self.cmd = worker_command(settings, concurrency, f"vidrag-embedded-{os.getpid()}")
        self.env = dict(os.environ)
        # the child must see the same data directory whatever its working directory
        self.env["VIDRAG_DATA_DIR"] = str(settings.data_dir.resolve())
        self.env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // concurrency)))
        self.proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._watch: threading.Thread | None = None

    def start(self) -> None:
        self._spawn()
        self._watch = threading.Thread(target=self._supervise, name="worker-watch", daemon=True)
        self._watch.start()

    def _spawn(self) -> None:
        preexec = _die_with_parent if sys.platform.startswith("linux") else None
        # its own session: a Ctrl-C or a signal to serve's process group must not reach the pool
        # processes directly (the worker stops them itself, in order, when serve stops it)
        self.proc = subprocess.Popen(
            self.cmd, env=self.env, preexec_fn=preexec, start_new_session=True
        )
        log.info("embedded worker started (pid %d)", self.proc.pid)

    def _supervise(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            assert self.proc is not None
            code = self.proc.wait()
            if self._stopping.is_set():
                return
            log.error("embedded worker exited with %s; restarting in %.0f s", code, backoff)
            if self._stopping.wait(backoff):
                return
            backoff = min(60.0, backoff * 2)
            self._spawn()

    def stop(self, timeout_s: float = 20.0) -> None:
        self._stopping.set()
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # warm shutdown: running tasks finish or requeue
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("embedded worker did not stop in %.0f s; killing it", timeout_s)
        # whatever is left of its process group (a stuck main process, orphaned pool processes)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    # uvicorn re-raises the signal that stopped it; as SystemExit, `finally` blocks still run
    raise SystemExit(128 + signum)


def serve(
    host: str | None = None,
    port: int | None = None,
    *,
    worker: bool = True,
    concurrency: int | None = None,
    log_level: str = "info",
) -> None:
    """Run the HTTP API (blocking) and, unless `worker=False`, an embedded indexing worker."""
    import uvicorn

    from app.main import create_app

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    settings = AppSettings()
    settings.ensure_dirs()
    embedded = None
    if worker:
        embedded = EmbeddedWorker(
            settings, concurrency or settings.jobs.concurrency or default_concurrency()
        )
        embedded.start()
    where = (settings.broker_url or "").split("@")[-1]  # no credentials in the log
    mode = "embedded broker" if settings.embedded else f"broker {where}"
    log.info(
        "serving on http://%s:%s (data in %s, %s)",
        host or settings.host,
        port or settings.port,
        settings.data_dir.resolve(),
        mode,
    )
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        uvicorn.run(
            create_app(settings),
            host=host or settings.host,
            port=port or settings.port,
            log_level=log_level,
            # a stop waits this long for open requests (a stalled upload), then closes them
            timeout_graceful_shutdown=20,
        )
    except KeyboardInterrupt:  # Ctrl-C: uvicorn already shut down gracefully
        pass
    finally:
        if embedded is not None:
            embedded.stop()
        log.info("stopped after %.0f s", time.monotonic() - started)
