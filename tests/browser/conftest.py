"""Fixtures for the browser tests: a real `vidrag serve` (gateway + embedded Celery worker, no
Redis) on a free port, Debian's headless Chromium driven by Playwright, and a short needle video.

`VIDRAG_BROWSER_URL=http://host:port/` runs the tests against a gateway that is already running
instead; `VIDRAG_CHROMIUM` names another Chromium binary."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import synth
from tests.weights import detect_env

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".artifacts" / "browser"
CHROMIUM = Path(os.environ.get("VIDRAG_CHROMIUM", "/usr/bin/chromium"))
# no sandbox: tests run as root in containers; the rest keeps Chromium off the network
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a real gateway that serves the page at `/` and indexes with real models."""
    external = os.environ.get("VIDRAG_BROWSER_URL")
    if external:
        yield external.rstrip("/") + "/"
        return
    data = tmp_path_factory.mktemp("serve")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDRAG_")}
    env.update(
        VIDRAG_DATA_DIR=str(data / "data"),
        VIDRAG_HF_OFFLINE="true",
        **detect_env(),
        VIDRAG_MODELS_DIR=str(synth.CACHE / "models"),  # the packaged Whisper, assembled once
        VIDRAG_FRAMES__BACKEND="none",  # no CLIP weights offline: the capability is off
        PYTHONUNBUFFERED="1",
    )
    log_path = data / "serve.log"
    with log_path.open("wb") as log:
        # its own process group, so teardown also ends the worker processes it forks
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"`vidrag serve` exited with {proc.returncode}:\n{_tail(log_path)}")
            try:
                if httpx.get(base + "healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"`vidrag serve` not healthy after {START_TIMEOUT_S} s:\n{_tail(log_path)}"
                )
            time.sleep(0.5)
        page = httpx.get(base, timeout=5)
        if page.status_code != 200 or 'id="ask-form"' not in page.text:
            pytest.fail(f"the gateway does not serve app/web at / (GET / -> {page.status_code})")
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "serve.log").write_text(_tail(log_path, 200_000))


# module scope: Playwright's sync API keeps an asyncio loop running in this thread until it
# stops, which would break later tests that call asyncio.run()
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM} (apt install chromium, or set "
            "VIDRAG_CHROMIUM); deselect with -m 'not browser'"
        )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, gateway: str) -> Iterator[Any]:
    """A fresh laptop-sized page on the gateway; uncaught script errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=gateway)
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture(scope="session")
def needle_video() -> Any:
    """A 40-second haystack of generated media with an on-screen text needle (built once, then
    cached)."""
    from tests.haystacks import needle_haystack

    hay = needle_haystack("browser-haystack", 40, seed=1, kinds=("text",))
    assert [n.kind for n in hay.needles] == ["text"], hay.needles
    return hay
