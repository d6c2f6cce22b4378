"""What the picture extractors find, and what they cost, under each frame-sampling setting: decode
a realistic haystack (bench/realistic.py) as the pipeline does, run OCR and the detector over the
frames, and report the CPU seconds of each stage and, for every picture needle (text and
objects), whether the index would hold its answer at the needle's span ("evidence": an answer
word in the OCR text or among the detector's labels there).

    .venv/bin/python -m bench.frame_sampling                           # the defaults
    .venv/bin/python -m bench.frame_sampling --strategy keyframes      # one knob changed
    .venv/bin/python -m bench.frame_sampling --minutes 60 --around-needles

CPU seconds (user + system of this process and of its ffmpeg children) hardly move with the
machine's load, unlike wall time, so settings can be compared on a shared machine; the ingest
budget is about 2 CPU-s per video-second on 2 cores for 6x realtime, ASR included. Evidence
isolates recognition from ranking: a needle whose answer is not in the index cannot be found.
`--around-needles` decodes only a window around each needle (long haystacks, faster); costs
are then per decoded second. Each run appends one JSON line to
bench/results/frame_sampling.jsonl."""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

from bench.common import RESULTS, YOLO_WEIGHTS, machine
from bench.needle_score import contains_answer
from bench.realistic import build_haystack
from indexer.extractors.detect.describe import detect_over_time
from indexer.extractors.ocr.spans import read_text_over_time
from indexer.media import sample_frames
from indexer.settings import DecodeSettings, DetectSettings, OCRSettings

OUT = RESULTS / "frame_sampling.jsonl"
PART_S = 300.0  # decode in parts, as the pipeline does
LEAD_S = 20.0  # --around-needles: decode from this long before a needle (OCR's change gate)


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def windows(
    duration: float, needles: list[dict[str, Any]], around: bool
) -> list[tuple[float, float]]:
    if not around:
        edges = [k * PART_S for k in range(int(duration // PART_S) + 1)] + [duration]
        return [(a, b) for a, b in pairwise(edges) if b > a]
    spans = sorted((max(0.0, n["start_s"] - LEAD_S), min(duration, n["end_s"] + 2.0))
                   for n in needles)  # fmt: skip
    merged: list[tuple[float, float]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def evidence_at(needle: dict[str, Any], ocr: list[Any], dets: list[Any]) -> dict[str, Any]:
    a, b = needle["start_s"], needle["end_s"]
    texts = [s.text for s in ocr if s.first_s <= b and s.last_s >= a]
    labels = sorted({d.label for f in dets if a <= f.t <= b for d in f.detections})
    return {
        "id": needle["id"],
        "kind": needle["kind"],
        "show": needle.get("show"),
        "hit": contains_answer(" | ".join(texts + labels), needle["answer_words"]),
        "ocr": texts[:12],
        "labels": labels,
    }


def run(a: argparse.Namespace) -> dict[str, Any]:
    from indexer.extractors.detect.yolo import UltralyticsDetector
    from indexer.extractors.ocr.rapid import RapidOCRReader

    hay = build_haystack(a.minutes, a.seed)
    needles = [n for n in hay.needles if n["kind"] != "speech"]
    knobs = {"strategy": a.strategy, "fps": a.fps, "small_side": a.small_side}
    decode = DecodeSettings(**{k: v for k, v in knobs.items() if v})
    ocr_cfg = OCRSettings(**{k: v for k, v in {
        "max_side": a.ocr_max_side, "dedupe_bits": a.dedupe_bits,
        "min_interval_s": a.ocr_min_interval}.items() if v is not None})  # fmt: skip
    det_cfg = DetectSettings(model=str(YOLO_WEIGHTS), **({"every_s": a.detect_every}
                                                         if a.detect_every else {}))  # fmt: skip
    reader, detector = RapidOCRReader(ocr_cfg), UltralyticsDetector(det_cfg)
    reader.warm_up()
    detector.warm_up()
    cost = {"decode": 0.0, "ocr": 0.0, "detect": 0.0}
    frames_n, ocr, dets, decoded_s = 0, [], [], 0.0
    load_before, started = os.getloadavg()[0], time.perf_counter()
    for t0, t1 in windows(hay.duration_s, needles, a.around_needles):
        c = _cpu()
        frames = [(f.t, f.image) for f in sample_frames(hay.path, t0, t1, decode)]
        cost["decode"] += _cpu() - c
        c = _cpu()
        ocr += read_text_over_time(reader, frames, ocr_cfg)
        cost["ocr"] += _cpu() - c
        c = _cpu()
        dets += detect_over_time(detector, frames, det_cfg)
        cost["detect"] += _cpu() - c
        frames_n, decoded_s = frames_n + len(frames), decoded_s + t1 - t0
    rows = [evidence_at(n, ocr, dets) for n in needles]
    per_s = {k: round(v / decoded_s, 4) for k, v in cost.items()}
    return {
        "date": machine()["date"],
        "video": hay.path.name,
        "decoded_s": round(decoded_s, 1),
        "settings": {
            "decode": decode.model_dump(),
            "ocr": ocr_cfg.model_dump(),
            "detect": {"every_s": det_cfg.every_s, "imgsz": det_cfg.imgsz},
        },
        "frames": frames_n,
        "ocr_spans": len(ocr),
        "detect_frames": len(dets),
        "cpu_s": {k: round(v, 1) for k, v in cost.items()},
        "cpu_per_video_s": per_s,
        "wall_s": round(time.perf_counter() - started, 1),
        "load": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "evidence": {
            kind: f"{sum(r['hit'] for r in rows if r['kind'] == kind)}/"
            f"{sum(1 for r in rows if r['kind'] == kind)}"
            for kind in ("text", "object")
        },
        "needles": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--strategy", choices=["keyframes", "reference", "full"])
    ap.add_argument("--fps", type=float)
    ap.add_argument("--small-side", type=int)
    ap.add_argument("--ocr-max-side", type=int)
    ap.add_argument("--ocr-min-interval", type=float)
    ap.add_argument("--dedupe-bits", type=int)
    ap.add_argument("--detect-every", type=float)
    ap.add_argument("--around-needles", action="store_true")
    ap.add_argument("--out", type=Path, default=OUT)
    result = run(ap.parse_args())
    misses = [f"{r['id']} ({r['kind']})" for r in result["needles"] if not r["hit"]]
    print(json.dumps({k: v for k, v in result.items() if k != "needles"}, indent=1))
    print("missed:", ", ".join(misses) or "none")
    with Path(ap.parse_args().out).open("a", encoding="utf-8") as f:
        f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
