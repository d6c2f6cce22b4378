"""Search through HTTP with concurrent clients, over the libraries of `bench.search` (1-hour
videos of 360 clips, four text vectors and ten frame vectors per clip, as production writes).

    .venv/bin/python -m bench.search_http --hours 100 1000 --runs 3
    .venv/bin/python -m bench.search_http --hours 100 --clients 16 --seconds 30
    .venv/bin/python -m bench.search_http --hours 1000 --workers 2   # two gateway processes

Each run starts a fresh gateway: the real app (`create_app` under uvicorn; one process as
`vidrag serve` runs it, or `--workers` processes as `uvicorn --workers` / WEB_CONCURRENCY runs
the gateway image) over the library's data directory, its videos registered as ready in its
catalog. Only the query embedders are the bench's: the text query is embedded by the real
offline text model (its cost is paid in every request) and then replaced by the query's vector
drawn from the library's topic mixture (the library's vectors are synthetic; see bench.search),
so the dense search probes lists shaped like the data; the frame query (a CLIP text tower,
which no offline weights provide) is a random unit vector. `--clients` httpx clients in this
process then post `POST /v1/search` (top 10, whole library) back to back for `--seconds`,
after a warm-up pass, then one client alone. Reported per run: latency p50/p99, requests per
second, errors, the gateway's memory summed over its processes (RSS, anonymous, file-backed:
the memory-mapped IVF lists are page-cache pages; PSS counts a page shared by n processes
1/n) and the time to its first answer (a run over an unchanged library maps the IVF files the
first run wrote). Recall of the IVF against exact search on real embeddings of
real text is `bench.ivf_recall`. Results are appended to bench/results/search_http.jsonl."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import CACHE, RESULTS, free_port, machine, percentiles
from bench.search import Mixture, OnlyText, QueryEmbedder, build_library, queries

OUT = RESULTS / "search_http.jsonl"
N_QUERIES = 2000


class RealCostEmbedder(QueryEmbedder):
    """Embeds with the real text model (the cost a query pays), answers the mixture vector."""

    def __init__(self, vectors: dict[str, np.ndarray], real: Any) -> None:
        super().__init__(vectors)
        self.real = real

    def embed(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        self.real.embed(texts, query=query)
        return super().embed(texts, query=query)


def register_ready(settings: Any, ids: list[str]) -> None:
    """Catalog rows saying each video is ready (the gateway searches what its catalog lists)."""
    from sqlalchemy import select

    from indexer.catalog import READY, Catalog
    from indexer.catalog.schema import JobRow, VideoRow, utcnow

    catalog = Catalog(settings.db_url())
    catalog.create_all()
    with catalog.session() as s:
        have = set(s.scalars(select(VideoRow.id)))
        for vid in ids:
            if vid in have:
                continue
            now = utcnow()
            s.add(
                VideoRow(
                    id=vid,
                    sha256=vid,
                    title=vid,
                    filename=f"{vid}.mp4",
                    size_bytes=0,
                    duration_s=3600.0,
                    media={},
                    capabilities={},
                    clip_count=360,
                    created_at=now,
                )
            )
            s.flush()
            s.add(JobRow(video_id=vid, status=READY, stage=READY, percent=100.0, updated_at=now))


def gateway_settings(hours: int) -> Any:
    """The gateway's settings over the (built once) library of `hours`."""
    from app.settings import AppSettings

    root, _ = build_library(hours, Mixture())
    return AppSettings().model_copy(update={"data_dir": root, "hf_offline": True})


def serve(hours: int, port: int, workers: int) -> None:
    """The gateway child: the real app over the library of `hours`, until killed; `workers`
    processes (uvicorn's, as `uvicorn --workers` or WEB_CONCURRENCY runs the gateway image)."""
    import uvicorn

    settings = gateway_settings(hours)
    ids = sorted(p.name for p in settings.videos_dir.iterdir() if not p.name.startswith("."))
    register_ready(settings, ids)
    os.environ["VIDRAG_BENCH_HOURS"] = str(hours)
    uvicorn.run(
        "bench.search_http:bench_app",
        factory=True,
        workers=workers,
        host="127.0.0.1",
        port=port,
        log_level="warning",
    )


def bench_app() -> Any:
    """The app with the bench's query embedders (built in each worker process)."""
    from app.main import create_app
    from indexer.extractors import Extractors

    settings = gateway_settings(int(os.environ["VIDRAG_BENCH_HOURS"]))
    real = Extractors(settings).get("text")
    if real is None:
        raise SystemExit("no text embedder: the bench pays a real query embedding per request")
    app = create_app(settings)
    app.state.services.extractors = OnlyText(
        RealCostEmbedder(dict(queries(Mixture(), N_QUERIES, 7)), real)
    )
    print(f"text model: {Extractors(settings).status('text')}", file=sys.stderr, flush=True)
    return app


def memory(pid: int) -> dict[str, int]:
    """The gateway's resident memory in MB, summed over its processes: all (RSS), anonymous
    (heap) and file-backed (mappings); PSS counts a page shared by n processes 1/n in each."""
    import psutil

    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    out = dict.fromkeys(("VmRSS", "RssAnon", "RssFile", "Pss"), 0)
    for p in procs:
        for name in ("status", "smaps_rollup"):
            try:
                text = Path(f"/proc/{p.pid}/{name}").read_text()
            except OSError:
                continue
            for line in text.splitlines():
                key, _, value = line.partition(":")
                if key in out:
                    out[key] += int(value.split()[0])
    mb = {k: round(v / 1024) for k, v in out.items()}
    return {
        "rss_mb": mb["VmRSS"],
        "anon_mb": mb["RssAnon"],
        "file_mb": mb["RssFile"],
        "pss_mb": mb["Pss"],
        "processes": len(procs),
    }


async def load(url: str, texts: list[str], clients: int, seconds: float) -> dict[str, Any]:
    import httpx

    lat: list[float] = []
    errors: list[str] = []
    stop = time.monotonic() + seconds

    async def client(c: int, http: httpx.AsyncClient) -> None:
        i = c
        while time.monotonic() < stop:
            t = time.perf_counter()
            try:
                r = await http.post(
                    "/v1/search", json={"query": texts[i % len(texts)], "top_k": 10}
                )
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:100]}")
            except httpx.HTTPError as e:
                errors.append(type(e).__name__)
            lat.append((time.perf_counter() - t) * 1000)
            i += clients

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        started = time.monotonic()
        await asyncio.gather(*(client(c, http) for c in range(clients)))
        took = time.monotonic() - started
    return {
        "latency_ms": percentiles(lat),
        "requests": len(lat),
        "per_s": round(len(lat) / took, 1),
        "errors": len(errors),
        "first_errors": errors[:3],
    }


def run_once(
    hours: int, clients: int, seconds: float, texts: list[str], workers: int
) -> dict[str, Any]:
    import httpx

    port = free_port()
    log = open(CACHE / f"search_http-{hours}h.log", "wb")  # noqa: SIM115
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "VIDRAG_WARM_UP": "true"}
    cmd = [sys.executable, "-m", "bench.search_http", "--serve", str(hours), "--port", str(port)]
    cmd += ["--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    try:
        while True:  # the first search waits for the library's first load
            if proc.poll() is not None:
                raise RuntimeError(f"the gateway exited ({proc.returncode}); see {log.name}")
            try:
                r = httpx.post(
                    url + "/v1/search", json={"query": texts[0], "top_k": 10}, timeout=900
                )
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        first_answer_s = time.monotonic() - started
        loaded = memory(proc.pid)
        asyncio.run(load(url, texts[:200], clients, min(seconds, 10)))  # warm caches and pages
        out = asyncio.run(load(url, texts, clients, seconds))
        # one client, back to back: a request's own service time, without queueing
        alone = asyncio.run(load(url, texts[::-1], 1, min(seconds, 15)))
        return {
            "hours": hours,
            "clients": clients,
            "workers": workers,
            "seconds": seconds,
            "first_answer_s": round(first_answer_s, 1),
            "memory_loaded": loaded,
            "memory_after": memory(proc.pid),
            **out,
            "one_client": {k: alone[k] for k in ("latency_ms", "per_s", "errors")},
            "load_avg": [round(x, 2) for x in os.getloadavg()],
        }
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--workers", type=int, default=1, help="gateway processes (uvicorn's)")
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the gateway child
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve is not None:
        serve(a.serve, a.port, a.workers)
        return
    texts = [t for t, _ in queries(Mixture(), N_QUERIES, 7)]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    for hours in a.hours:
        build_library(hours, Mixture())  # once, before any timing
        runs = []
        for n in range(a.runs):
            r = run_once(hours, a.clients, a.seconds, texts, a.workers)
            r.update(commit=commit, run=n + 1, machine=machine())
            runs.append(r)
            with OUT.open("a") as f:
                f.write(json.dumps(r) + "\n")
            lat = r["latency_ms"]
            print(
                f"{hours} h run {n + 1}: p50 {lat['p50']} ms, p99 {lat['p99']} ms, "
                f"{r['per_s']}/s, errors {r['errors']}, RSS {r['memory_after']}, "
                f"first answer {r['first_answer_s']} s, load {r['load_avg']}; one client: "
                f"p50 {r['one_client']['latency_ms']['p50']} ms",
                flush=True,
            )
        med = {k: statistics.median(r["latency_ms"][k] for r in runs) for k in ("p50", "p99")}
        rss = statistics.median(r["memory_after"]["rss_mb"] for r in runs)
        print(
            f"{hours} h median of {len(runs)}: p50 {med['p50']} ms, p99 {med['p99']} ms, "
            f"RSS {rss} MB",
            flush=True,
        )


if __name__ == "__main__":
    main()
