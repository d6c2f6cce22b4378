"""Load on a running service: concurrent clients on /v1/search and /v1/ask for a fixed time,
then several uploads at once, all of which must reach `ready`. Loopback only; stops by itself.

    .venv/bin/python -m bench.load                       # starts `vidrag serve` itself
    .venv/bin/python -m bench.load --clients 16 --seconds 60
    .venv/bin/python -m bench.load --url http://127.0.0.1:8000   # an already running service

Without `--url`, `vidrag serve` runs on a free loopback port with a temporary data directory
and one 3-minute haystack video (bench/haystack.py) is indexed first. Each client (httpx async,
one connection each) sends requests back to back, cycling through questions, for `--seconds`;
an error is any non-2xx answer, a transport error or a timeout. The upload phase posts
`--uploads` different 1-minute videos at the same moment and polls until every one is ready.
Results go to bench/results/load.json."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import (
    CACHE,
    SHARED,
    Service,
    machine,
    percentiles,
    quotable,
    save,
    table,
    upload_and_wait,
)

QUESTIONS = [
    "What did mister John Dashwood consider?",
    "Where was the NO LITTER sign of Minato City?",
    "When do we see fruit such as oranges?",
    "a person walking in the square",
    "When is a basketball game with a sports ball shown?",
    "who is called selfish",
    "coronavirus infection risk",
    "a car in the city",
]


async def _client(
    http: Any, endpoint: str, k: int, until: float, lat: list[float], errors: Counter[str]
) -> None:
    i = k
    while time.perf_counter() < until:
        q = QUESTIONS[i % len(QUESTIONS)]
        i += 1
        body = {"query": q, "top_k": 5} if endpoint == "search" else {"question": q}
        started = time.perf_counter()
        try:
            r = await http.post(f"/v1/{endpoint}", json=body)
            if r.status_code >= 300:
                errors[f"HTTP {r.status_code}"] += 1
                continue
            if endpoint == "search" and not r.json()["hits"]:
                errors["no hits"] += 1
                continue
        except Exception as e:  # every failure counts, whatever it is
            errors[type(e).__name__] += 1
            continue
        lat.append((time.perf_counter() - started) * 1000)


async def hammer(url: str, endpoint: str, clients: int, seconds: float) -> dict[str, Any]:
    """`clients` concurrent clients on one endpoint for `seconds`."""
    import httpx

    lat: list[float] = []
    errors: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        key = "query" if endpoint == "search" else "question"
        await http.post(f"/v1/{endpoint}", json={key: "warm up"})
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(
            *(_client(http, endpoint, k, until, lat, errors) for k in range(clients))
        )
        wall = time.perf_counter() - started
    return {
        "endpoint": f"/v1/{endpoint}",
        "clients": clients,
        "seconds": round(wall, 1),
        "requests": len(lat) + sum(errors.values()),
        "ok": len(lat),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "throughput_rps": round(len(lat) / wall, 1),
        "latency_ms": percentiles(lat),
    }


async def uploads(url: str, paths: list[Path], timeout_s: float) -> dict[str, Any]:
    """Post every file at once, then poll each until ready (or failed / timeout)."""
    import httpx

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:

        async def one(path: Path) -> dict[str, Any]:
            t0 = time.perf_counter()
            try:
                r = await http.post(
                    "/v1/videos", files={"file": (path.name, path.read_bytes(), "video/mp4")}
                )
            except httpx.HTTPError as e:
                return {"file": path.name, "error": f"{type(e).__name__}: {e}"}
            if r.status_code not in (200, 202):
                return {"file": path.name, "error": f"HTTP {r.status_code}: {r.text[:200]}"}
            vid, accepted = r.json()["id"], time.perf_counter() - t0
            status = "queued"
            while time.perf_counter() - started < timeout_s:
                g = await http.get(f"/v1/videos/{vid}")
                status = (
                    g.json().get("status", "?") if g.status_code == 200 else f"HTTP {g.status_code}"
                )
                if status in ("ready", "failed"):
                    break
                await asyncio.sleep(1.0)
            return {
                "file": path.name,
                "id": vid,
                "status": status,
                "accepted_s": round(accepted, 2),
                "ready_s": round(time.perf_counter() - started, 1),
            }

        results = await asyncio.gather(*(one(p) for p in paths))
    ready = sum(1 for r in results if r.get("status") == "ready")
    return {
        "uploads": len(paths),
        "ready": ready,
        "errors": len(paths) - ready,
        "all_ready_s": round(time.perf_counter() - started, 1),
        "videos": list(results),
    }


def videos(n: int) -> tuple[Path, list[Path]]:
    """The indexed video (3 minutes) and `n` different 1-minute videos, built once."""
    from bench.haystack import build_haystack

    real = SHARED / "testdata"
    main = build_haystack(CACHE / "load-3min-seed2.mp4", 180, seed=2, testdata=real).path
    small = [
        build_haystack(CACHE / f"load-1min-seed{20 + k}.mp4", 60, seed=20 + k, testdata=real).path
        for k in range(n)
    ]
    return main, small


def run(url: str, a: argparse.Namespace, small: list[Path]) -> dict[str, Any]:
    out: dict[str, Any] = {"machine": machine(), "clients": a.clients, "seconds": a.seconds}
    out["search"] = asyncio.run(hammer(url, "search", a.clients, a.seconds))
    out["ask"] = asyncio.run(hammer(url, "ask", a.clients, a.seconds))
    out["load_avg_after_queries"] = [round(x, 2) for x in os.getloadavg()]
    if small:
        out["upload"] = asyncio.run(uploads(url, small, a.upload_timeout_min * 60))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", help="a running service (default: start one here)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=30.0, help="per endpoint")
    ap.add_argument("--uploads", type=int, default=4)
    ap.add_argument("--upload-timeout-min", type=float, default=20.0)
    a = ap.parse_args()
    import httpx

    main_video, small = videos(a.uploads)
    if a.url:
        report = run(a.url, a, small)
    else:
        tmp = tempfile.mkdtemp(prefix="vidrag-load-")
        try:
            with Service(Path(tmp) / "data", Path(tmp) / "serve.log") as svc:
                with httpx.Client(base_url=svc.url, timeout=60) as client:
                    body = upload_and_wait(client, main_video, 30 * 60)
                report = run(svc.url, a, small)
                report["indexed_video"] = {"file": main_video.name, "ready_s": body["ready_s"]}
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    report["quotable"] = quotable(report["machine"]["load_avg"]) and quotable(
        report["load_avg_after_queries"]
    )
    rows = [
        {
            "endpoint": r["endpoint"],
            "clients": r["clients"],
            "requests": r["requests"],
            "errors": r["errors"],
            "req/s": r["throughput_rps"],
            "p50_ms": r["latency_ms"].get("p50", ""),
            "p99_ms": r["latency_ms"].get("p99", ""),
        }
        for r in (report["search"], report["ask"])
    ]
    print(table(rows))
    if "upload" in report:
        u = report["upload"]
        print(
            f"\n{u['uploads']} concurrent uploads: {u['ready']} ready, {u['errors']} not, "
            f"all done in {u['all_ready_s']} s"
        )
    errors = report["search"]["errors"] + report["ask"]["errors"]
    errors += report.get("upload", {}).get("errors", 0)
    report["goal"] = {"errors": errors, "met": errors == 0}
    print(f"goal zero errors: {'met' if errors == 0 else f'MISSED ({errors})'}")
    print(f"saved {save('load', report)}")


if __name__ == "__main__":
    main()
