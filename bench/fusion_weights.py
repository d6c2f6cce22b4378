"""Fusion weights chosen on real recordings: the needle library a `bench.needle` run kept.

    .venv/bin/python -m bench.needle --minutes 60 --keep-data /tmp/lib60     # index, keep it
    .venv/bin/python -m bench.fusion_weights /tmp/lib60                       # rank and choose

Each needle's question is asked once of every ranking the Searcher fuses (keyword, sub-word,
dense text), in-process with the service's own code, and the rankings are kept; then every
weight combination of the grid is fused and scored by the rank of the first clip overlapping
the needle (recall@1/@5, MRR). Choosing on the same needles that report the result would tune
the weights to them, so the needles are split in two folds (alternating by catalog order within
each kind): the weights are chosen on one fold and scored on the other, both ways round. Weights
that win on both folds are worth a default; the per-ranking recall says which ranking finds
what. Results are appended to bench/results/fusion_weights.jsonl."""

from __future__ import annotations

import argparse
import itertools
import json
import os
from pathlib import Path
from typing import Any

from bench.common import RESULTS, bench_settings
from bench.needle_report import RUNS, read_runs
from bench.needle_score import overlaps
from indexer.search.fusion import reciprocal_rank_fusion

OUT = RESULTS / "fusion_weights.jsonl"
DEPTH = 50
KEYWORD = (0.5, 1.0, 1.5, 2.0)
SUBWORD = (0.0, 0.25, 0.5, 1.0, 1.5)
TEXT = (0.0, 0.5, 1.0, 1.5)
RRF_K = (10, 30, 60)


def rankings(library: Path, needles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per needle: each ranking's clips (best first) and the clips on the needle."""
    from indexer.extractors import Extractors
    from indexer.search.searcher import Searcher
    from indexer.store import Library

    settings = bench_settings(library)  # the service's offline defaults
    searcher = Searcher(Library(library / "videos"), Extractors(settings), settings)
    searcher.warm_up()
    out = []
    for n in needles:
        ranked = searcher.rankings(n["question"], DEPTH)
        hits = itertools.chain(*ranked.values())
        right = {
            (h.video_id, h.clip_index) for h in hits if overlaps(h.model_dump(), n, h.video_id)
        }
        keys = {name: [(h.video_id, h.clip_index) for h in hs] for name, hs in ranked.items()}
        out.append({"id": n["id"], "kind": n["kind"], "ranked": keys, "right": right})
    return out


def run_of(library: Path, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The latest recorded run over the video this library holds (its needles and spans)."""
    titles = {
        json.loads(p.read_text(encoding="utf-8")).get("title")
        for p in (library / "videos").glob("*/video.json")
    }
    mine = [r for r in runs if Path(r["video"]).stem in titles]
    if not mine:
        raise SystemExit(f"no recorded needle run over the video in {library}")
    return mine[-1]


def rank_fused(r: dict[str, Any], weights: dict[str, float], k: int) -> int | None:
    used = [(w, r["ranked"][name]) for name, w in weights.items() if w > 0 and name in r["ranked"]]
    fused = reciprocal_rank_fusion([x for _, x in used], k=k, weights=[w for w, _ in used])
    return next((i for i, (clip, _) in enumerate(fused[:20], 1) if clip in r["right"]), None)


def score(rows: list[dict[str, Any]], weights: dict[str, float], k: int) -> dict[str, float]:
    ranks = [rank_fused(r, weights, k) for r in rows]
    n = max(len(ranks), 1)
    return {
        "recall@1": round(sum(x == 1 for x in ranks) / n, 3),
        "recall@5": round(sum(bool(x and x <= 5) for x in ranks) / n, 3),
        "mrr": round(sum(1 / x for x in ranks if x) / n, 3),
    }


def grid() -> list[tuple[dict[str, float], int]]:
    return [
        ({"keyword": kw, "subword": sw, "text": tx}, k)
        for kw, sw, tx, k in itertools.product(KEYWORD, SUBWORD, TEXT, RRF_K)
    ]


def best_on(rows: list[dict[str, Any]]) -> tuple[dict[str, float], int, dict[str, float]]:
    """The grid point with the best recall@5, then MRR (first in grid order among equals)."""
    scored = [(w, k, score(rows, w, k)) for w, k in grid()]
    return max(scored, key=lambda x: (x[2]["recall@5"], x[2]["mrr"]))


def folds(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    a: list[dict[str, Any]] = []
    b: list[dict[str, Any]] = []
    for kind in sorted({r["kind"] for r in rows}):
        for i, r in enumerate(x for x in rows if x["kind"] == kind):
            (a if i % 2 == 0 else b).append(r)
    return a, b


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("library", type=Path, help="a data dir kept by bench.needle --keep-data")
    ap.add_argument("--runs", type=Path, default=RESULTS / RUNS, help="needle runs (last used)")
    ap.add_argument("--current", default="1,1,1,10", help="keyword,subword,text,rrf_k now")
    a = ap.parse_args()
    run = run_of(a.library, read_runs(a.runs))
    rows = rankings(a.library, run["needles"])
    kw, sw, tx, k = (float(x) for x in a.current.split(","))
    current = ({"keyword": kw, "subword": sw, "text": tx}, int(k))
    alone = {name: score(rows, {name: 1.0}, 10) for name in ("keyword", "subword", "text")}
    fa, fb = folds(rows)
    cross = []
    for train, test, label in ((fa, fb, "A→B"), (fb, fa, "B→A")):
        w, kk, on_train = best_on(train)
        cross.append(
            {
                "fold": label,
                "weights": w,
                "rrf_k": kk,
                "train": on_train,
                "test": score(test, w, kk),
                "current_on_test": score(test, *current),
            }
        )
    report = {
        "video": run["video"],
        "needles": len(rows),
        "load": [round(x, 2) for x in os.getloadavg()],
        "alone": alone,
        "current": {"weights": current[0], "rrf_k": current[1], **score(rows, *current)},
        "cross": cross,
    }
    print(json.dumps(report, indent=1))
    with OUT.open("a", encoding="utf-8") as f:
        f.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
