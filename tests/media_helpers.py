"""Test videos for the media and segment tests, built with ffmpeg from its lavfi sources.

The "strip" video is four 4-second segments of different generated footage (testsrc2,
mandelbrot, gradients, colour bars; scene cuts at 4, 8 and 12 s), 640x360 at 25 fps, with a
440 Hz tone. A strip across its top row writes each frame's number in binary (one black or white
32 px cell per bit), so a test can read from any decoded picture which frame it is and check the
time it was given: ground truth independent of ffmpeg's timestamps. Built videos are cached
between runs, keyed by how they were built."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import numpy as np

from tests.synth import CACHE, LAVFI

FPS = 25
W, H = 640, 360
SEGMENTS = ["testsrc2", "mandelbrot", "gradients", "bars"]  # lavfi sources (synth.LAVFI), 4 s
SEGMENT_S = 4.0
DURATION = SEGMENT_S * len(SEGMENTS)
CUTS = [SEGMENT_S * k for k in range(1, len(SEGMENTS))]
BITS, CELL, STRIP_H = 20, 32, 16


def ffmpeg(*args: str) -> None:
    p = subprocess.run(["ffmpeg", "-v", "error", "-y", *args], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-1500:]


def _cached(name: str, args: list[str]) -> Path:
    """Run ffmpeg `args` + output path unless a file built by the same args exists."""
    key = hashlib.sha256("\0".join(args).encode()).hexdigest()[:12]
    dest = CACHE / f"{Path(name).stem}-{key}{Path(name).suffix}"
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}{dest.suffix}")
        ffmpeg(*args, str(tmp))
        tmp.replace(dest)
    return dest


def strip_video(x264: str = "", ext: str = "mp4", extra: tuple[str, ...] = ()) -> Path:
    """The strip video; `x264` is passed as -x264-params (e.g. a long GOP without scenecut)."""
    args: list[str] = []
    chains = []
    for i, source in enumerate(SEGMENTS):
        args += ["-f", "lavfi", "-t", str(SEGMENT_S), "-i", LAVFI[source].format(w=W, h=H, fps=FPS)]
        chains.append(f"[{i}:v]format=yuv420p,setsar=1,setpts=PTS-STARTPTS[s{i}]")
    n = len(SEGMENTS)
    bit = f"255*mod(floor(N/pow(2,floor(X/{CELL}))),2)"
    graph = ";".join(chains) + (
        f";{''.join(f'[s{i}]' for i in range(n))}concat=n={n}:v=1:a=0[v];"
        f"color=c=black:s={W}x{STRIP_H}:r={FPS}:d={DURATION},format=gray,geq=lum='{bit}',"
        f"format=yuv420p[strip];[v][strip]overlay=0:0:shortest=1[out]"
    )
    args += ["-f", "lavfi", "-i", f"sine=f=440:d={DURATION}", "-filter_complex", graph]
    args += ["-map", "[out]", "-map", f"{n}:a", "-c:a", "aac", "-ar", "48000"]
    if ext == "mpg":
        args += ["-c:v", "mpeg2video", "-q:v", "2", "-c:a", "mp2", "-f", "mpeg"]
    else:
        args += ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
        args += ["-x264-params", x264] if x264 else []
    return _cached(f"strip.{ext}", [*args, *extra])


def frame_number(image: np.ndarray) -> int:
    """The frame number written in a decoded (and possibly downscaled) strip video frame."""
    f = image.shape[1] / W
    y = max(0, int(STRIP_H * f / 2) - 1)
    gray = image[y : y + 2].mean(axis=(0, 2))
    cells = [gray[int((CELL * b + CELL / 2) * f) - 1 : int((CELL * b + CELL / 2) * f) + 2].mean()
             for b in range(BITS)]  # fmt: skip
    return sum(1 << b for b, v in enumerate(cells) if v > 127)


def true_time(image: np.ndarray) -> float:
    return frame_number(image) / FPS


def segment_of(t: float) -> int:
    return min(int(t // SEGMENT_S), len(SEGMENTS) - 1)
