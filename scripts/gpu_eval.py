"""Measure cited answers end to end on a GPU host: build a needle haystack video, index it, ask
each needle's question through the `Answerer` (vLLM), and print time to first token and accuracy.

    # against a running vLLM (e.g. the compose service, port published)
    python scripts/gpu_eval.py --vllm-url http://127.0.0.1:8000/v1 --minutes 10
    # or start one (vLLM installed in its own environment, `vllm` on PATH)
    python scripts/gpu_eval.py --start-vllm --model Qwen/Qwen2.5-VL-7B-Instruct

A needle counts as answered when the answer contains its answer words, and as cited when a kept
citation overlaps its time span; `retrieved` says whether any top-k hit overlapped it. Prints a
table, then one JSON object (also written to --json)."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a file from anywhere
    sys.path.insert(0, str(REPO))

from app.answer.lmm import LMMClient, LMMError  # noqa: E402
from app.answer.service import Answerer  # noqa: E402
from app.answer.settings import LMMSettings  # noqa: E402
from indexer.types import Hit  # noqa: E402


@dataclass
class Row:
    kind: str
    query: str
    span: tuple[float, float]
    retrieved: bool
    words_ok: bool
    cited_ok: bool
    citations: int
    dropped_citations: int
    retrieve_ms: float
    first_token_ms: float | None
    total_ms: float
    model: str
    degraded: str | None
    answer: str


def overlaps(a0: float, a1: float, b0: float, b1: float) -> bool:
    return a0 < b1 and b0 < a1


async def evaluate(
    answerer: Answerer,
    search: Callable[[str], list[Hit]],
    needles: Sequence[Any],
    video_id: str,
    titles: dict[str, str],
) -> list[Row]:
    """Ask every needle's question; `needles` have kind, start_s, end_s, query, answer_words."""
    rows = []
    for n in needles:
        t0 = time.perf_counter()
        hits = search(n.query)
        retrieve_ms = round((time.perf_counter() - t0) * 1000, 1)
        r = await answerer.answer(n.query, hits, titles, timings={"retrieve": retrieve_ms})
        low = r.answer.lower()
        rows.append(
            Row(
                kind=n.kind,
                query=n.query,
                span=(n.start_s, n.end_s),
                retrieved=any(
                    h.video_id == video_id and overlaps(h.start_s, h.end_s, n.start_s, n.end_s)
                    for h in hits
                ),
                words_ok=all(w.lower() in low for w in n.answer_words),
                cited_ok=any(
                    c["video_id"] == video_id
                    and overlaps(c["start_s"], c["end_s"], n.start_s, n.end_s)
                    for c in r.citations
                ),
                citations=len(r.citations),
                dropped_citations=r.dropped_citations,
                retrieve_ms=retrieve_ms,
                first_token_ms=r.timings_ms.get("first_token"),
                total_ms=r.timings_ms["total"],
                model=r.model,
                degraded=r.degraded,
                answer=r.answer,
            )
        )
    return rows


def summarize(rows: Sequence[Row]) -> dict[str, Any]:
    ttft = [r.first_token_ms for r in rows if r.first_token_ms is not None]
    n = max(1, len(rows))
    return {
        "needles": len(rows),
        "retrieved": sum(r.retrieved for r in rows) / n,
        "answer_words": sum(r.words_ok for r in rows) / n,
        "cited": sum(r.cited_ok for r in rows) / n,
        "dropped_citations": sum(r.dropped_citations for r in rows),
        "degraded": sum(r.degraded is not None for r in rows),
        "first_token_ms_median": statistics.median(ttft) if ttft else None,
        "first_token_ms_max": max(ttft) if ttft else None,
        "total_ms_median": statistics.median([r.total_ms for r in rows]) if rows else None,
    }


def render_table(rows: Sequence[Row]) -> str:
    head = (
        f"{'kind':<7} {'span':>15} {'retr':>4} {'words':>5} {'cite':>4} {'ttft ms':>8} "
        f"{'total ms':>8}  query"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        ttft = f"{r.first_token_ms:.0f}" if r.first_token_ms is not None else "-"
        span = f"{r.span[0]:.1f}–{r.span[1]:.1f}"
        lines.append(
            f"{r.kind:<7} {span:>15} {_yn(r.retrieved):>4} {_yn(r.words_ok):>5} "
            f"{_yn(r.cited_ok):>4} {ttft:>8} {r.total_ms:>8.0f}  {r.query[:60]}"
            + (f"  [degraded: {r.degraded[:60]}]" if r.degraded else "")
        )
    return "\n".join(lines)


def _yn(b: bool) -> str:
    return "yes" if b else "no"


async def wait_ready(
    lmm: LMMSettings, timeout_s: float, proc: subprocess.Popen[bytes] | None, poll_s: float = 5.0
) -> list[str]:
    """Poll `GET /models` until the server lists `lmm.model`; raises RuntimeError when `proc`
    exits or `timeout_s` passes."""
    client = LMMClient(lmm)
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"vLLM exited with {proc.returncode} while starting")
        try:
            models = await client.list_models()
            if lmm.model in models:
                return models
            last = f"serving {models}, not {lmm.model!r}"
        except LMMError as e:
            last = e.message
        await asyncio.sleep(poll_s)
    raise RuntimeError(f"vLLM not ready after {timeout_s:.0f}s: {last}")


def start_vllm(args: argparse.Namespace, lmm: LMMSettings) -> subprocess.Popen[bytes]:
    cmd = [
        args.vllm_bin,
        "serve",
        lmm.model,
        "--host",
        "127.0.0.1",
        "--port",
        str(args.port),
        *lmm.vllm_args(),
        "--gpu-memory-utilization",
        str(args.gpu_memory_utilization),
    ]
    print("starting:", " ".join(cmd), file=sys.stderr)
    return subprocess.Popen(cmd)


def index_haystack(args: argparse.Namespace, data_dir: Path) -> tuple[Any, str, Any]:
    """Build (or reuse) the haystack, index it; returns (haystack, video_id, searcher)."""
    from bench.haystack import build_haystack
    from indexer.pipeline import Indexer
    from indexer.retrieve import Searcher
    from indexer.settings import Settings
    from indexer.store import Library

    dest = args.haystack or data_dir / f"haystack-{args.minutes:g}m-seed{args.seed}.mp4"
    from bench.common import SHARED

    hay = build_haystack(
        Path(dest),
        args.minutes * 60,
        seed=args.seed,
        needles_per_kind=args.needles_per_kind,
        testdata=SHARED / "testdata",
    )
    settings = Settings(data_dir=data_dir)
    indexer = Indexer(settings)
    library = Library(settings.videos_dir)
    t0 = time.perf_counter()
    manifest = indexer.accept(hay.path, library, move=False)
    manifest = indexer.run(library.store(manifest.id))
    print(
        f"indexed {manifest.id} ({hay.duration_s:.0f} s of video) in "
        f"{time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    return hay, manifest.id, Searcher(library, indexer.extractors, settings)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--vllm-url", action="append", help="OpenAI base URL(s) ending in /v1")
    src.add_argument("--start-vllm", action="store_true", help="start `vllm serve` here")
    ap.add_argument("--model", default=LMMSettings().model)
    ap.add_argument("--api-key", default=None)
    ap.add_argument("--vllm-bin", default="vllm")
    ap.add_argument("--port", type=int, default=8011)
    ap.add_argument("--gpu-memory-utilization", type=float, default=0.6)
    ap.add_argument("--startup-timeout", type=float, default=1800.0)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--needles-per-kind", type=int, default=1)
    ap.add_argument("--haystack", type=Path, default=None, help="where the video is built")
    ap.add_argument("--data-dir", type=Path, default=None, help="library (default: a temp dir)")
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    urls = args.vllm_url or [f"http://127.0.0.1:{args.port}/v1"]
    lmm = LMMSettings(base_urls=urls, model=args.model, api_key=args.api_key)
    proc = start_vllm(args, lmm) if args.start_vllm else None
    try:
        data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="vidrag-gpu-eval-"))
        hay, video_id, searcher = index_haystack(args, data_dir)
        asyncio.run(wait_ready(lmm, args.startup_timeout, proc))
        answerer = Answerer(lmm, searcher.library)
        rows = asyncio.run(
            evaluate(
                answerer,
                lambda q: searcher.search(q, [video_id], args.top_k),
                hay.needles,
                video_id,
                {video_id: "haystack"},
            )
        )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(60)
    print(render_table(rows))
    result = {
        "model": lmm.model,
        "video_s": hay.duration_s,
        "summary": summarize(rows),
        "rows": [asdict(r) for r in rows],
    }
    text = json.dumps(result, indent=1, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
