"""Search latency, memory and recall at library sizes of 1, 100 and 1,000 hours.

    .venv/bin/python -m bench.search                   # all sizes; table, JSON, PNG plot
    .venv/bin/python -m bench.search --hours 1 100     # some sizes only

Each size is a library of 1-hour videos (360 clips of 10 s) written through the real index code
(`write_video_index`) and searched through the real `Searcher`, i.e. what `POST /v1/search`
runs after embedding the query: BM25 over the clips' evidence (words and sub-word forms),
dense search over their text and frame vectors, rank fusion, and the hits' evidence. Each clip
holds what production writes: four text vectors (the whole clip, its speech, its on-screen text
and its objects line, embedded apart) and ten frame vectors (one per second). The libraries
are kept in bench/.cache/search/.

The vectors are not uniform noise (IVF recall on uniform random vectors says nothing): each
clip belongs to one of many topics, and its 384-d vector is the topic's centre plus Gaussian
noise (cosine to the centre ~0.7, as sentence embeddings of one subject); its text holds some of
its topic's words among Zipf-distributed filler words. Queries are new draws from the same
topics. Recall@10 compares the index type chosen for the size (exact flat up to
`index.flat_max` vectors, IVF above) with exact inner-product search (FAISS FlatIP) over the
same vectors: the library's, and a harder set of nested topics (`nested`). Both are cleaner
clusters than real sentence embeddings, so the recall is an upper bound. Query embedding with
the real MiniLM is timed separately (it is the same cost at every size). Each size runs in its
own process so its memory figure is its own."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    CACHE,
    RESULTS,
    bench_settings,
    machine,
    percentiles,
    quotable,
    rss_mb,
    save,
    table,
)

DIM = 384
CLIPS_PER_HOUR = 360
TOPICS = 4096
NOISE = 1.0  # noise norm relative to the unit centre: cosine to the centre ~0.7
VOCAB = 20_000
TOPIC_WORDS = 12
MODEL = "bench-mixture-384"  # the text model named in the indexes; the Searcher must match it
FORMAT = 2  # bump when the generator changes: cached libraries are rebuilt
# as production writes them: per clip its whole evidence, speech, on-screen text and objects
# embedded apart (indexer/clip_texts.py), and one frame vector per second (10 s clips)
TEXT_VECTORS_PER_CLIP = 4
FRAMES_PER_CLIP = 10
FRAME_DIM = 512
OBJECT_TOPICS = 64  # objects lines repeat ("2 person, 1 chair"): few distinct vectors
FRAME_MODEL = "bench-frames-512"


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class Mixture:
    """The topics: centres and words, fixed by seed 0 for every library size."""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.centres = _unit(rng.standard_normal((TOPICS, DIM), dtype=np.float32))
        self.topic_words = rng.integers(0, VOCAB, size=(TOPICS, TOPIC_WORDS))
        zipf = 1.0 / np.arange(1, VOCAB + 1)
        self.zipf = zipf / zipf.sum()

    def draw(self, rng: np.random.Generator, topics: np.ndarray) -> np.ndarray:
        noise = rng.standard_normal((len(topics), DIM), dtype=np.float32) * (NOISE / DIM**0.5)
        return _unit(self.centres[topics] + noise)

    def text(self, rng: np.random.Generator, topic: int, n_topic: int, n_filler: int) -> str:
        words = list(rng.choice(self.topic_words[topic], n_topic, replace=False))
        words += list(rng.choice(VOCAB, n_filler, p=self.zipf))
        rng.shuffle(words)
        return " ".join(f"w{w}" for w in words)


def video(mix: Mixture, v: int) -> tuple[list[Any], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The clips of synthetic video `v` (same for every library holding it), its text vectors
    (TEXT_VECTORS_PER_CLIP per clip, the clip of each) and frame vectors (the clip of each)."""
    from indexer.types import Clip, ClipDoc, Evidence

    rng = np.random.default_rng(1000 + v)
    topics = rng.integers(0, TOPICS, CLIPS_PER_HOUR)
    # the whole clip, its speech and its on-screen text near the clip's topic; objects lines
    # near one of a few object topics
    text = np.stack([mix.draw(rng, topics) for _ in range(TEXT_VECTORS_PER_CLIP - 1)], axis=1)
    objects = mix.draw(rng, rng.integers(0, OBJECT_TOPICS, CLIPS_PER_HOUR))
    text_vecs = np.concatenate([text, objects[:, None, :]], axis=1).reshape(-1, DIM)
    text_clip = np.repeat(np.arange(CLIPS_PER_HOUR), TEXT_VECTORS_PER_CLIP)
    frame_topics = np.repeat(topics, FRAMES_PER_CLIP)
    frames = rng.standard_normal((len(frame_topics), FRAME_DIM), dtype=np.float32) * 0.03
    frames[np.arange(len(frame_topics)), frame_topics % FRAME_DIM] += 1.0
    frame_vecs = _unit(frames)
    frame_clip = np.repeat(np.arange(CLIPS_PER_HOUR), FRAMES_PER_CLIP)
    clips = []
    for i, t in enumerate(topics):
        a, b = 10.0 * i, 10.0 * i + 10.0
        ev = [
            Evidence(modality="speech", text=mix.text(rng, int(t), 6, 20), start_s=a, end_s=b),
            Evidence(modality="objects", text="2 person (left), 1 chair", start_s=a, end_s=b),
        ]
        if i % 4 == 0:
            ocr = mix.text(rng, int(t), 2, 3)
            ev.append(Evidence(modality="ocr", text=ocr, start_s=a, end_s=b))
        frames_ = [f"frames/{round(1000 * (a + k)):010d}.jpg" for k in range(10)]
        clips.append(ClipDoc(clip=Clip(index=i, start_s=a, end_s=b), evidence=ev, frames=frames_))
    return clips, text_vecs, text_clip, frame_vecs, frame_clip


def library_dir(hours: int) -> Path:
    return CACHE / "search" / f"{hours}h"


def build_library(hours: int, mix: Mixture) -> tuple[Path, float]:
    """Write (once) a library of `hours` one-hour videos; returns its data dir and build seconds."""
    from indexer.index import write_video_index
    from indexer.store import Library

    root = library_dir(hours)
    stamp = root / "built.json"
    want = {"format": FORMAT, "hours": hours, "topics": TOPICS, "noise": NOISE, "dim": DIM}
    if stamp.exists() and json.loads(stamp.read_text()).get("spec") == want:
        return root, float(json.loads(stamp.read_text())["seconds"])
    if root.exists():
        import shutil

        shutil.rmtree(root)
    settings = bench_settings(root)
    library = Library(settings.videos_dir)
    started = time.perf_counter()
    for v in range(hours):
        clips, vecs, text_clip, frame_vecs, frame_clip = video(mix, v)
        store = library.store(f"v{v:05d}")
        store.write_json("video.json", {"id": f"v{v:05d}"})
        meta = {"text_model": MODEL, "frames_model": FRAME_MODEL}
        write_video_index(
            store, clips, vecs, frame_vecs, frame_clip, settings.index, meta, text_clip=text_clip
        )
        if hours >= 100 and (v + 1) % 100 == 0:
            print(f"  wrote {v + 1}/{hours} videos", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - started
    stamp.write_text(json.dumps({"spec": want, "seconds": round(seconds, 1)}))
    return root, seconds


class QueryEmbedder:
    """Stands in for the text embedder: returns the vector drawn for each bench query (the real
    MiniLM's cost is measured on its own), so dense search sees vectors with the data's
    structure. Unknown texts (the Searcher's warm-up) get a random unit vector."""

    name = "bench"
    model = MODEL

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors

    def embed(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        rng = np.random.default_rng(0)
        return np.stack(
            [self.vectors.get(t, _unit(rng.standard_normal(DIM, dtype=np.float32))) for t in texts]
        )


class OnlyText:
    """The Extractors surface the Searcher uses, with just the query embedder above."""

    def __init__(self, embedder: QueryEmbedder) -> None:
        self.embedder = embedder

    def get(self, kind: str) -> Any:
        return {"text": self.embedder, "frames": FrameQueries()}.get(kind)

    def status(self, kind: str) -> Any:
        from indexer.extractors.base import Availability

        if kind == "text":
            return Availability(True, "bench", MODEL)
        if kind == "frames":
            return Availability(True, "bench", FRAME_MODEL)
        return Availability(False, kind, "", "off in this bench")


class FrameQueries:
    """The CLIP text tower's place: a query's frame-space vector (random: timing only)."""

    name, model = "bench", FRAME_MODEL

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        rng = np.random.default_rng(abs(hash(tuple(texts))) % 2**32)
        return _unit(rng.standard_normal((len(texts), FRAME_DIM), dtype=np.float32))

    def mark_failed(self, kind: str, reason: str) -> None:
        raise RuntimeError(f"{kind} failed: {reason}")


def queries(mix: Mixture, n: int, seed: int) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    topics = rng.integers(0, TOPICS, n)
    vecs = mix.draw(rng, topics)
    return [(f"{mix.text(rng, int(t), 2, 2)} q{i}", vecs[i]) for i, t in enumerate(topics)]


def nested(n: int, n_queries: int) -> tuple[np.ndarray, np.ndarray]:
    """A harder set for recall: 64 broad subjects, 64 topics each around its subject (cosine
    between topics of one subject ~0.5), points around their topic. Near neighbours then span
    several topics and IVF list borders cut through dense regions, as in real embeddings."""
    rng = np.random.default_rng(5)
    broad = _unit(rng.standard_normal((64, DIM), dtype=np.float32))
    offsets = _unit(rng.standard_normal((64 * 64, DIM), dtype=np.float32))
    topics = _unit(np.repeat(broad, 64, axis=0) + offsets)
    picks = rng.integers(0, len(topics), n + n_queries)
    noise = rng.standard_normal((n + n_queries, DIM), dtype=np.float32) * (NOISE / DIM**0.5)
    x = _unit(topics[picks] + noise)
    return x[:n], x[n:]


def measure_size(hours: int, n_queries: int, n_recall: int) -> dict[str, Any]:
    """Build or reuse the library of `hours`, then time searches and measure recall."""
    import faiss

    from indexer.index import VectorIndex
    from indexer.retrieve import Searcher
    from indexer.store import Library

    mix = Mixture()
    root, build_s = build_library(hours, mix)
    settings = bench_settings(root)
    qs = queries(mix, n_queries, seed=7)
    emb = QueryEmbedder(dict(qs))
    rss0 = rss_mb()
    searcher = Searcher(Library(settings.videos_dir), OnlyText(emb), settings)  # type: ignore[arg-type]
    started = time.perf_counter()
    searcher.warm_up()
    load_s = time.perf_counter() - started
    rss_loaded = rss_mb()
    ids = sorted(p.name for p in settings.videos_dir.iterdir() if not p.name.startswith("."))

    def timed(select: Any) -> dict[str, float]:
        lat = []
        for i, (q, _) in enumerate(qs):
            t = time.perf_counter()
            hits = searcher.search(q, select(i), 10)
            lat.append((time.perf_counter() - t) * 1000)
            assert hits, q
        return percentiles(lat)

    timed(lambda i: None)  # first pass: caches warm as in a running service
    lat_all = timed(lambda i: None)
    lat_one = timed(lambda i: [ids[i % len(ids)]])
    rss_searched = rss_mb()

    # recall@10 of the index type chosen for this size against exact search over the same
    # vectors: the library's own, and a harder set of nested topics (below)
    recall: dict[str, dict[str, float]] = {}
    kind, nlist, index_build_s = "", 1, 0.0
    for name, vecs, qv in (
        ("topics", np.concatenate([video(mix, v)[1] for v in range(hours)]),  # 4 per clip
         np.stack([v for _, v in queries(mix, n_recall, seed=11)])),
        ("nested topics", *nested(hours * CLIPS_PER_HOUR * TEXT_VECTORS_PER_CLIP, n_recall)),
    ):  # fmt: skip
        started = time.perf_counter()
        chosen = VectorIndex.build(vecs, np.arange(len(vecs), dtype=np.int64), settings.index)
        index_build_s = max(index_build_s, time.perf_counter() - started)
        kind, nlist = chosen.kind, chosen.nlist
        exact = faiss.IndexFlatIP(DIM)
        exact.add(vecs)
        _, truth = exact.search(qv, 10)
        recall[name] = {}
        probes = [None] if chosen.kind == "flat" else [8, settings.index.nprobe, 32, 64]
        for nprobe in probes:
            _, got = chosen.search(qv, 10, nprobe=nprobe)
            r = np.mean([len(set(g) & set(t)) / 10 for g, t in zip(got, truth, strict=True)])
            recall[name]["exact" if nprobe is None else f"nprobe {nprobe}"] = round(float(r), 4)
        del chosen, exact, vecs
    return {
        "hours": hours,
        "videos": hours,
        "clips": hours * CLIPS_PER_HOUR,
        "text_vectors": hours * CLIPS_PER_HOUR * TEXT_VECTORS_PER_CLIP,
        "frame_vectors": hours * CLIPS_PER_HOUR * FRAMES_PER_CLIP,
        "index_kind": kind,
        "nlist": nlist,
        "nprobe": settings.index.nprobe if kind != "flat" else None,
        "library_build_s": round(build_s, 1),
        "searcher_load_s": round(load_s, 1),
        "vector_index_build_s": round(index_build_s, 2),
        "latency_ms_all_videos": lat_all,
        "latency_ms_one_video": lat_one,
        "rss_mb": {
            "before_load": round(rss0),
            "loaded": round(rss_loaded),
            "after_searches": round(rss_searched),
            "library_index": round(rss_searched - rss0),
        },
        "recall_at_10": recall,
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


def query_embedding(n: int = 200) -> dict[str, Any]:
    """Latency of embedding one query with the real text embedder (MiniLM offline)."""
    from indexer.extractors import Extractors

    settings = bench_settings(CACHE / "search" / "unused")
    ex = Extractors(settings)
    started = time.perf_counter()
    emb = ex.get("text")
    if emb is None:
        return {"off": ex.status("text").reason}
    emb.embed(["warm up"], query=True)
    load_s = time.perf_counter() - started
    mix = Mixture()
    rng = np.random.default_rng(3)
    words = ["where", "does", "the", "speaker", "show", "red", "car", "chart", "code", "sign"]
    texts = [" ".join(rng.choice(words, 6)) + f" {mix.text(rng, 1, 1, 1)}" for _ in range(n)]
    lat = []
    for t in texts:
        s = time.perf_counter()
        emb.embed([t], query=True)
        lat.append((time.perf_counter() - s) * 1000)
    st = ex.status("text")
    return {
        "backend": st.backend,
        "model": st.model,
        "load_s": round(load_s, 1),
        "latency_ms": percentiles(lat),
    }


def plot(sizes: list[dict[str, Any]], embed: dict[str, Any], dest: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = [s["hours"] for s in sizes]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for key, label, style in (
        ("latency_ms_all_videos", "whole library", "o-"),
        ("latency_ms_one_video", "one video (video_ids)", "s--"),
    ):
        ax.plot(hours, [s[key]["p50"] for s in sizes], style, label=f"{label}, p50")
        ax.plot(hours, [s[key]["p99"] for s in sizes], style, alpha=0.45, label=f"{label}, p99")
    if "latency_ms" in embed:
        ax.axhline(
            embed["latency_ms"]["p50"],
            color="grey",
            ls=":",
            label=f"+ query embedding (MiniLM), p50 {embed['latency_ms']['p50']:.0f} ms",
        )
    for s in sizes:
        ax.annotate(
            s["index_kind"],
            (s["hours"], s["latency_ms_all_videos"]["p50"]),
            textcoords="offset points",
            xytext=(4, -12),
            fontsize=8,
        )
    ax.set_xscale("log")
    ax.set_xlabel("library size (hours of video; 360 clips per hour)")
    ax.set_ylabel("search latency (ms, top 10, excl. embedding)")
    ax.set_title("vidrag search latency vs library size (2-core CPU)")
    ax.set_ylim(bottom=0)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(dest)
    plt.close(fig)


def _recall(size: dict[str, Any], name: str) -> float:
    r = size["recall_at_10"][name]
    return float(r["exact"] if size["index_kind"] == "flat" else r[f"nprobe {size['nprobe']}"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=int, nargs="+", default=[1, 100, 1000])
    ap.add_argument("--queries", type=int, default=500, help="timed searches per size and kind")
    ap.add_argument("--recall-queries", type=int, default=500)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)  # one size, JSON on stdout
    a = ap.parse_args()
    if a.child is not None:
        print(json.dumps(measure_size(a.child, a.queries, a.recall_queries)))
        return

    before = machine()
    sizes = []
    for hours in a.hours:
        print(f"{hours} h ...", file=sys.stderr, flush=True)
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.search",
                "--child",
                str(hours),
                "--queries",
                str(a.queries),
                "--recall-queries",
                str(a.recall_queries),
            ],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        sizes.append(json.loads(out.stdout.strip().splitlines()[-1]))
    embed = query_embedding()
    rows = [
        {
            "hours": s["hours"],
            "clips": s["clips"],
            "index": s["index_kind"] + (f" (nlist {s['nlist']})" if s["nlist"] > 1 else ""),
            "p50_ms": s["latency_ms_all_videos"]["p50"],
            "p99_ms": s["latency_ms_all_videos"]["p99"],
            "1video_p50": s["latency_ms_one_video"]["p50"],
            "1video_p99": s["latency_ms_one_video"]["p99"],
            "index_MB": s["rss_mb"]["library_index"],
            "load_s": s["searcher_load_s"],
            "recall@10": _recall(s, "topics"),
            "recall@10 nested": _recall(s, "nested topics"),
        }
        for s in sizes
    ]
    print(table(rows))
    for s in sizes:
        if s["index_kind"] != "flat":
            print(f"recall@10 at {s['hours']} h by nprobe: {s['recall_at_10']}")
    if "latency_ms" in embed:
        e = embed["latency_ms"]
        print(
            f"query embedding ({embed['backend']} {embed['model']}): p50 {e['p50']} ms, "
            f"p99 {e['p99']} ms, load {embed['load_s']} s"
        )
    after = [round(x, 2) for x in os.getloadavg()]
    report = {
        "machine": before,
        "load_avg_after": after,
        "quotable": quotable(before["load_avg"]) and quotable(after),
        "method": {
            "clips_per_hour": CLIPS_PER_HOUR,
            "dim": DIM,
            "topics": TOPICS,
            "noise": NOISE,
            "queries": a.queries,
            "recall_queries": a.recall_queries,
            "top_k": 10,
        },
        "sizes": sizes,
        "query_embedding": embed,
        "table": rows,
    }
    png = RESULTS / "search_latency.png"
    if [s["hours"] for s in sizes] == [1, 100, 1000] and not any(
        k.startswith("VIDRAG_INDEX__") for k in os.environ
    ):
        plot(sizes, embed, png)
        report["plot"] = png.name
        print(f"plot {png}")
    # a partial run or one with changed index settings must not replace the reference figures
    knobs = {k: v for k, v in os.environ.items() if k.startswith("VIDRAG_INDEX__")}
    report["env"] = knobs
    full = [s["hours"] for s in sizes] == [1, 100, 1000] and not knobs
    print(f"saved {save('search' if full else 'search-custom', report)}")


if __name__ == "__main__":
    main()
