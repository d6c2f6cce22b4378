"""Frames out of a video: one ffmpeg process per range streams small RGB frames through a pipe,
their times read from its `showinfo` lines. Times are seconds from the start of the file
(ffmpeg's clock, on which the container's start time is 0), the clock `-ss` and players use."""

from __future__ import annotations

import math
import queue
import re
import subprocess
import threading
from collections import deque
from collections.abc import Generator, Iterator
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import numpy as np

from indexer.errors import CorruptMedia, DecodeStalled
from indexer.media.tools import fps_mode_flag, tool
from indexer.settings import DecodeSettings

# showinfo prints pts_time with 6 significant digits (10 ms steps past 1000 s): use pts * tb
_SHOWINFO = re.compile(r"\bpts:\s*(-?\d+).*?\bs:(\d+)x(\d+).*?\biskey:(\d)")
_TIME_BASE = re.compile(r"config in time_base: (\d+)/(\d+)")


class SampledFrame(NamedTuple):
    """A decoded frame: its time, its HxWx3 uint8 RGB pixels, whether it is a keyframe."""

    t: float
    image: np.ndarray
    keyframe: bool


def _scale(small_side: int) -> str:
    # short side to small_side, never upscaled; display aspect kept (sar applied); even sizes
    s = f"min({small_side},min(iw*sar,ih))"
    return f"scale=w='2*trunc({s}*max(dar,1)/2)':h='2*trunc({s}*max(1/dar,1)/2)':flags=area"


class Pipe:
    """One ffmpeg process streaming rgb24 frames of [t0, t1) to stdout; its `showinfo` lines on
    stderr give each frame's time and size, read by a thread so neither pipe can fill and block.
    Iterating yields SampledFrame; raises CorruptMedia if ffmpeg fails."""

    def __init__(self, path: Path, t0: float, t1: float | None, select: str, small_side: int,
                 skip: str | None = None, max_frames: int | None = None,
                 stall_s: float = 120.0) -> None:  # fmt: skip
        args = [tool("ffmpeg"), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"]
        # skipping decoding gains nothing from frame threads but pays their overhead (2x the
        # CPU); parts run in parallel, one per core, so one thread each keeps the cores busy
        args += ["-threads", "1", "-skip_frame", skip] if skip else []
        args += ["-ss", f"{t0:.6f}"]
        args += ["-t", f"{max(t1 - t0, 1e-3):.6f}"] if t1 is not None else []
        vf = f"select='{select}',{_scale(small_side)},setsar=1,format=rgb24,showinfo"
        args += ["-i", str(path), "-map", "0:V:0", "-vf", vf, fps_mode_flag(), "passthrough"]
        args += ["-frames:v", str(max_frames)] if max_frames else []
        args += ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
        self.offset = t0  # without -copyts, ffmpeg's clock starts at the seek point
        self.stall_s = stall_s
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.meta: queue.Queue[tuple[float, int, int, bool] | None] = queue.Queue()
        self.log: deque[str] = deque(maxlen=8)
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        tb = Fraction(1, 1000)  # replaced by the filter's own time base before any frame
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            if "Parsed_showinfo" not in line:
                self.log.append(line)
            elif m := _SHOWINFO.search(line):
                self.meta.put((float(int(m[1]) * tb), int(m[2]), int(m[3]), m[4] == "1"))
            elif m := _TIME_BASE.search(line):
                tb = Fraction(int(m[1]), int(m[2]))
        self.meta.put(None)

    def _next_meta(self) -> tuple[float, int, int, bool] | None:
        """The next frame's metadata; a decoder silent for `stall_s` is hung: it is killed
        (a worker must not heartbeat forever over it)."""
        try:
            return self.meta.get(timeout=self.stall_s)
        except queue.Empty:
            self.proc.kill()
            raise DecodeStalled(f"ffmpeg produced no frame for {self.stall_s:.0f} s") from None

    def __iter__(self) -> Generator[SampledFrame, None, None]:
        assert self.proc.stdout is not None
        try:
            while (item := self._next_meta()) is not None:
                t, w, h, key = item
                data = self.proc.stdout.read(w * h * 3)
                if len(data) < w * h * 3:
                    break
                image = np.frombuffer(bytearray(data), np.uint8).reshape(h, w, 3)
                # 0.1 ms: finer than any frame interval, coarser than seek-offset rounding
                yield SampledFrame(round(t + self.offset, 4), image, key)
            leftover = self.proc.stdout.read(1)
            if self.proc.wait() != 0 or leftover:
                detail = "frame metadata out of step" if leftover else " / ".join(self.log)
                raise CorruptMedia(f"decoding failed: {detail[-600:]}")
        finally:
            if self.proc.poll() is None:  # the consumer stopped early
                self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()


def sample_frames(path: Path, t0: float, t1: float, settings: DecodeSettings
                  ) -> Iterator[SampledFrame]:  # fmt: skip
    """Frames of [t0, t1) in time order, short side `small_side` (never upscaled), at most one
    in each 1/fps of time from t0. "full" decodes every frame; "reference" decodes the frames
    other frames refer to (all but x264's non-reference B-frames: two thirds of the work) on one
    thread; "keyframes" decodes only keyframes, then fills each gap longer than `max_gap_s`
    (range edges included) by decoding from the keyframe before it, non-reference frames
    skipped. Raises CorruptMedia, ToolMissing."""
    path, t0 = Path(path), max(0.0, t0)
    if t1 <= t0:
        return
    # the first frame in each 1/fps of time from t0 (ffmpeg's t counts from the seek point):
    # frames keep their own times, unlike with the fps filter
    bucket = f"floor(%s*{settings.fps:.6f}+1e-3)"  # + 1e-3: k/fps itself lands in bucket k
    thin = f"isnan(prev_selected_t)+gt({bucket % 't'},{bucket % 'prev_selected_t'})"
    # nokey, not nointra: ffmpeg 5.1's h264 decoder mislabels times after the non-IDR I-frames
    # that nointra would add (off by the reorder delay), so only IDR frames count as keyframes
    skip = {"keyframes": "nokey", "reference": "noref"}.get(settings.strategy)
    pipe = Pipe(path, t0, t1, thin, settings.small_side, skip=skip, stall_s=settings.stall_s)
    frames = iter(pipe)
    fills = settings.strategy == "keyframes"
    prev, virtual = t0, True  # the range's start counts as a sample for the gap rule
    try:
        for f in frames:
            if not t0 <= f.t < t1:
                continue
            if fills and f.t - prev > settings.max_gap_s:
                yield from _fill(path, prev, f.t, virtual, settings)
            yield f
            prev, virtual = f.t, False
        if fills and t1 - prev > settings.max_gap_s:
            yield from _fill(path, prev, t1, virtual, settings)
    finally:
        frames.close()


def fill_points(a: float, b: float, max_gap: float, fps: float) -> list[float]:
    """Times to sample in the gap (a, b) so that no gap exceeds `max_gap`, decoding as little
    as possible: decoding runs from the keyframe at `a` to the last point, so that point goes
    as early as allowed (b - max_gap) and the others evenly before it, 1/fps apart or more when
    the gap allows. Slack absorbs the distance from a point to the next decodable frame."""
    gap, limit = b - a, max_gap - min(0.25, max_gap / 4)
    if gap <= max_gap:
        return []
    n = math.ceil(gap / limit - 1e-9) - 1
    step = max((gap - limit) / n, min(1.0 / fps, gap / (n + 1)))
    return [a + step * j for j in range(1, n + 1)]


def _fill(path: Path, a: float, b: float, virtual: bool, settings: DecodeSettings
          ) -> Iterator[SampledFrame]:  # fmt: skip
    points = fill_points(a, b, settings.max_gap_s, settings.fps)
    if not points:
        return
    step, n = points[0] - a, len(points)
    # seek just past the keyframe at `a` (already sampled) so decoding starts from it; select
    # the first decoded frame at or after each point
    start = a if virtual else a + 0.001
    c = f"min(floor((%s+{start - a:.6f})/{step:.6f}),{n})"
    select = f"gt({c % 't'},if(isnan(prev_selected_t),0,{c % 'prev_selected_t'}))"
    pipe = Pipe(
        path,
        start,
        b,
        select,
        settings.small_side,
        skip="noref",
        max_frames=n,
        stall_s=settings.stall_s,
    )
    yield from (f for f in pipe if a < f.t < b)
