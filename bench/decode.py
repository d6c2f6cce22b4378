"""Decoding strategies on a 10-minute 1280x720 30 fps H.264 video: wall time, frames, coverage.

The video is real footage from `../shared/testdata` cut into segments of random length and
encoded once, in one pass, with x264 defaults (preset medium, keyint 250, scenecut 40), so its
keyframes fall where a normal encode puts them: every ~8.3 s and at most scene cuts. The
segment boundaries of the concatenation plan are the true scene cuts.

    .venv/bin/python -m bench.decode            # table on stdout, JSON in bench/results/decode.json
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import time
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path

from indexer.media import probe, sample_frames
from indexer.segment import detect_cuts
from indexer.settings import DecodeSettings, MediaSettings, SegmentSettings

HERE = Path(__file__).resolve().parent
TESTDATA = HERE.parents[1] / "shared" / "testdata"
CACHE = HERE / ".cache"
RESULTS = HERE / "results" / "decode.json"
FPS = 30
SIZE = (1280, 720)
SOURCES = [  # (file under testdata/video, usable seconds)
    ("videoretalking_ablation.mp4", 31.0),
    ("videollava_demo_screencast.mp4", 31.0),
    ("moviepy_chaplin.mp4", 9.2),
    ("moviepy_big_buck_bunny_0_30.webm", 29.5),
    ("opencv_vtest.avi", 79.0),
    ("kivy_cityCC0.mpg", 7.2),
    ("renpy_oa4_launch.webm", 7.6),
]


@dataclass(frozen=True)
class Segment:
    source: str
    start_s: float
    frames: int


def plan(duration_s: float, seed: int) -> list[Segment]:
    """Segments of 2-25 s from the sources in turn (never the same source twice in a row)."""
    rng = random.Random(seed)
    total, last = round(duration_s * FPS), -1
    out: list[Segment] = []
    while sum(s.frames for s in out) < total:
        k = rng.choice([i for i in range(len(SOURCES)) if i != last])
        name, usable = SOURCES[k]
        seconds = min(rng.uniform(2.0, 25.0), usable - 0.5)
        frames = min(round(seconds * FPS), total - sum(s.frames for s in out))
        start = rng.uniform(0.0, usable - frames / FPS)
        out.append(Segment(name, round(start, 3), frames))
        last = k
    return out


def cut_times(segments: list[Segment]) -> list[float]:
    """Times of the first frame of every segment after the first."""
    cuts, n = [], 0
    for s in segments[:-1]:
        n += s.frames
        cuts.append(n / FPS)
    return cuts


def build(duration_s: float, seed: int, cache: Path = CACHE) -> tuple[Path, list[float]]:
    """Encode (once; cached by its plan) the bench video; returns it and its true cut times."""
    segments = plan(duration_s, seed)
    dest = cache / f"decode-{round(duration_s)}s-seed{seed}.mp4"
    sidecar = dest.with_suffix(".json")
    built = json.loads(sidecar.read_text())["segments"] if sidecar.exists() else None
    if dest.exists() and built == [asdict(s) for s in segments]:
        return dest, cut_times(segments)
    cache.mkdir(parents=True, exist_ok=True)
    (cache / ".gitignore").write_text("*\n")  # the cache ignores itself: nothing here is source
    args = ["ffmpeg", "-v", "error", "-y"]
    chains = []
    w, h = SIZE
    for i, s in enumerate(segments):
        args += ["-ss", f"{s.start_s:.3f}", "-i", str(TESTDATA / "video" / s.source)]
        chains.append(
            f"[{i}:v]scale={w}:{h}:force_original_aspect_ratio=decrease,"
            f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={FPS},format=yuv420p,"
            f"trim=end_frame={s.frames},setpts=PTS-STARTPTS[v{i}]"
        )
    joined = "".join(f"[v{i}]" for i in range(len(segments)))
    graph = ";".join(chains) + f";{joined}concat=n={len(segments)}:v=1:a=0[out]"
    tmp = dest.with_suffix(".tmp.mp4")
    # x264 defaults on purpose (preset medium, keyint 250, scenecut 40): keyframes as in the wild
    args += ["-filter_complex", graph, "-map", "[out]", "-c:v", "libx264", "-an", str(tmp)]
    started = time.perf_counter()
    subprocess.run(args, check=True)
    tmp.replace(dest)
    sidecar.write_text(
        json.dumps(
            {
                "segments": [asdict(s) for s in segments],
                "encode_s": round(time.perf_counter() - started, 1),
            }
        )
    )
    return dest, cut_times(segments)


@dataclass
class Row:
    strategy: str
    frames: int
    max_gap_s: float
    scenes_sampled: float  # % of the plan's segments with at least one sampled frame
    cuts_with_frame_1s: float  # % of true cuts followed by a sampled frame within 1 s
    cuts_detected_2s: float  # % of true cuts that detect_cuts reports within 2 s after them
    wall_s: float
    cpu_s: float  # user + system time of the ffmpeg processes
    x_realtime: float
    detect_cuts_s: float


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(name: str, video: Path, duration: float, cuts: list[float], settings: DecodeSettings
            ) -> Row:  # fmt: skip
    cpu, started = _cpu(), time.perf_counter()
    frames = list(sample_frames(video, 0.0, duration, settings))
    wall, cpu = time.perf_counter() - started, _cpu() - cpu
    times = [f.t for f in frames]
    started = time.perf_counter()
    found = detect_cuts([(f.t, f.image) for f in frames], SegmentSettings().scene_threshold)
    detect_s = time.perf_counter() - started
    eps = 1e-3  # cut times are frame counts / 30; frame times are rounded to microseconds
    scenes = list(pairwise([0.0, *cuts, duration]))
    sampled = sum(any(a - eps <= t < b - eps for t in times) for a, b in scenes)
    seen = sum(any(c - eps <= t < c + 1.0 for t in times) for c in cuts)
    detected = sum(any(c - eps <= d < c + 2.0 for d in found) for c in cuts)
    gap = max(b - a for a, b in pairwise([0.0, *times, duration]))
    return Row(name, len(frames), round(gap, 2),
               round(100 * sampled / len(scenes), 1), round(100 * seen / len(cuts), 1),
               round(100 * detected / len(cuts), 1), round(wall, 2), round(cpu, 2),
               round(duration / wall, 1), round(detect_s, 2))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fps", type=float, default=DecodeSettings().fps)
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()
    video, cuts = build(a.seconds, a.seed)
    started = time.perf_counter()
    info = probe(video, MediaSettings())
    probe_s = time.perf_counter() - started
    base = DecodeSettings(fps=a.fps)
    runs: list[tuple[str, DecodeSettings]] = [
        ("full", base.model_copy(update={"strategy": "full"})),
        ("reference frames", base.model_copy(update={"strategy": "reference"})),
        ("keyframes only", base.model_copy(update={"strategy": "keyframes", "max_gap_s": 1e9})),
    ]
    runs += [(f"keyframes + fill {g:g} s",
              base.model_copy(update={"strategy": "keyframes", "max_gap_s": float(g)}))
             for g in (2, 4, 8)]  # fmt: skip
    rows = []
    for name, settings in runs:
        rows.append(measure(name, video, info.duration_s, cuts, settings))
        print(rows[-1], flush=True)
    header = (
        f"{'strategy':24} {'frames':>6} {'max gap':>7} {'scenes':>6} {'cut+1s':>6} {'cuts':>5} "
    )
    print(f"\n{video.name}: {info.duration_s:.0f} s {info.width}x{info.height} {info.fps:g} fps, "
          f"{info.keyframes_per_min} keyframes/min, {len(cuts)} cuts; probe {probe_s:.2f} s; "
          f"decode at {a.fps:g} fps, short side {base.small_side}\n")  # fmt: skip
    print(header + f"{'wall s':>7} {'cpu s':>6} {'x realtime':>10}")
    for r in rows:
        print(f"{r.strategy:24} {r.frames:6d} {r.max_gap_s:7.2f} {r.scenes_sampled:5.1f}% "
              f"{r.cuts_with_frame_1s:5.1f}% "
              f"{r.cuts_detected_2s:4.0f}% {r.wall_s:7.2f} {r.cpu_s:6.2f} "
              f"{r.x_realtime:10.1f}")  # fmt: skip
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({
        "video": {"seconds": info.duration_s, "size": f"{info.width}x{info.height}",
                  "fps": info.fps, "keyframes_per_min": info.keyframes_per_min,
                  "cuts": len(cuts), "seed": a.seed},
        "probe_s": round(probe_s, 3), "decode_fps": a.fps, "small_side": base.small_side,
        "rows": [asdict(r) for r in rows],
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
