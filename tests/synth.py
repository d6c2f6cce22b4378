"""Test media built by the tests themselves, so a fresh clone needs nothing beside it.

- speech: espeak-ng (Debian package, GPL-3) in several voices and languages, 16 kHz mono WAV;
- text on screen: cards and signs drawn with Pillow's bundled scalable font;
- objects: the photos that ship inside the Ultralytics wheel (`ultralytics/assets`: a bus with
  people, two men in suits), which YOLO's COCO classes see;
- footage: ffmpeg's lavfi sources (testsrc2, mandelbrot, life, smptehdbars, cellauto, gradients);
- a short video to upload (`small_video`): a photo of two people, with speech.

Everything is cached under `CACHE`, keyed by how it was made, so a second run costs nothing."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import wave
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CACHE = Path(os.environ.get("VIDRAG_TEST_CACHE", Path.home() / ".cache" / "vidrag-tests"))
RATE = 16000


def _key(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:12]


def cache_path(name: str, *how: object) -> Path:
    """Where something built from `how` is cached: `name` with a digest of `how`."""
    stem, dot, ext = name.partition(".")
    return CACHE / f"{stem}-{_key(*how)}{dot}{ext}"


def _run(args: list[str]) -> None:
    p = subprocess.run(args, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:6])}…: {p.stderr[-1200:]}")


def _atomic(dest: Path, make: object) -> Path:
    """Run `make(tmp_path)` unless `dest` exists, then move the result into place."""
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.stem}.{os.getpid()}{dest.suffix}")
    make(tmp)  # type: ignore[operator]
    tmp.replace(dest)
    return dest


def speech_wav(text: str, voice: str = "en-us", speed: int = 160, pitch: int = 50) -> Path:
    """`text` spoken by espeak-ng voice `voice` (e.g. en-us, en-gb, fr-fr, de), 16 kHz mono."""
    dest = CACHE / "speech" / f"{voice}-{_key(text, voice, speed, pitch)}.wav"

    def make(tmp: Path) -> None:
        raw = tmp.with_suffix(".raw.wav")
        _run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(raw), text])
        _run(["ffmpeg", "-v", "error", "-y", "-i", str(raw), "-ac", "1", "-ar", str(RATE),
              str(tmp)])  # fmt: skip
        raw.unlink()

    return _atomic(dest, make)


def read_wav(path: Path) -> np.ndarray:
    """16-bit mono samples of a WAV file."""
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype(np.int16).tobytes())
    return path


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled scalable font: no system font package needed."""
    return ImageFont.load_default(size=size)


def text_card(
    lines: list[str],
    size: tuple[int, int] = (1280, 720),
    fg: str = "white",
    bg: str = "#1d3557",
    text_size: int = 64,
) -> np.ndarray:
    """An RGB picture with `lines` centred, like a slide, a departure board or a sign."""
    im = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(im)
    f = font(text_size)
    heights = [draw.textbbox((0, 0), line, font=f)[3] for line in lines]
    y = (size[1] - sum(heights) - 20 * (len(lines) - 1)) // 2
    for line, h in zip(lines, heights, strict=True):
        w = draw.textlength(line, font=f)
        draw.text(((size[0] - w) / 2, y), line, fill=fg, font=f)
        y += h + 20
    return np.asarray(im)


def save_png(image: np.ndarray, name: str) -> Path:
    dest = CACHE / "images" / f"{name}-{_key(image.tobytes())}.png"
    return _atomic(dest, lambda tmp: Image.fromarray(image).save(tmp, "PNG"))


def ultralytics_asset(name: str) -> Path:
    """A photo from the Ultralytics wheel: "bus.jpg" (a bus, four people) or "zidane.jpg"
    (two men, a tie)."""
    spec = importlib.util.find_spec("ultralytics")
    assert spec and spec.submodule_search_locations, "ultralytics is not installed"
    path = Path(next(iter(spec.submodule_search_locations))) / "assets" / name
    assert path.is_file(), f"{path} is missing from the ultralytics wheel"
    return path


# random sources get a fixed seed: the same arguments must build the same video (cached media is
# keyed by its arguments, and whether x264 cuts at a scene change depends on the colours)
LAVFI = {
    "testsrc2": "testsrc2=size={w}x{h}:rate={fps}",
    "mandelbrot": "mandelbrot=size={w}x{h}:rate={fps}",
    "life": "life=size={w}x{h}:rate={fps}:mold=10:ratio=0.1:death_color=#C83232:seed=1",
    "bars": "smptehdbars=size={w}x{h}:rate={fps}",
    "cellauto": "cellauto=size={w}x{h}:rate={fps}:rule=110:seed=1",
    "gradients": "gradients=size={w}x{h}:rate={fps}:speed=0.02:seed=1",
}


def lavfi_clip(source: str, seconds: float, size: tuple[int, int] = (640, 360), fps: int = 25,
               tone_hz: int | None = 440) -> Path:  # fmt: skip
    """`seconds` of an ffmpeg test source as H.264 + AAC (a tone, or silence)."""
    w, h = size
    dest = CACHE / "clips" / f"{source}-{_key(source, seconds, size, fps, tone_hz)}.mp4"
    audio = f"sine=f={tone_hz}:d={seconds}" if tone_hz else f"anullsrc=r=48000:cl=mono:d={seconds}"

    def make(tmp: Path) -> None:
        _run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
              LAVFI[source].format(w=w, h=h, fps=fps), "-f", "lavfi", "-i", audio,
              "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast",
              "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(tmp)])  # fmt: skip

    return _atomic(dest, make)


def still_with_speech(image: Path, speech: Path | None, seconds: float,
                      size: tuple[int, int] = (640, 360), fps: int = 25) -> Path:  # fmt: skip
    """A video of one picture (letterboxed to `size`) for `seconds`, with `speech` (or silence)."""
    w, h = size
    dest = CACHE / "clips" / f"still-{_key(str(image), str(speech), seconds, size, fps)}.mp4"
    audio = ["-i", str(speech)] if speech else ["-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono"]
    vf = (
        f"scale={w}:{h}:force_original_aspect_ratio=decrease,"
        f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1"
    )

    def make(tmp: Path) -> None:
        _run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-framerate", str(fps),
              "-i", str(image), *audio, "-vf", vf, "-t", str(seconds), "-af", "apad",
              "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
              "-c:a", "aac", str(tmp)])  # fmt: skip

    return _atomic(dest, make)


SMALL_VIDEO_S = 8.0
SMALL_VIDEO_SPEECH = "Good evening. Two presenters in suits read the news from the studio tonight."


def small_video() -> Path:
    """An 8-second 640x360 H.264 + AAC video (well under 2 MB): the Ultralytics photo of two
    men in suits, with a sentence of speech. Quick to probe and to index."""
    speech = speech_wav(SMALL_VIDEO_SPEECH, voice="en-us+f2", speed=145)
    return still_with_speech(ultralytics_asset("zidane.jpg"), speech, SMALL_VIDEO_S)
