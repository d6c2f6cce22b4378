"""Fixtures for the service tests: real processes (uvicorn gateway, Celery worker), real Redis on
127.0.0.1:6379 (a db number leased for this run), real PostgreSQL on 127.0.0.1:5432 (a fresh
database per test), a needle video made of generated media, and settings that use only offline
models (detection off where no YOLO weights can be had: tests/weights.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import synth
from tests.weights import detect_env

REPO = Path(__file__).resolve().parents[2]
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
PG_ADMIN = "postgresql+psycopg://root@127.0.0.1:5432/test"
LOGS = Path(os.environ.get("VIDRAG_TEST_LOGS", "/tmp/vidrag-service-tests"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment of a gateway or worker process: offline models, small parts (so a short video
    has two and the chord path runs), quick dead-worker detection, unique queue names."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDRAG_")}
    env.update(
        VIDRAG_DATA_DIR=str(data_dir),
        VIDRAG_HF_OFFLINE="true",
        **detect_env(),
        VIDRAG_MODELS_DIR=str(synth.CACHE / "models"),  # the packaged Whisper, assembled once
        VIDRAG_FRAMES__BACKEND="none",
        VIDRAG_SEGMENT__PART_S="40",
        VIDRAG_JOBS__STALE_AFTER_S="12",
        VIDRAG_JOBS__HEARTBEAT_S="2",
        VIDRAG_JOBS__SWEEP_S="2",
        VIDRAG_JOBS__BUSY_RETRY_S="2",
        VIDRAG_QUEUE_PREFIX=f"vt{uuid.uuid4().hex[:8]}",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Proc:
    """A child process in its own process group (so a kill takes its pool children too)."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        self.name, self.cmd, self.env = name, cmd, env
        self.proc: subprocess.Popen[bytes] | None = None
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log = LOGS / f"{name}-{uuid.uuid4().hex[:6]}.log"

    def start(self) -> Proc:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            self.cmd,
            env=self.env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group: no warm shutdown, no requeue, no cleanup."""
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 30) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, n: int = 60) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return f"--- {self.name} ({self.log}) ---\n" + "\n".join(lines[-n:])


class Gateway(Proc):
    def __init__(self, env: dict[str, str], port: int | None = None) -> None:
        self.port = port or free_port()
        super().__init__(
            "gateway",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "app.main:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            env,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Gateway:
        super().start()
        wait_http(self.url + "/healthz", timeout, self)
        return self

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=120, **kw)

    def restart(self) -> Gateway:
        self.stop()
        return self.start()


def worker(env: dict[str, str], concurrency: int = 1) -> Proc:
    prefix = env["VIDRAG_QUEUE_PREFIX"]
    return Proc(
        "worker",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.celery_app",
            "worker",
            "-Q",
            f"{prefix}.cpu,{prefix}.gpu",
            "-c",
            str(concurrency),
            "-P",
            "prefork",
            "-n",
            f"{prefix}-{uuid.uuid4().hex[:4]}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "INFO",
        ],
        env,
    )


def wait_http(url: str, timeout: float, proc: Proc | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise AssertionError(f"{proc.name} exited\n{proc.tail()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {timeout} s\n{proc.tail() if proc else ''}")


def upload(client: httpx.Client, path: Path, **fields: str) -> httpx.Response:
    with path.open("rb") as f:
        return client.post("/v1/videos", files={"file": (path.name, f, "video/mp4")}, data=fields)


def wait_until(
    client: httpx.Client,
    video_id: str,
    done: Callable[[dict[str, Any]], bool],
    timeout: float,
    procs: tuple[Proc, ...] = (),
    seen: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Poll GET /v1/videos/{id} until `done(body)`; fails early on `failed` or a dead process."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = client.get(f"/v1/videos/{video_id}").json()
        if seen is not None:
            seen.append(body)
        if done(body):
            return body
        if body.get("status") == "failed":
            raise AssertionError(
                f"video failed: {body.get('error')}\n" + "\n".join(p.tail() for p in procs)
            )
        for p in procs:
            if not p.alive():
                raise AssertionError(f"{p.name} died\n{p.tail()}")
        time.sleep(0.5)
    raise AssertionError(f"timed out; last state {body}\n" + "\n".join(p.tail() for p in procs))


def is_ready(body: dict[str, Any]) -> bool:
    return body.get("status") == "ready"


# --- backing services ---------------------------------------------------------------------------
@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis db number leased for this test (a key in db 0 marks it taken), flushed around."""
    import redis

    admin = redis.Redis(REDIS_HOST, REDIS_PORT, db=0)
    admin.ping()
    token = uuid.uuid4().hex
    for db in range(15, 1, -1):
        if admin.set(f"vidrag-tests:db:{db}", token, nx=True, ex=3600):
            break
    else:
        pytest.fail("no free Redis db number for the test")
    client = redis.Redis(REDIS_HOST, REDIS_PORT, db=db)
    client.flushdb()
    try:
        yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"
    finally:
        client.flushdb()
        if admin.get(f"vidrag-tests:db:{db}") == token.encode():
            admin.delete(f"vidrag-tests:db:{db}")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"vidrag_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://root@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as c:
            c.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(scope="session")
def needle_video() -> Any:
    """An 80-second haystack (generated footage, unrelated speech) with a speech, a text and an
    object needle at known times; built once and cached between runs."""
    from tests.haystacks import needle_haystack

    hay = needle_haystack("service", 80, seed=1)
    assert sorted(n.kind for n in hay.needles) == ["object", "speech", "text"], hay.needles
    return hay


@pytest.fixture(scope="session")
def small_video() -> Path:
    """An 8-second clip (H.264 + AAC, a photo of two people and speech): fast to probe, for
    tests that need no indexing."""
    return synth.small_video()
