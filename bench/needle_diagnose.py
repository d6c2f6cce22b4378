"""Why a needle was missed: for each needle of a recorded run, the evidence the index holds at
the needle's span (speech heard, text read, objects seen), its rank, and the answer given.

    .venv/bin/python -m bench.needle --minutes 10 --keep-data /tmp/lib      # run, keep the index
    .venv/bin/python -m bench.needle_diagnose /tmp/lib                      # the last run
    .venv/bin/python -m bench.needle_diagnose /tmp/lib --run 3 --misses     # run 3, misses only

Reads the library's per-clip evidence (`videos/<id>/clips.jsonl`, the index's own record of what
each clip holds), so it shows whether a miss is the recogniser's (nothing at the span) or the
ranking's (the right words at the span, ranked low)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench.common import RESULTS
from bench.needle_report import RUNS, read_runs


def clips_of(library: Path, video_id: str | None = None) -> list[dict[str, Any]]:
    videos = sorted((library / "videos").iterdir())
    video = next((v for v in videos if v.name == video_id), videos[-1])
    lines = (video / "clips.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line]


def at_span(clips: list[dict[str, Any]], start: float, end: float) -> list[dict[str, Any]]:
    return [c for c in clips if c["clip"]["start_s"] < end and c["clip"]["end_s"] > start]


def describe(row: dict[str, Any], clips: list[dict[str, Any]]) -> list[str]:
    tags = [
        row["kind"],
        "synthetic" if row["synthetic"] else "",
        "talk under" if row["under_voice"] else "",
    ]
    out = [
        f"== {row['id']} [{', '.join(t for t in tags if t)}] "
        f"{row['start_s']:.1f}-{row['end_s']:.1f} s"
        f"  rank {row['rank']}  answer {'hit' if row['answer_hit'] else 'miss'}"
        f"  citation {'hit' if row['citation_hit'] else 'miss'}",
        f"   Q: {row['question']}   answer words: {row['answer_words']}",
    ]
    for c in at_span(clips, row["start_s"], row["end_s"]):
        out.append(
            f"   clip {c['clip']['index']} {c['clip']['start_s']:.1f}-{c['clip']['end_s']:.1f}"
        )
        for e in c["evidence"]:
            out.append(
                f"      {e['modality']:7} {e['start_s']:.1f}-{e['end_s']:.1f} {e['text'][:150]}"
            )
    out.append("   answer: " + row["answer"][:300].replace("\n", " | "))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("library", type=Path, help="a data directory kept with --keep-data")
    ap.add_argument("--run", type=int, default=-1, help="line of the results (default: last)")
    ap.add_argument("--misses", action="store_true", help="only needles not in the top 5")
    ap.add_argument("--results", type=Path, default=RESULTS / RUNS)
    a = ap.parse_args()
    run = read_runs(a.results)[a.run]
    clips = clips_of(a.library)
    for row in run["needles"]:
        if a.misses and row["rank"] and row["rank"] <= 5:
            continue
        print("\n".join(describe(row, clips)))


if __name__ == "__main__":
    main()
