"""The record of needle-benchmark runs: one JSON line per run in bench/results/needle-runs.jsonl,
appended and never rewritten, and the medians over them that the README quotes.

A configuration is (haystack length, seed, answer mode, ASR model, text embedder, commit: runs
of different code are not one series); `summary`
prints, per configuration, the number of runs, the median of each figure, the library the
questions ran against, and the load average during ingest (median of the runs' means), so a
figure is never quoted without the conditions it was measured in."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import table

RUNS = "needle-runs.jsonl"
FIGURES = (
    ("r@5", "all", "recall@5"),
    ("r@5 speech", "speech", "recall@5"),
    ("r@5 text", "text", "recall@5"),
    ("r@5 object", "object", "recall@5"),
    ("r@5 non-en", "speech_synthetic", "recall@5"),
    ("r@1", "all", "recall@1"),
    ("MRR", "all", "mrr"),
    ("answer hit", "all", "answer_hit"),
    ("citation hit", "all", "citation_hit"),
)


def append_run(path: Path, run: dict[str, Any]) -> Path:
    """Add `run` as one line at the end of `path` (created if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(run, ensure_ascii=False, default=str) + "\n")
    return path


def read_runs(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def config_of(run: dict[str, Any]) -> tuple[Any, ...]:
    code = run.get("code", {}).get("commit", "")
    return (
        run["minutes"],
        run["seed"],
        run["answer_mode"],
        run["asr"],
        run["text_embedder"],
        code,
    )


def same_haystack(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs on the latest build of each (length, seed): a rebuilt haystack (a changed
    catalog or builder) starts a new series."""
    latest = {(r["minutes"], r["seed"]): r.get("haystack_key") for r in runs}
    return [r for r in runs if r.get("haystack_key") == latest[(r["minutes"], r["seed"])]]


def _median(xs: list[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return round(statistics.median(vals), 3) if vals else None


def summarize_runs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per configuration: medians over its runs."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in same_haystack(runs):
        groups[config_of(r)].append(r)
    rows = []
    for (minutes, seed, mode, asr, text, commit), rs in groups.items():
        row: dict[str, Any] = {
            "minutes": minutes,
            "seed": seed,
            "runs": len(rs),
            "needles": rs[-1]["summary"]["all"]["needles"],
        }
        for label, group, key in FIGURES:
            row[label] = _median([r["summary"].get(group, {}).get(key) for r in rs])
        row["absent ok"] = _median(
            [sum(x["ok"] for x in r["absent"]) / len(r["absent"]) for r in rs]
        )
        row["x realtime"] = _median([r["ingest"]["x_realtime"] for r in rs])
        row["load"] = _median([r["load"]["during_ingest"]["mean"] for r in rs])
        row["library h"] = _median([r["library"]["hours"] for r in rs])
        row["answers"], row["asr"], row["text"] = mode, asr, text
        row["commit"] = commit
        rows.append(row)
    return rows


def print_summary(path: Path) -> None:
    runs = read_runs(path)
    if not runs:
        print(f"no runs recorded in {path}")
        return
    print(f"{len(runs)} runs in {path}; medians per configuration:")
    print(table(summarize_runs(runs)))
