"""Build long test videos with needles at known times (Needle In A Video Haystack style).

The haystack is real footage and real unrelated speech from `../shared/testdata`, cut into
segments of random length; needles are real media with known content — a spoken sentence with
its transcript, a photo of a sign, a photo of objects — placed at seeded random times. Every
needle carries a question, the words an answer must contain, and its exact time span.

Video segments are encoded with identical parameters and concatenated without re-encoding; the
audio is assembled sample-exactly as one track and muxed last, so needle times do not drift.

    python -m bench.haystack out.mp4 --minutes 10 --seed 1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
AUDIO_RATE = 22050


@dataclass(frozen=True)
class NeedleSpec:
    kind: str  # speech | text | object
    source: str  # path under testdata
    question: str
    answer_words: tuple[str, ...]
    seconds: float = 6.0  # how long an image needle stays on screen


# Queries were checked against what the offline models actually produce (pocketsphinx hears
# ~30% of words; RapidOCR reads the signs; YOLO11n sees the fruit as oranges), not against
# ground truth.
NEEDLES = [
    NeedleSpec(
        "speech",
        "speech/pocketsphinx_librivox/sense_and_sensibility_01_austen_64kb-0870.wav",
        "What did mister John Dashwood consider?",
        ("dashwood",),
    ),
    NeedleSpec(
        "speech",
        "speech/pocketsphinx_librivox/sense_and_sensibility_01_austen_64kb-0890.wav",
        "Who is called rather cold hearted and selfish?",
        ("selfish",),
    ),
    NeedleSpec(
        "text",
        "text_images/easyocr_japanese.jpg",
        "Where was the NO LITTER sign of Minato City?",
        ("litter",),
    ),
    NeedleSpec(
        "text",
        "text_images/easyocr_english.png",
        "When is the advice to reduce your risk of coronavirus infection shown?",
        ("coronavirus",),
    ),
    NeedleSpec(
        "object",
        "object_images/opencv_fruits.jpg",
        "When do we see fruit such as oranges?",
        ("orange",),
    ),
    NeedleSpec(
        "object",
        "object_images/opencv_messi5.jpg",
        "When is a football match with a sports ball shown?",
        ("ball",),
    ),
]

# footage without needle-like content: (file, has_audio)
FILLER = [
    ("video/opencv_vtest.avi", False),
    ("video/moviepy_chaplin.mp4", True),
    ("video/moviepy_big_buck_bunny_0_30.webm", True),
    ("video/kivy_cityCC0.mpg", False),
    ("video/renpy_oa4_launch.webm", True),
]
UNRELATED_SPEECH = ["speech/pyaudioanalysis_diarizationExample.wav"] + [
    f"speech/ljspeech_coqui/LJ001-000{i}.wav" for i in range(1, 9)
]


@dataclass
class Needle:
    kind: str
    start_s: float
    end_s: float
    query: str
    answer_words: list[str]
    source: str


@dataclass
class Haystack:
    path: Path
    duration_s: float
    needles: list[Needle] = field(default_factory=list)

    def to_json(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        return d

    @classmethod
    def from_json(cls, d: dict) -> Haystack:
        return cls(Path(d["path"]), d["duration_s"], [Needle(**n) for n in d["needles"]])


def _run(args: list[str]) -> bytes:
    p = subprocess.run(args, capture_output=True, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:8])}...: {p.stderr.decode(errors='replace')[-800:]}")
    return p.stdout


def _duration(path: Path) -> float:
    out = _run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)]
    )
    return float(out.decode().strip())


def _pcm(path: Path, start: float, seconds: float | None) -> np.ndarray:
    args = ["ffmpeg", "-v", "error", "-ss", f"{start:.3f}"]
    if seconds is not None:
        args += ["-t", f"{seconds:.3f}"]
    args += ["-i", str(path), "-ac", "1", "-ar", str(AUDIO_RATE), "-f", "s16le", "-"]
    return np.frombuffer(_run(args), dtype=np.int16)


def _fit(samples: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.int16)
    out[: min(n, len(samples))] = samples[:n]
    return out


class _Builder:
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
        _run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                *inputs,
                "-vf",
                vf,
                "-frames:v",
                str(frames),
                "-an",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-crf",
                "26",
                "-pix_fmt",
                "yuv420p",
                "-threads",
                "2",
                str(out),
            ]
        )
        self.segments.append(out)

    def add(
        self, video: Path, start: float, seconds: float, audio: np.ndarray, still: bool = False
    ) -> tuple[float, float]:
        frames = max(1, round(seconds * self.fps))
        seconds = frames / self.fps
        inputs = (
            ["-loop", "1", "-i", str(video)] if still else ["-ss", f"{start:.3f}", "-i", str(video)]
        )
        self._encode(inputs, frames)
        self.audio.append(_fit(audio, round(seconds * AUDIO_RATE)))
        span = (self.t, self.t + seconds)
        self.t += seconds
        return span

    def finish(self, dest: Path) -> None:
        listing = self.work / "list.txt"
        listing.write_text("".join(f"file '{p.name}'\n" for p in self.segments))
        wav = self.work / "audio.wav"
        import wave

        with wave.open(str(wav), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(AUDIO_RATE)
            w.writeframes(np.concatenate(self.audio).tobytes())
        tmp = dest.with_suffix(".tmp.mp4")
        _run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-f",
                "concat",
                "-safe",
                "0",
                "-i",
                str(listing),
                "-i",
                str(wav),
                "-map",
                "0:v",
                "-map",
                "1:a",
                "-c:v",
                "copy",
                "-c:a",
                "aac",
                "-b:a",
                "96k",
                "-movflags",
                "+faststart",
                str(tmp),
            ]
        )
        tmp.replace(dest)


def build_haystack(
    dest: Path,
    duration_s: float,
    seed: int = 0,
    *,
    needles_per_kind: int = 1,
    size: tuple[int, int] = (640, 360),
    fps: int = 25,
    testdata: Path = TESTDATA,
) -> Haystack:
    """Build (or reuse, when built before with the same arguments) a haystack video at `dest`."""
    dest = Path(dest)
    spec = {
        "duration_s": duration_s,
        "seed": seed,
        "n": needles_per_kind,
        "size": size,
        "fps": fps,
        "needles": [asdict(n) for n in NEEDLES],
        "v": 2,
    }
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    sidecar = dest.with_suffix(".needles.json")
    if dest.exists() and sidecar.exists():
        saved = json.loads(sidecar.read_text())
        if saved.get("key") == key:
            return Haystack.from_json(saved["haystack"])

    rng = random.Random(seed)
    chosen: list[NeedleSpec] = []
    for kind in ("speech", "text", "object"):
        pool = [n for n in NEEDLES if n.kind == kind]
        chosen += [pool[i % len(pool)] for i in range(needles_per_kind)]
    rng.shuffle(chosen)
    # needle i goes after a random fraction of the filler time, leaving the first 10 s alone
    slots = sorted(rng.uniform(10, max(11.0, duration_s - 20)) for _ in chosen)
    speech_bank = np.concatenate([_pcm(testdata / s, 0, None) for s in UNRELATED_SPEECH])
    speech_pos = 0

    def unrelated(seconds: float) -> np.ndarray:
        nonlocal speech_pos
        n = round(seconds * AUDIO_RATE)
        if speech_pos + n > len(speech_bank):
            speech_pos = 0
        out = speech_bank[speech_pos : speech_pos + n]
        speech_pos += n
        return out

    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="haystack-", dir=dest.parent))
    try:
        b = _Builder(work, size, fps)
        placed: list[Needle] = []
        while b.t < duration_s - 0.5:
            if chosen and b.t >= slots[0]:
                slots.pop(0)
                n = chosen.pop(0)
                src = testdata / n.source
                if n.kind == "speech":
                    voice = _pcm(src, 0, None)
                    seconds = len(voice) / AUDIO_RATE + 1.0
                    filler, _ = FILLER[0]  # speech over the silent plaza camera
                    span = b.add(testdata / filler, rng.uniform(0, 60), seconds, voice)
                    span = (span[0], span[0] + len(voice) / AUDIO_RATE)
                else:
                    span = b.add(src, 0, n.seconds, np.zeros(0, np.int16), still=True)
                placed.append(
                    Needle(
                        n.kind,
                        round(span[0], 3),
                        round(span[1], 3),
                        n.question,
                        list(n.answer_words),
                        n.source,
                    )
                )
                # keep needles apart so each one's clip holds only that needle
                slots = [max(s, b.t + 10.0) for s in slots]
                continue
            path, has_audio = FILLER[rng.randrange(len(FILLER))]
            src = testdata / path
            length = _duration(src)
            seconds = min(rng.uniform(6, 20), duration_s - b.t, length)
            start = rng.uniform(0, max(0.0, length - seconds))
            audio = _pcm(src, start, seconds) if has_audio else unrelated(seconds)
            b.add(src, start, seconds, audio)
        b.finish(dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    hay = Haystack(dest, round(b.t, 3), placed)
    sidecar.write_text(json.dumps({"key": key, "haystack": hay.to_json()}, indent=1))
    return hay


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dest", type=Path)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--needles-per-kind", type=int, default=1)
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--fps", type=int, default=25)
    a = ap.parse_args()
    w, h = (int(x) for x in a.size.split("x"))
    hay = build_haystack(
        a.dest, a.minutes * 60, a.seed, needles_per_kind=a.needles_per_kind, size=(w, h), fps=a.fps
    )
    print(json.dumps(hay.to_json(), indent=1))


if __name__ == "__main__":
    main()
