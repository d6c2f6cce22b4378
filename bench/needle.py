"""Needle-in-a-video-haystack through the HTTP service, on realistic haystacks (bench/realistic.py):
per-kind recall@1/@5 and MRR of `POST /v1/search`, answer and citation hits of `POST /v1/ask`,
the absent-question check, the uniform-frame baseline, and ingest speed with the machine's load.

    .venv/bin/python -m bench.needle --minutes 10            # one run, appended to the results
    .venv/bin/python -m bench.needle --minutes 60 --seed 1
    .venv/bin/python -m bench.needle summary                 # medians over the recorded runs
    .venv/bin/python -m bench.needle --code /tmp/base-wt     # the service from another checkout

A run builds (or reuses) the haystack, starts `vidrag serve` as a user runs it (embedded worker,
offline defaults: no model hub; YOLO from ../shared/models when there) on a loopback port with an
empty data directory, uploads the video over HTTP and polls it until ready, then asks every
needle's question: /v1/search (top 20, the whole library) and /v1/ask (the service's answer mode:
extractive unless `--lmm-url`). Scoring: bench/needle_score.py. Each run APPENDS one JSON line to
bench/results/needle-runs.jsonl (nothing is overwritten); `summary` prints the medians per
configuration (length, answer mode, ASR and text models) with library size and load."""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import RESULTS, Service, machine, percentiles, table, upload_and_wait
from bench.needle_report import RUNS, append_run, print_summary
from bench.needle_score import (
    absent_ok,
    contains_answer,
    overlaps,
    rank_of,
    summarize,
    uniform_frames,
)
from bench.realistic import Haystack, build_haystack

TOP_K = 20
GOALS = {"recall@5": 0.85, "speech_recall@5": 0.85, "answer_hit": 0.6, "x_realtime": 6.0}


class LoadSampler:
    """The 1-minute load average every `every_s` while a block runs (mean and max)."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.every_s, self.samples = every_s, [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def report(self) -> dict[str, float]:
        s = self.samples
        return {"mean": round(sum(s) / len(s), 2), "max": round(max(s), 2), "samples": len(s)}


def code_version(code: Path) -> dict[str, Any]:
    """The commit the service ran, and how many product files differed from it."""

    def git(*args: str) -> str:
        p = subprocess.run(["git", "-C", str(code), *args], capture_output=True, text=True)
        return p.stdout.strip()

    changed = git("status", "--porcelain", "--", "app", "indexer", "workers").splitlines()
    return {"commit": git("rev-parse", "--short", "HEAD"), "uncommitted_files": len(changed)}


def ask_needle(client: Any, vid: str, needle: dict[str, Any]) -> dict[str, Any]:
    """Search and ask one needle's question; the row of the results."""
    started = time.perf_counter()
    r = client.post("/v1/search", json={"query": needle["question"], "top_k": TOP_K})
    search_ms = (time.perf_counter() - started) * 1000
    r.raise_for_status()
    hits = r.json()["hits"]
    a = client.post("/v1/ask", json={"question": needle["question"]})
    a.raise_for_status()
    answer = a.json()
    return {
        **{k: needle[k] for k in ("id", "kind", "synthetic", "language", "show", "under_voice")},
        **{k: needle[k] for k in ("start_s", "end_s", "question", "answer_words")},
        "rank": rank_of(hits, needle, vid),
        "search_ms": round(search_ms, 1),
        "top_hits": [
            {
                "span": [h["start_s"], h["end_s"]],
                "evidence": [f"{e['modality']}: {e['text'][:100]}" for e in h["evidence"]][:4],
            }
            for h in hits[:3]
        ],
        "answer_hit": contains_answer(answer["answer"], needle["answer_words"]),
        "citation_hit": any(overlaps(c, needle, vid) for c in answer.get("citations", [])),
        "citations": len(answer.get("citations", [])),
        "answer": answer["answer"][:1500],
    }


def run_once(hay: Haystack, a: argparse.Namespace) -> dict[str, Any]:
    import httpx

    env = {"VIDRAG_LMM__BASE_URLS": a.lmm_url} if a.lmm_url else {}
    code = Path(a.code or Path(__file__).resolve().parents[1])
    version = code_version(code)  # now, as the service starts: a commit made meanwhile is not its
    before = machine()
    with tempfile.TemporaryDirectory(prefix="vidrag-needle-") as tmp:
        data = Path(a.keep_data or Path(tmp) / "data")
        with (
            Service(data, Path(tmp) / "serve.log", code=a.code, **env) as svc,
            httpx.Client(base_url=svc.url, timeout=300) as client,
        ):
            ready = client.get("/readyz").json()
            with LoadSampler() as load:
                body = upload_and_wait(client, hay.path, a.timeout_min * 60)
            rows = [ask_needle(client, body["id"], n) for n in hay.needles]
            absent = []
            for q in hay.meta["absent_questions"]:
                ans = client.post("/v1/ask", json={"question": q}).json()
                absent.append({"question": q, "ok": absent_ok(ans), "answer": ans["answer"][:300]})
            library = client.get("/v1/videos").json()["videos"]
    caps = body["capabilities"]
    return {
        "date": before["date"],
        "code": version,
        "minutes": hay.meta["minutes"],
        "seed": hay.meta["seed"],
        "video": hay.path.name,
        "haystack_key": hay.meta["key"],
        "size": hay.meta["size"],
        "duration_s": hay.duration_s,
        "library": {
            "videos": len(library),
            "hours": round(sum(v["duration_s"] for v in library) / 3600, 2),
        },
        "answer_mode": ready.get("answer_model", "?"),
        "asr": f"{caps['asr'].get('backend', '')} {caps['asr'].get('model', '')}".strip()
        if caps["asr"]["ok"]
        else "off",
        "text_embedder": caps["text"].get("model", "") if caps["text"]["ok"] else "off",
        "capabilities": caps,
        "ingest": {
            "ready_s": body["ready_s"],
            "upload_s": body["upload_s"],
            "x_realtime": round(hay.duration_s / body["ready_s"], 2),
            "clips": body["clip_count"],
        },
        "load": {
            "before": before["load_avg"],
            "during_ingest": load.report(),
            "cores": before["cores"],
        },
        "machine": {k: before[k] for k in ("host", "cores", "memory_gib", "cpu", "gpu")},
        "summary": summarize(rows),
        "absent": absent,
        "uniform_frames": {
            f"{n}": uniform_frames(hay.duration_s, hay.needles, n) for n in (32, 64)
        },
        "search_ms": percentiles([r["search_ms"] for r in rows]),
        "keyframe_aligned_pictures": len(hay.meta["picture_needles_starting_on_a_keyframe"]),
        "needles": rows,
    }


def report(run: dict[str, Any]) -> None:
    s = run["summary"]
    print(
        f"\n{run['minutes']:g}-minute haystack {run['video']}: {len(run['needles'])} needles; "
        f"ASR {run['asr']}; text {run['text_embedder']}; answers: {run['answer_mode']}\n"
        f"ingest {run['ingest']['ready_s']:.0f} s = {run['ingest']['x_realtime']:.1f}x realtime, "
        f"load before {run['load']['before'][0]}, during {run['load']['during_ingest']['mean']} "
        f"(max {run['load']['during_ingest']['max']}) on {run['load']['cores']} cores"
    )
    u32, u64 = run["uniform_frames"]["32"], run["uniform_frames"]["64"]
    print(
        table(
            [
                {"group": g, **v, "frames32": u32.get(g), "frames64": u64.get(g)}
                for g, v in s.items()
            ]
        )
    )
    print(
        "absent questions:",
        ", ".join(f"{x['question']!r} {'ok' if x['ok'] else 'FAILED'}" for x in run["absent"]),
    )
    misses = [r for r in run["needles"] if not r["rank"] or r["rank"] > 5]
    for r in misses:
        top = r["top_hits"][0]["evidence"][:1] if r["top_hits"] else []
        print(f"  miss {r['kind']:6} {r['id']:20} rank {r['rank']}  top: {top}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", nargs="?", default="run", choices=["run", "summary"])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--runs", type=int, default=1, help="repeat the run (one line each)")
    ap.add_argument("--testdata", type=Path, help="real media (default: ../shared/testdata)")
    ap.add_argument("--code", type=Path, help="run the service from this checkout")
    ap.add_argument("--lmm-url", help="an OpenAI-compatible server for answers (default: none)")
    ap.add_argument("--keep-data", type=Path, help="index into this directory and keep it")
    ap.add_argument("--timeout-min", type=float, default=120.0, help="upload to ready")
    ap.add_argument("--results", type=Path, default=RESULTS / RUNS)
    a = ap.parse_args()
    if a.command == "summary":
        print_summary(a.results)
        return
    w, h = (int(x) for x in a.size.split("x"))
    started = time.perf_counter()
    hay = build_haystack(a.minutes, a.seed, size=(w, h), testdata=a.testdata)
    if time.perf_counter() - started > 5:
        print(f"built {hay.path.name} in {time.perf_counter() - started:.0f} s", flush=True)
    for _ in range(a.runs):
        run = run_once(hay, a)
        report(run)
        print(f"appended to {append_run(a.results, run)}")


if __name__ == "__main__":
    main()
