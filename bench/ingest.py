"""Ingest throughput: index a long 1280x720 25 fps haystack video into a fresh library and report
video-seconds per wall-second for each stage and in total, and the peak memory of the process tree.

    .venv/bin/python -m bench.ingest                  # 10-minute video
    .venv/bin/python -m bench.ingest --minutes 60     # 60-minute video
    VIDRAG_DETECT__EVERY_S=4 .venv/bin/python -m bench.ingest --jobs 1   # try a knob

The video is the needle benchmark's realistic haystack (bench/realistic.py: real footage, real
background talk, needles; one x264 pass), built once into bench/.cache. Parts run in `--jobs`
processes as `vidrag index` runs them (default: one per core, at most one per part), then the
parent merges them (`finish`). Settings come from the
environment (`VIDRAG_*`); by default no model hub is contacted and YOLO comes from
../shared/models (bench/common.py). Devices are `auto`: the same command uses a GPU where one is.

Per-stage figures are the stage's seconds summed over parts (each part times its own stages), so
with 2 jobs they add up to about twice the wall time of the parts phase; "share" says which stage
dominates. Results are appended to bench/results/ingest.json, one run per configuration."""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import (
    PeakMemory,
    bench_settings,
    machine,
    quotable,
    save,
    table,
)

TARGET_X = 10.0  # video-seconds per wall-second with every offline extractor on (2-core CPU)

# --- parallel parts: each worker process loads its own models once ------------------------------
_worker: Any = None


def _init_worker(settings_json: str, threads: int) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))  # before any model library loads
    from indexer.pipeline import Indexer
    from indexer.settings import Settings

    global _worker
    _worker = Indexer(Settings.model_validate_json(settings_json))


def _run_part(root: str, k: int) -> float:
    from indexer.store import ArtifactStore

    started = time.perf_counter()
    _worker.run_part(ArtifactStore(Path(root)), k)
    return time.perf_counter() - started


def build_video(minutes: float, seed: int, size: tuple[int, int], fps: int) -> Any:
    """The realistic haystack of the needle benchmark (bench/realistic.py): real footage, real
    talk, needles, one x264 pass; built once into bench/.cache."""
    from bench.realistic import build_haystack

    started = time.perf_counter()
    hay = build_haystack(minutes, seed, size=size, fps=fps)
    took = time.perf_counter() - started
    if took > 5:
        print(f"built {hay.path.name} in {took:.0f} s", file=sys.stderr)
    return hay


def index_once(video: Path, library_dir: Path, jobs: int) -> dict[str, Any]:
    """Index `video` into a fresh library; wall times of the phases and the finished manifest."""
    from indexer.pipeline import Indexer
    from indexer.store import Library

    settings = bench_settings(library_dir)
    indexer = Indexer(settings)
    library = Library(settings.videos_dir)
    t0 = time.perf_counter()
    manifest = indexer.accept(video, library, move=False)
    store = library.store(manifest.id)
    parts = indexer.plan(store)
    t1 = time.perf_counter()
    jobs = jobs or min(len(parts), os.cpu_count() or 1)
    part_wall: list[float] = []
    if jobs > 1 and len(parts) > 1:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        with ProcessPoolExecutor(
            jobs,
            mp_context=mp.get_context("spawn"),
            initializer=_init_worker,
            initargs=(settings.model_dump_json(), threads),
        ) as pool:
            part_wall = list(pool.map(_run_part, [str(store.root)] * len(parts), range(len(parts))))
    else:
        for k in range(len(parts)):
            started = time.perf_counter()
            indexer.run_part(store, k)
            part_wall.append(time.perf_counter() - started)
    t2 = time.perf_counter()
    manifest = indexer.finish(store)
    t3 = time.perf_counter()
    return {
        "settings": settings,
        "manifest": manifest,
        "jobs": jobs,
        "parts": len(parts),
        "wall": {"accept": t1 - t0, "parts": t2 - t1, "finish": t3 - t2, "total": t3 - t0},
        "part_wall_s": [round(x, 1) for x in part_wall],
    }


def knobs() -> dict[str, str]:
    """The settings this run changed from the defaults through the environment."""
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith("VIDRAG_")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=0, help="parts in parallel (0: one per core)")
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--config", default="", help="name of this run in the JSON (default: derived)")
    ap.add_argument("--keep", type=Path, help="index into this directory and keep it")
    a = ap.parse_args()
    w, h = (int(x) for x in a.size.split("x"))
    hay = build_video(a.minutes, a.seed, (w, h), a.fps)

    before = machine()
    with tempfile.TemporaryDirectory(prefix="vidrag-ingest-") as tmp, PeakMemory() as mem:
        run = index_once(hay.path, a.keep or Path(tmp), a.jobs)
    load_after = os.getloadavg()
    m, wall = run["manifest"], run["wall"]
    duration = m.media.duration_s
    stage_total = sum(m.stage_seconds.values()) or 1.0
    rows = []
    for stage, secs in m.stage_seconds.items():
        rows.append(
            {
                "stage": stage,
                "seconds": round(secs, 1),
                # a stage that took no time (capability off, nothing to do) has no rate
                "x_realtime": round(duration / secs, 1) if secs >= 0.05 else "-",
                "share_%": round(100 * secs / stage_total, 1),
            }
        )
    for phase in ("accept", "parts", "finish", "total"):
        rows.append(
            {
                "stage": f"wall:{phase}",
                "seconds": round(wall[phase], 1),
                "x_realtime": round(duration / wall[phase], 1),
                "share_%": "",
            }
        )
    dominant = max(m.stage_seconds, key=lambda s: m.stage_seconds[s])
    x_total = duration / wall["total"]
    report = {
        "config": a.config
        or f"{a.minutes:g}min jobs{run['jobs']} "
        + " ".join(f"{k.removeprefix('VIDRAG_')}={v}" for k, v in knobs().items()).strip(),
        "video": {
            "path": hay.path.name,
            "duration_s": duration,
            "size": f"{m.media.width}x{m.media.height}",
            "fps": m.media.fps,
        },
        "machine": before,
        "load_avg_after": [round(x, 2) for x in load_after],
        "quotable": quotable(before["load_avg"]) and quotable(load_after),
        "env": knobs(),
        "jobs": run["jobs"],
        "parts": run["parts"],
        "part_wall_s": run["part_wall_s"],
        "stages": rows,
        "stage_seconds": m.stage_seconds,
        "dominant_stage": dominant,
        "x_realtime_total": round(x_total, 2),
        "target_x": TARGET_X,
        "target_met": x_total >= TARGET_X,
        "memory": mem.report(),
        "capabilities": {k: c.model_dump() for k, c in m.capabilities.items()},
        "counts": {**m.counts, "clips": m.clip_count},
    }
    print(table(rows))
    caps = ", ".join(
        f"{k}={c.backend or 'off'}" + ("" if c.ok else f" ({c.reason[:50]})")
        for k, c in m.capabilities.items()
    )
    print(f"\ncapabilities: {caps}")
    print("found: " + ", ".join(f"{v} {k}" for k, v in report["counts"].items()))
    print(
        f"total {x_total:.1f}x realtime ({duration:.0f} s of video in {wall['total']:.0f} s, "
        f"{run['jobs']} job(s)); target {TARGET_X:g}x {'met' if x_total >= TARGET_X else 'MISSED'}"
        f"; dominant stage: {dominant}"
    )
    print(
        f"peak memory: {report['memory']['peak_tree_rss_mb']} MB (process tree); load average "
        f"{before['load_avg']} before, {report['load_avg_after']} after"
        + ("" if report["quotable"] else "  [machine busy: wall times not quotable]")
    )
    print(f"saved {save('ingest', report, append_run=True)}")


if __name__ == "__main__":
    main()
