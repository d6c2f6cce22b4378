"""Speed and keyword hits of the pocketsphinx backend under several decoder configurations.

One long 16 kHz track is assembled from the real speech in `../shared/testdata/speech`
(LibriVox and LJ Speech, with human transcripts) separated by silence, noise and music, so a run
measures VAD skipping and long-audio splitting too. For each configuration it reports the CPU
real-time factor (CPU seconds per audio second, one core), the share of transcript keywords heard
within each sentence's time span, and words heard inside non-speech gaps.

    python -m bench.asr              # all configurations → bench/results/asr.json
    python -m bench.asr --only tuned defaults
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import tempfile
import time
import wave
from pathlib import Path
from typing import Any, Literal

import numpy as np

from indexer.extractors.asr.sphinx import DEFAULT_OPTIONS, SAMPLE_RATE, PocketsphinxASR
from indexer.settings import ASRSettings

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
SPEECH = TESTDATA / "speech"
RESULTS = Path(__file__).resolve().parent / "results" / "asr.json"
STOP = {
    "about",
    "after",
    "again",
    "being",
    "could",
    "every",
    "might",
    "other",
    "their",
    "there",
    "these",
    "those",
    "under",
    "where",
    "which",
    "while",
    "would",
    "before",
    "itself",
}

# pocketsphinx's own defaults, spelled out so the tuned ones can be compared against them
PS_DEFAULTS: dict[str, Any] = {
    "ds": 1,
    "topn": 4,
    "beam": 1e-48,
    "wbeam": 7e-29,
    "pbeam": 1e-48,
    "maxhmmpf": 30000,
    "maxwpf": -1,
    "fwdflat": True,
    "bestpath": True,
}
TUNED = {**PS_DEFAULTS, **DEFAULT_OPTIONS}  # what the backend uses
# one knob at a time from pocketsphinx's defaults, then from the tuned set (explored 2026-11-21;
# the dropped ones changed nothing: maxwpf 10, wbeam 1e-20, pl_window 10)
Vad = Literal["silero", "endpointer"]
CONFIGS: dict[str, tuple[dict[str, Any], Vad]] = {
    "defaults": (PS_DEFAULTS, "silero"),
    "defaults+endpointer": (PS_DEFAULTS, "endpointer"),
    "ds2": ({**PS_DEFAULTS, "ds": 2}, "silero"),
    "ds3": ({**PS_DEFAULTS, "ds": 3}, "silero"),
    "topn2": ({**PS_DEFAULTS, "topn": 2}, "silero"),
    "fwdflat-off": ({**PS_DEFAULTS, "fwdflat": False}, "silero"),
    "beams-1e-40": ({**PS_DEFAULTS, "beam": 1e-40, "wbeam": 1e-24, "pbeam": 1e-40}, "silero"),
    "maxhmmpf-5000": ({**PS_DEFAULTS, "maxhmmpf": 5000}, "silero"),
    "tuned": (TUNED, "silero"),
    "tuned+endpointer": (TUNED, "endpointer"),
    "tuned/beams-1e-35": ({**TUNED, "beam": 1e-35, "pbeam": 1e-35}, "silero"),
    "tuned/beams-1e-30": ({**TUNED, "beam": 1e-30, "pbeam": 1e-30}, "silero"),
    "tuned/maxhmmpf-2000": ({**TUNED, "maxhmmpf": 2000}, "silero"),
    "tuned/maxhmmpf-5000": ({**TUNED, "maxhmmpf": 5000}, "silero"),
    "tuned/ds1": ({**TUNED, "ds": 1}, "silero"),
    "tuned/topn3": ({**TUNED, "topn": 3}, "silero"),
    "tuned/fwdflat-on": ({**TUNED, "fwdflat": True}, "silero"),
    "tuned/bestpath-off": ({**TUNED, "bestpath": False}, "silero"),
}


def keywords(text: str) -> set[str]:
    """Distinctive words of a transcript: five letters or more, not a common function word."""
    return {w for w in re.findall(r"[a-z']+", text.lower()) if len(w) >= 5 and w not in STOP}


def load16(path: Path) -> np.ndarray:
    """Any audio file as 16 kHz mono int16 (ffmpeg resamples)."""
    cmd = [
        "ffmpeg",
        "-v",
        "error",
        "-i",
        str(path),
        "-ac",
        "1",
        "-ar",
        str(SAMPLE_RATE),
        "-f",
        "s16le",
        "-",
    ]
    return np.frombuffer(subprocess.run(cmd, capture_output=True, check=True).stdout, np.int16)


def sentences() -> list[tuple[str, Path, str]]:
    out = []
    for line in (SPEECH / "pocketsphinx_librivox" / "transcription").read_text().splitlines():
        m = re.match(r"<s> (.*) </s> \((.*)\)", line)
        if m:
            out.append((m[2], SPEECH / "pocketsphinx_librivox" / f"{m[2]}.wav", m[1]))
    with open(SPEECH / "ljspeech_coqui" / "metadata.csv", newline="") as f:
        for row in csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE):
            out.append((row[0], SPEECH / "ljspeech_coqui" / f"{row[0]}.wav", row[2]))
    return out


def build_track(workdir: Path) -> tuple[Path, list[dict[str, Any]], list[tuple[float, float]]]:
    """Speech sentences with gaps of silence / noise / music between them; their spans."""
    rng = np.random.default_rng(0)
    gaps = [
        np.zeros(SAMPLE_RATE, np.int16),
        load16(SPEECH / "alsa" / "Noise.wav"),
        load16(TESTDATA / "video" / "moviepy_chaplin.mp4"),  # music
        load16(TESTDATA / "video" / "moviepy_big_buck_bunny_0_30.webm")[: 10 * SAMPLE_RATE],
    ]
    parts, spans, nonspeech, t = [], [], [], 0
    for i, (sid, path, text) in enumerate(sentences()):
        gap = gaps[i % len(gaps)]
        if i % len(gaps):  # noise and music at a lower level, as under speech in a video
            gap = (gap.astype(np.float32) * rng.uniform(0.3, 1.0)).astype(np.int16)
        nonspeech.append((t / SAMPLE_RATE, (t + len(gap)) / SAMPLE_RATE))
        parts.append(gap)
        t += len(gap)
        pcm = load16(path)
        spans.append(
            {
                "id": sid,
                "start_s": t / SAMPLE_RATE,
                "end_s": (t + len(pcm)) / SAMPLE_RATE,
                "keywords": sorted(keywords(text)),
            }
        )
        parts.append(pcm)
        t += len(pcm)
    out = workdir / "track.wav"
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(np.concatenate(parts).tobytes())
    return out, spans, nonspeech


def run(
    name: str,
    track: Path,
    spans: list[dict[str, Any]],
    nonspeech: list[tuple[float, float]],
    repeat: int,
) -> dict[str, Any]:
    options, vad = CONFIGS[name]
    asr = PocketsphinxASR(ASRSettings(backend="pocketsphinx"), options=options, vad=vad)
    t0 = time.process_time()
    asr.warm_up()
    load_s = time.process_time() - t0
    cpu = wall = float("inf")
    for _ in range(repeat):  # the machine is shared: keep the least disturbed run
        t0, w0 = time.process_time(), time.perf_counter()
        tr = asr.transcribe(track)
        cpu = min(cpu, time.process_time() - t0)
        wall = min(wall, time.perf_counter() - w0)
    words = [w for s in tr.segments for w in s.words]
    hits = total = 0
    for sp in spans:
        heard = {w.word for w in words if sp["start_s"] - 0.3 <= w.start_s <= sp["end_s"] + 0.3}
        hits += len(heard & set(sp["keywords"]))
        total += len(sp["keywords"])
    stray = sum(any(a <= (w.start_s + w.end_s) / 2 <= b for a, b in nonspeech) for w in words)
    with wave.open(str(track)) as f:
        dur = f.getnframes() / f.getframerate()
    speech = sum(sp["end_s"] - sp["start_s"] for sp in spans)
    return {
        "config": name,
        "options": options,
        "vad": vad,
        "audio_s": round(dur, 1),
        "load_cpu_s": round(load_s, 2),
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "speech_s": round(speech, 1),
        "rtf_cpu": round(cpu / dur, 3),
        "rtf_cpu_per_speech_s": round(cpu / speech, 3),
        "repeat": repeat,
        "measured": time.strftime("%Y-%m-%d %H:%M"),
        "keyword_hits": hits,
        "keywords": total,
        "hit_rate": round(hits / total, 3),
        "words": len(words),
        "words_in_gaps": stray,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", choices=list(CONFIGS), help="configurations to run")
    ap.add_argument("--repeat", type=int, default=1, help="runs per configuration (min is kept)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        track, spans, nonspeech = build_track(Path(tmp))
        rows = []
        for name in args.only or CONFIGS:
            r = run(name, track, spans, nonspeech, args.repeat)
            rows.append(r)
            print(
                f"{name:20} rtf_cpu {r['rtf_cpu']:.3f} ({r['rtf_cpu_per_speech_s']:.3f}/speech s)"
                f"  hits {r['keyword_hits']}/{r['keywords']}"
                f"  words {r['words']}  in gaps {r['words_in_gaps']}  ({r['audio_s']} s audio)",
                flush=True,
            )
    # a partial run (--only) replaces its configurations' rows and keeps the others
    old = json.loads(RESULTS.read_text())["runs"] if RESULTS.exists() else []
    names = {r["config"] for r in rows}
    rows = [r for r in old if r["config"] not in names] + rows
    rows.sort(key=lambda r: list(CONFIGS).index(r["config"]) if r["config"] in CONFIGS else 99)
    note = "rtf_cpu: CPU seconds (one core) per second of the whole track; hits: keywords heard"
    RESULTS.parent.mkdir(exist_ok=True)
    tmp_path = RESULTS.with_suffix(".json.tmp")
    tmp_path.write_text(json.dumps({"note": note, "runs": rows}, indent=1))
    tmp_path.replace(RESULTS)


if __name__ == "__main__":
    main()
