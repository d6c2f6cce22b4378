"""The hand-written BM25 (indexer/search/keyword.py) against bm25s, the maintained sparse-matrix
BM25 library, on the same tokens: build time, memory, query latency and top-10 agreement at
100k-1M documents.

Documents are 25 words drawn from English word frequencies (wordninja's ranked word list,
Zipf-distributed, as speech transcripts of 10-second clips are); queries are three words of a
random document. Both engines score Lucene BM25 with k1=1.2, b=0.75.

    python -m bench.keyword_engines [--docs 100000,300000,1000000] [--queries 200]

Needs `pip install bm25s` (not a dependency of vidrag). Appends to
bench/results/keyword_engines.jsonl."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "keyword_engines.jsonl"


def corpus(n_docs: int, seed: int = 0, words: int = 25) -> list[list[str]]:
    import wordninja

    costs = wordninja.DEFAULT_LANGUAGE_MODEL._wordcost
    vocab = np.array(sorted(costs, key=costs.__getitem__)[:60_000])
    rng = np.random.default_rng(seed)
    ranks = rng.zipf(1.1, size=n_docs * words * 2)
    ranks = ranks[ranks <= len(vocab)][: n_docs * words] - 1
    return vocab[ranks].reshape(n_docs, words).tolist()


def ours(docs: list[list[str]]):
    from indexer.search.keyword import KeywordIndex
    from indexer.search.tokens import Analysis

    kw = KeywordIndex.build_analyzed([[Analysis(d, [], "en")] for d in docs], np.arange(len(docs)))
    kw.prepare_search()
    return kw


def run(n_docs: int, n_queries: int) -> dict:
    import bm25s

    from indexer.search.bm25 import bm25_search

    docs = corpus(n_docs)
    rng = np.random.default_rng(1)
    queries = [
        list(rng.choice(docs[i], 3, replace=False)) for i in rng.integers(0, n_docs, n_queries)
    ]
    t = time.perf_counter()
    kw = ours(docs)
    ours_build = time.perf_counter() - t
    ours_bytes = sum(a.nbytes for a in (kw.indptr, kw.doc, kw.tf, kw.ids, kw.doc_len))
    ours_bytes += sum(a.nbytes for a in kw.posting_ids_lens)
    t = time.perf_counter()
    retriever = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    retriever.index(docs, show_progress=False)
    bm_build = time.perf_counter() - t
    bm_bytes = sum(v.nbytes for v in retriever.scores.values() if hasattr(v, "nbytes"))
    lat_ours, lat_bm, overlap = [], [], []
    for q in queries:
        t = time.perf_counter()
        mine = bm25_search(
            [kw],
            [((w, 1.0),) for w in dict.fromkeys(q)],
            10,
            n_docs=kw.n_docs,
            avg_len=kw.avg_len,
            n_ids=kw.n_docs,
        )
        lat_ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        ids, _ = retriever.retrieve([q], k=10, show_progress=False, n_threads=1)
        lat_bm.append(time.perf_counter() - t)
        a, b = {i for i, _ in mine}, set(ids[0].tolist())
        overlap.append(len(a & b) / max(len(b), 1))

    def ms(x: list[float], p: int) -> float:
        return round(1000 * float(np.percentile(x, p)), 2)

    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "docs": n_docs,
        "load": round(os.getloadavg()[0], 2),
        "ours": {
            "build_s": round(ours_build, 1),
            "mb": round(ours_bytes / 2**20),
            "p50_ms": ms(lat_ours, 50),
            "p99_ms": ms(lat_ours, 99),
        },
        "bm25s": {
            "build_s": round(bm_build, 1),
            "mb": round(bm_bytes / 2**20),
            "p50_ms": ms(lat_bm, 50),
            "p99_ms": ms(lat_bm, 99),
        },
        "top10_agreement": round(float(np.mean(overlap)), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", default="100000,300000,1000000")
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    for n in (int(x) for x in args.docs.split(",")):
        row = run(n, args.queries)
        print(json.dumps(row))
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with RESULTS.open("a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
