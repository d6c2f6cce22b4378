"""ffmpeg plumbing of the haystack builder (bench/haystack.py): decoding audio to one rate, and
writing a video as segments encoded with identical parameters, concatenated without re-encoding,
with the audio assembled sample-exactly as one track and muxed last (so times do not drift)."""

from __future__ import annotations

import os
import subprocess
import wave
from pathlib import Path

import numpy as np

AUDIO_RATE = 22050


def run(args: list[str]) -> bytes:
    p = subprocess.run(args, capture_output=True, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:8])}...: {p.stderr.decode(errors='replace')[-800:]}")
    return p.stdout


def duration_of(path: Path) -> float:
    out = run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
               str(path)])  # fmt: skip
    return float(out.decode().strip())


def pcm(path: Path, start: float, seconds: float | None) -> np.ndarray:
    """Mono 16-bit samples at AUDIO_RATE from `start` for `seconds` (None: to the end)."""
    args = ["ffmpeg", "-v", "error", "-ss", f"{start:.3f}"]
    if seconds is not None:
        args += ["-t", f"{seconds:.3f}"]
    args += ["-i", str(path), "-ac", "1", "-ar", str(AUDIO_RATE), "-f", "s16le", "-"]
    return np.frombuffer(run(args), dtype=np.int16)


def fit(samples: np.ndarray, n: int) -> np.ndarray:
    """`samples` cut or padded with silence to exactly `n`."""
    out = np.zeros(n, dtype=np.int16)
    out[: min(n, len(samples))] = samples[:n]
    return out


class SegmentWriter:
    """Appends segments (a piece of a video, or a still picture) at `size` and `fps`; `t` is the
    length written so far."""

    def __init__(self, work: Path, size: tuple[int, int], fps: int) -> None:
        self.work, self.size, self.fps = work, size, fps
        self.segments: list[Path] = []
        self.audio: list[np.ndarray] = []
        self.t = 0.0

    def _encode(self, inputs: list[str], frames: int) -> None:
        w, h = self.size
        vf = (
            f"scale={w}:{h}:force_original_aspect_ratio=decrease,"
            f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={self.fps}"
        )
        out = self.work / f"seg{len(self.segments):05d}.mp4"
        # x264 defaults otherwise (keyint 250, scenecut on): keyframes fall as in real encodes
        run(["ffmpeg", "-v", "error", "-y", *inputs, "-vf", vf, "-frames:v", str(frames), "-an",
             "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-pix_fmt", "yuv420p",
             "-threads", "2", str(out)])  # fmt: skip
        self.segments.append(out)

    def add(self, video: Path, start: float, seconds: float, audio: np.ndarray,
            still: bool = False) -> tuple[float, float]:  # fmt: skip
        """`seconds` of `video` from `start` (or of the picture `video` when `still`), with
        `audio` under it; returns the segment's span in the output."""
        frames = max(1, round(seconds * self.fps))
        seconds = frames / self.fps
        if still:
            inputs = ["-loop", "1", "-i", str(video)]
        else:
            inputs = ["-ss", f"{start:.3f}", "-i", str(video)]
        self._encode(inputs, frames)
        self.audio.append(fit(audio, round(seconds * AUDIO_RATE)))
        span = (self.t, self.t + seconds)
        self.t += seconds
        return span

    def finish(self, dest: Path) -> None:
        listing = self.work / "list.txt"
        listing.write_text("".join(f"file '{p.name}'\n" for p in self.segments))
        wav = self.work / "audio.wav"
        with wave.open(str(wav), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(AUDIO_RATE)
            w.writeframes(np.concatenate(self.audio).tobytes())
        # a name of its own, so builds of the same video in two processes do not collide
        tmp = dest.with_name(f".{dest.stem}.{os.getpid()}.mp4")
        run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
             "-i", str(wav), "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac",
             "-b:a", "96k", "-movflags", "+faststart", str(tmp)])  # fmt: skip
        tmp.replace(dest)
