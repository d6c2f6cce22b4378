"""Speed, CPU cost and accuracy of the offline ASR backends on real speech: Whisper base
(multilingual, packaged) and tiny.en with faster-whisper, and pocketsphinx, under several
decoder settings (beam, CTranslate2 threads, batched pipeline, word timestamps).

The track (bench/asr_track.py) joins the real recordings of `<testdata>/speech` with silence,
noise and music between them. Each configuration runs `--repeat` times (default 3; the machine
is shared) and reports medians: wall and CPU seconds per second of speech (CPU counts every
thread of the process), keyword hits and word error rate against the human transcripts, words
heard in the gaps, and the load average around the runs.

    python -m bench.asr                               # the default set → bench/results/asr.json
    python -m bench.asr --only base-b1-t1 ps-tuned --repeat 5
    python -m bench.asr --testdata /path/to/testdata  # default: $VIDRAG_SHARED_DIR/testdata
    python -m bench.asr --haystack bench/.cache/realistic-10min-seed1-1280x720.mp4 --repeat 1

With --haystack the track is a needle video's audio in 300-s parts, scored on its speech
needles (answer words heard within a second of the needle).

Runs are appended to the results file; earlier runs are kept."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.asr_track import Track, build_track, haystack_track, score, score_needles, timed_words
from indexer.extractors.asr.fasterwhisper import FasterWhisperASR
from indexer.extractors.asr.sphinx import DEFAULT_OPTIONS, PocketsphinxASR
from indexer.settings import ASRSettings
from indexer.types import Transcript

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIDRAG_SHARED_DIR", REPO.parent / "shared"))
RESULTS = Path(__file__).resolve().parent / "results" / "asr.json"
NOTE = (
    "runs: one row per configuration and invocation (appended). cpu_per_speech_s / "
    "wall_per_speech_s: medians over `repeat` runs of CPU seconds (all threads) and wall seconds "
    "per second of speech in the track; rtf_cpu: CPU seconds per second of the whole track. "
    "Rows without `wer` are from the earlier pocketsphinx-only benchmark (min of runs, one core)."
)

# pocketsphinx's own defaults, spelled out so the tuned ones can be compared against them
PS_DEFAULTS: dict[str, Any] = {"ds": 1, "topn": 4, "beam": 1e-48, "wbeam": 7e-29,
                               "pbeam": 1e-48, "maxhmmpf": 30000, "maxwpf": -1,
                               "fwdflat": True, "bestpath": True}  # fmt: skip


FALLBACK = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]  # faster-whisper's own temperatures, best of 5


def whisper(packaged: str, beam: int, threads: int, batch: int = 0, words: bool = True,
            multi: bool = False, temps: list[float] = FALLBACK, best_of: int = 5,
            cond: bool = True) -> dict:  # fmt: skip
    return {"engine": "faster-whisper", "packaged": packaged, "beam_size": beam,
            "cpu_threads": threads, "batch_size": batch, "word_timestamps": words,
            "multilingual": multi, "temperatures": temps, "best_of": best_of,
            "condition_on_previous_text": cond}  # fmt: skip


CONFIGS: dict[str, dict[str, Any]] = {
    "ps-tuned": {"engine": "pocketsphinx", "options": {**PS_DEFAULTS, **DEFAULT_OPTIONS}},
    "ps-defaults": {"engine": "pocketsphinx", "options": PS_DEFAULTS},
    "base-b1-t1": whisper("base", 1, 1),
    "base-b1-t2": whisper("base", 1, 2),
    "base-b5-t1": whisper("base", 5, 1),
    "base-b5-t2": whisper("base", 5, 2),
    "base-b1-t1-batch8": whisper("base", 1, 1, batch=8),
    "base-b1-t2-batch8": whisper("base", 1, 2, batch=8),
    "base-b1-t1-nowords": whisper("base", 1, 1, words=False),
    "base-b1-t1-multilingual": whisper("base", 1, 1, multi=True),
    # cheaper retries of a window that looks wrong: fewer temperatures, one sample each; none
    "base-b1-t1-fb3best1": whisper("base", 1, 1, multi=True, temps=[0.0, 0.4, 0.8], best_of=1),
    "base-b1-t1-temp0": whisper("base", 1, 1, multi=True, temps=[0.0]),
    "base-b1-t1-temp0-nocond": whisper("base", 1, 1, multi=True, temps=[0.0], cond=False),
    "base-b1-t1-fb3best1-nocond": whisper(
        "base", 1, 1, multi=True, temps=[0.0, 0.4, 0.8], best_of=1, cond=False
    ),
    "tiny.en-b1-t1": whisper("tiny.en", 1, 1),
    "tiny.en-b1-t2": whisper("tiny.en", 1, 2),
    "tiny.en-b5-t1": whisper("tiny.en", 5, 1),
}
DEFAULT_SET = list(CONFIGS)


def make_backend(cfg: dict[str, Any], models_dir: Path) -> Any:
    if cfg["engine"] == "pocketsphinx":
        return PocketsphinxASR(ASRSettings(backend="pocketsphinx"), options=cfg["options"])
    keys = set(ASRSettings.model_fields) & set(cfg)
    settings = ASRSettings(model="packaged", device="cpu", **{k: cfg[k] for k in keys})
    return FasterWhisperASR(settings, offline=True, models_dir=models_dir)


def transcribe_track(asr: Any, track: Track) -> Transcript:
    """The track's parts transcribed one by one (each detects its own language), joined."""
    out = None
    for offset, path in track.parts:
        tr = asr.transcribe(path, offset_s=offset)
        out = tr if out is None else out.model_copy(update={"segments": out.segments + tr.segments})
    assert out is not None
    return out


def run(name: str, track: Track, repeat: int, models_dir: Path) -> dict[str, Any]:
    cfg = CONFIGS[name]
    asr = make_backend(cfg, models_dir)
    t0 = time.process_time()
    asr.warm_up()
    load_cpu = time.process_time() - t0
    cpu, wall, loads = [], [], []
    transcript = None
    for _ in range(repeat):
        load_before = os.getloadavg()[0]
        c0, w0 = time.process_time(), time.perf_counter()
        transcript = transcribe_track(asr, track)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        loads.append(round((load_before + os.getloadavg()[0]) / 2, 2))
    assert transcript is not None
    med_cpu, med_wall = statistics.median(cpu), statistics.median(wall)
    scores = score_needles(track, timed_words(transcript)) if track.needles else {}
    return {
        "config": name,
        "track": track.path.stem,
        **{k: v for k, v in cfg.items() if k != "options"},
        **({"options": cfg["options"]} if "options" in cfg else {}),
        "model": transcript.model,
        "audio_s": round(track.duration_s, 1),
        "speech_s": round(track.speech_s, 1),
        "parts": len(track.parts),
        "load_cpu_s": round(load_cpu, 2),
        "cpu_s_runs": [round(c, 2) for c in cpu],
        "wall_s_runs": [round(w, 2) for w in wall],
        "cpu_per_speech_s": round(med_cpu / track.speech_s, 3),
        "wall_per_speech_s": round(med_wall / track.speech_s, 3),
        "rtf_cpu": round(med_cpu / track.duration_s, 3),
        "repeat": repeat,
        "loadavg_1min": loads,
        "cores": len(os.sched_getaffinity(0)),
        "measured": time.strftime("%Y-%m-%d %H:%M"),
        **(scores or score(track, transcript)),
    }


def append(rows: list[dict[str, Any]]) -> None:
    old = json.loads(RESULTS.read_text())["runs"] if RESULTS.exists() else []
    RESULTS.parent.mkdir(exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"note": NOTE, "runs": old + rows}, indent=1))
    tmp.replace(RESULTS)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--only", nargs="*", choices=list(CONFIGS), help="configurations to run")
    ap.add_argument("--repeat", type=int, default=3, help="runs per configuration (median)")
    ap.add_argument("--testdata", type=Path, default=SHARED / "testdata")
    ap.add_argument("--haystack", type=Path, help="a needle video (bench/realistic.py) instead")
    ap.add_argument("--no-save", action="store_true", help="print only")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.haystack:
            needles = args.haystack.with_suffix(".needles.json")
            track = haystack_track(args.haystack, needles, Path(tmp))
        else:
            track = build_track(args.testdata, Path(tmp))
        print(f"track {track.duration_s:.0f} s, speech {track.speech_s:.0f} s", flush=True)
        for name in args.only or DEFAULT_SET:
            r = run(name, track, args.repeat, Path(tmp) / "models")
            quality = (
                f"needles {r['needle_hits']}/{r['needles']}"
                if "needle_hits" in r
                else f"WER {r['wer']:.2f}  hits {r['keyword_hits']}/{r['keywords']}  "
                f"in gaps {r['words_in_gaps']}"
            )
            print(
                f"{name:26} cpu/speech-s {r['cpu_per_speech_s']:.3f}  wall/speech-s "
                f"{r['wall_per_speech_s']:.3f}  {quality}  load {r['loadavg_1min']}",
                flush=True,
            )
            if not args.no_save:  # after each configuration: a long run killed keeps its rows
                append([r])


if __name__ == "__main__":
    main()
