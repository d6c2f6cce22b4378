"""Shared helpers of the benchmarks: the machine they ran on, settings that work offline, peak
memory of a process tree, percentiles, tables, and saving results to `bench/results/`."""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CACHE = HERE / ".cache"
SHARED = Path(os.environ.get("VIDRAG_SHARED_DIR", HERE.parents[1] / "shared"))
YOLO_WEIGHTS = SHARED / "models" / "yolo11n" / "yolo11n_ovint8_rebuilt.pt"


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def seconds_key(minutes: float) -> float:
    """Minutes as the seconds argument of `build_haystack`, whose cache key holds it as given
    (600 and 600.0 are different videos to it): whole seconds as an int."""
    seconds = minutes * 60
    return int(seconds) if float(seconds).is_integer() else seconds


def machine() -> dict[str, Any]:
    """What a figure was measured on: cores, memory, CPU model, GPU (if any), load average."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem_gib = round(pages / 1024**3, 1)
    except (OSError, ValueError):
        pass
    gpu = ""
    if shutil.which("nvidia-smi"):
        p = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=False,
        )
        gpu = p.stdout.strip().replace("\n", ", ")
    return {
        "host": socket.gethostname(),
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "cpu": cpu,
        "gpu": gpu or "none",
        "python": platform.python_version(),
        "load_avg": load_avg(),
        "date": datetime.now().strftime("%Y-%m-%d %H:%M"),
    }


def wait_for_quiet(max_load: float, max_wait_s: float) -> list[float]:
    """Wait (up to `max_wait_s`) until the 1-minute load average is below `max_load`, so the
    wall-clock figures are not another process's; returns the load average at the end."""
    deadline = time.monotonic() + max_wait_s
    while os.getloadavg()[0] > max_load and time.monotonic() < deadline:
        time.sleep(10)
    return load_avg()


def quotable(load: Sequence[float], cores: int | None = None) -> bool:
    """A wall-clock figure is quotable when nothing else kept the cores busy meanwhile."""
    return load[0] <= (cores or os.cpu_count() or 1)


def bench_settings(data_dir: Path, **overrides: Any) -> Any:
    """Settings from the environment (`VIDRAG_*`) for a library at `data_dir`.

    Unless the environment says otherwise, model hubs are not contacted (VIDRAG_HF_OFFLINE=true:
    a bench must not stall on an unreachable hub; set it to false to let models download), and
    the detector uses the YOLO weights of `../shared/models` when they exist."""
    from indexer.settings import Settings

    s = Settings()
    update: dict[str, Any] = {"data_dir": Path(data_dir)}
    if "VIDRAG_HF_OFFLINE" not in os.environ:
        update["hf_offline"] = True
    if "VIDRAG_DETECT__MODEL" not in os.environ and YOLO_WEIGHTS.exists():
        update["detect"] = s.detect.model_copy(update={"model": str(YOLO_WEIGHTS)})
    update.update(overrides)
    return s.model_copy(update=update)


def bench_env(data_dir: Path) -> dict[str, str]:
    """The same defaults as `bench_settings`, as environment variables for a child process."""
    env = dict(os.environ)
    env["VIDRAG_DATA_DIR"] = str(data_dir)
    env.setdefault("VIDRAG_HF_OFFLINE", "true")
    if YOLO_WEIGHTS.exists():
        env.setdefault("VIDRAG_DETECT__MODEL", str(YOLO_WEIGHTS))
    return env


class PeakMemory:
    """Samples the RSS of this process and all its descendants (psutil) every `interval_s`
    and keeps the largest sum; `ru_maxrss` of self and of the largest waited-for child are kept
    as a cross-check (they cannot be summed: children may not have overlapped)."""

    def __init__(self, interval_s: float = 0.25, pid: int | None = None) -> None:
        self.interval_s = interval_s
        self.pid = pid or os.getpid()
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _tree_rss(self) -> float:
        import psutil

        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                continue
        return total / 1024**2

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self._tree_rss())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakMemory:
        self._thread = threading.Thread(target=self._run, name="peak-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak_mb = max(self.peak_mb, self._tree_rss())
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def report(self) -> dict[str, float]:
        me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        return {
            "peak_tree_rss_mb": round(self.peak_mb),
            "self_maxrss_mb": round(me),
            "largest_child_maxrss_mb": round(kids),
        }


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1024**2


def percentiles(values_ms: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99, mean and max of a list of milliseconds (nearest-rank, no interpolation)."""
    if not values_ms:
        return {"n": 0}
    xs = sorted(values_ms)

    def rank(p: float) -> float:
        return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]

    return {
        "n": len(xs),
        "p50": round(rank(50), 2),
        "p90": round(rank(90), 2),
        "p99": round(rank(99), 2),
        "mean": round(statistics.fmean(xs), 2),
        "max": round(xs[-1], 2),
    }


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A plain-text table of dicts (the columns of the first row unless given)."""
    if not rows:
        return "(no rows)"
    cols = list(columns or rows[0].keys())

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.2f}" if abs(v) < 10 else f"{v:,.1f}"
        return str(v)

    cells = [[cell(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    line = "  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(out)


def save(name: str, report: dict[str, Any], *, append_run: bool = False) -> Path:
    """Write `report` to bench/results/<name>.json (atomically). With `append_run`, the file
    keeps a list of runs under "runs" and this report is added (keyed by its "config")."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    dest = RESULTS / f"{name}.json"
    data: dict[str, Any] = report
    if append_run:
        old = json.loads(dest.read_text()) if dest.exists() else {}
        runs = [r for r in old.get("runs", []) if r.get("config") != report.get("config")]
        data = {"runs": [*runs, report]}
    tmp = dest.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False, default=str) + "\n")
    tmp.replace(dest)
    return dest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """`vidrag serve` on a free loopback port with its own data directory, started in its own
    process group and stopped (SIGTERM, then SIGKILL) on exit. Output goes to `log`. With
    `code`, the service runs that checkout's code (e.g. a git worktree of an older commit: its
    directory goes first on PYTHONPATH and is the working directory) with this venv."""

    def __init__(self, data_dir: Path, log: Path, code: Path | None = None, **env: str) -> None:
        self.data_dir, self.log = Path(data_dir), Path(log)
        self.code = Path(code).resolve() if code else None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = bench_env(self.data_dir)
        self.env.setdefault("VIDRAG_QUEUE_PREFIX", f"bench{os.getpid()}")
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.env.update(env)
        if self.code:
            self.env["PYTHONPATH"] = os.pathsep.join(
                [str(self.code), *filter(None, [os.environ.get("PYTHONPATH")])]
            )
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Service:
        import sys

        import httpx

        vidrag = Path(sys.executable).parent / "vidrag"
        cmd = [str(vidrag), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("wb")
        self.proc = subprocess.Popen(
            cmd,
            env=self.env,
            cwd=self.code,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vidrag serve exited:\n{self.tail()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.__exit__()
        raise RuntimeError(f"vidrag serve did not answer in 180 s:\n{self.tail()}")

    def __exit__(self, *exc: object) -> None:
        import signal

        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = os.getpgid(self.proc.pid)  # its own group: the embedded worker goes with it
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(40)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait()

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def upload_and_wait(
    client: Any, path: Path, timeout_s: float, poll_s: float = 1.0
) -> dict[str, Any]:
    """POST the file to /v1/videos, then poll GET /v1/videos/{id} until ready; raises on
    failed or timeout. Returns the last body with `upload_s` and `ready_s` (from the POST)."""
    started = time.perf_counter()
    with path.open("rb") as f:
        r = client.post("/v1/videos", files={"file": (path.name, f, "video/mp4")})
    if r.status_code not in (200, 202):
        raise RuntimeError(f"upload of {path.name}: {r.status_code} {r.text[:300]}")
    uploaded = time.perf_counter() - started
    vid = r.json()["id"]
    deadline = started + timeout_s
    while True:
        body: dict[str, Any] = client.get(f"/v1/videos/{vid}").json()
        if body.get("status") == "ready":
            break
        if body.get("status") == "failed":
            raise RuntimeError(f"indexing {path.name} failed: {body.get('error')}")
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{path.name} not ready after {timeout_s:.0f} s: {body}")
        time.sleep(poll_s)
    body["upload_s"] = round(uploaded, 2)
    body["ready_s"] = round(time.perf_counter() - started, 1)
    return body
