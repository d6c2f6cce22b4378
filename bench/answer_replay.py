"""The extractive answer on real recordings, replayed: the needle library a `bench.needle` run
kept, its needles' questions and questions about absent things, asked in-process with the
service's own search and answer code — so the answer's rules can be compared without indexing
the hour again.

    .venv/bin/python -m bench.needle --minutes 60 --keep-data /tmp/lib60     # index, keep it
    .venv/bin/python -m bench.answer_replay /tmp/lib60 --record               # retrieve, record
    .venv/bin/python -m bench.answer_replay /tmp/lib60                        # answer, score

`--record` retrieves each question's top 5 (as `/v1/ask` does) and writes the hits beside the
library (`answer_hits.json`). Scoring reads them back, answers with `app/answer/extractive.py`
(quotes may run on into neighbouring clips, read from the library as the service reads them)
and reports, per needle kind: answer hit (the answer contains an answer word), of them the
answers given as "the closest moment" (the hedged tier: `relevance.nearest`), citation hit,
and for the absent questions how many got "nothing relevant found", how many a hedged closest
moment, how many a confident quote. For the hedged tier's cosine bar it prints the outcome of
each candidate bar, so the trade between answers found and absent questions hedged is seen."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any
from unittest.mock import patch

from bench.common import RESULTS, bench_settings
from bench.fusion_weights import run_of
from bench.needle_catalog import ABSENT_QUESTIONS
from bench.needle_report import RUNS, read_runs
from bench.needle_score import contains_answer, overlaps

CASES = Path(__file__).resolve().parents[1] / "tests/answer/data/relevance_cases.json"
TOP_K = 5
BARS = [round(0.78 + 0.005 * i, 3) for i in range(17)]


def absent_questions() -> list[str]:
    """The needle bench's absent questions and the labelled set's (plausible ones, some sharing
    words with any haystack)."""
    labelled = json.loads(CASES.read_text(encoding="utf-8"))["questions"]
    extra = [q["q"] for q in labelled if q["clip"] is None]
    return list(dict.fromkeys([*ABSENT_QUESTIONS, *extra]))


def record(library: Path, runs_file: Path) -> dict[str, Any]:
    from indexer.extractors import Extractors
    from indexer.search.searcher import Searcher
    from indexer.store import Library

    run = run_of(library, read_runs(runs_file))
    settings = bench_settings(library)
    searcher = Searcher(Library(library / "videos"), Extractors(settings), settings)
    searcher.warm_up()
    asked = [
        {k: n[k] for k in ("id", "kind", "question", "answer_words", "start_s", "end_s")}
        for n in run["needles"]
    ]
    asked += [
        {"id": f"absent-{i}", "kind": "absent", "question": q, "answer_words": []}
        for i, q in enumerate(absent_questions())
    ]
    for q in asked:
        hits = searcher.search(q["question"], top_k=TOP_K)
        q["hits"] = [h.model_dump(mode="json") for h in hits]
    out = {"library": str(library), "video": run["video"], "questions": asked}
    (library / "answer_hits.json").write_text(json.dumps(out, ensure_ascii=False) + "\n")
    return out


def score(library: Path, recorded: dict[str, Any], bar: float | None = None) -> dict[str, Any]:
    from app.answer import extractive, relevance
    from app.answer.neighbours import NeighbourSpeech
    from indexer.store import Library
    from indexer.types import Hit

    speech_of = NeighbourSpeech(Library(library / "videos"))
    per_kind: dict[str, dict[str, int]] = {}
    for q in recorded["questions"]:
        hits = [Hit.model_validate(h) for h in q["hits"]]
        # the service reads the bar from the module, so the candidate replaces it for one answer
        with patch.object(
            relevance, "NEAREST_DENSE", relevance.NEAREST_DENSE if bar is None else bar
        ):
            a = extractive.answer(q["question"], hits, speech_of=speech_of)
        hedged = a.answer.startswith(extractive.UNSURE)
        k = per_kind.setdefault(
            q["kind"],
            {"n": 0, "hit": 0, "hedged_hit": 0, "cited": 0, "nothing": 0, "hedged": 0, "quoted": 0},
        )
        k["n"] += 1
        if q["kind"] == "absent":
            nothing = a.answer.startswith((extractive.NOTHING, extractive.NO_HITS))
            k["nothing"] += nothing
            k["hedged"] += hedged
            k["quoted"] += not nothing and not hedged
            continue
        hit = contains_answer(a.answer, q["answer_words"])
        vid = hits[0].video_id if hits else ""
        k["hit"] += hit
        k["hedged_hit"] += hit and hedged
        k["cited"] += any(overlaps(h.model_dump(), q, vid) for h in a.cited)
    return per_kind


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("library", type=Path, help="a data dir kept by bench.needle --keep-data")
    ap.add_argument("--record", action="store_true", help="retrieve and record the hits first")
    ap.add_argument("--runs", type=Path, default=RESULTS / RUNS, help="needle runs (last used)")
    a = ap.parse_args()
    hits_file = a.library / "answer_hits.json"
    if a.record or not hits_file.exists():
        recorded = record(a.library, a.runs)
    else:
        recorded = json.loads(hits_file.read_text(encoding="utf-8"))
    now = score(a.library, recorded)
    print("as configured:", json.dumps(now))
    print("hedged tier's cosine bar: answers (of them hedged) / absent nothing, hedged, quoted")
    for bar in BARS:
        s = score(a.library, recorded, bar)
        found = sum(v["hit"] for k, v in s.items() if k != "absent")
        hedged = sum(v["hedged_hit"] for k, v in s.items() if k != "absent")
        ab = s["absent"]
        print(
            f"  {bar:.3f}: {found:3d} ({hedged:2d}) / {ab['nothing']}, {ab['hedged']}, "
            f"{ab['quoted']} of {ab['n']}"
        )


if __name__ == "__main__":
    main()
