"""Build test videos with needles at known times (Needle In A Video Haystack style).

A haystack is filler footage cut into segments of random length, with unrelated speech laid over
the footage that has no sound of its own; needles are media with known content — a spoken
sentence, a picture of a sign or card, a photo of objects — placed at seeded random times. Every
needle carries a question, the words an answer must contain, and its exact time span.

What a haystack is made of is a `Material`: the tests build theirs from generated media
(tests/haystacks.py); `real_material(testdata)` is a set of real recordings and photos for
benchmarks, used only when a test-data directory is given explicitly.

Video segments are encoded with identical parameters and concatenated without re-encoding; the
audio is assembled sample-exactly as one track and muxed last, so needle times do not drift.

    python -m bench.haystack out.mp4 --testdata /path/to/testdata --minutes 10 --seed 1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bench.haystack_media import AUDIO_RATE, SegmentWriter, duration_of, pcm

KINDS = ("speech", "text", "object")
PAUSE_S = 1.0  # silence around a speech needle
LEAD_S, GAP_S = 10.0, 10.0  # filler before the first and after the last needle; between two


@dataclass(frozen=True)
class NeedleSpec:
    kind: str  # speech | text | object
    source: str  # media file (a WAV for speech, a picture otherwise)
    question: str
    answer_words: tuple[str, ...]
    seconds: float = 6.0  # how long an image needle stays on screen


@dataclass(frozen=True)
class Material:
    """What a haystack is made of: needle media with their questions, filler footage
    (`(video file, has its own audio)`), and unrelated speech laid over the silent footage.
    A speech needle plays over the first silent filler."""

    needles: tuple[NeedleSpec, ...]
    filler: tuple[tuple[str, bool], ...]
    unrelated_speech: tuple[str, ...]

    def backdrop(self) -> str:
        return next(path for path, has_audio in self.filler if not has_audio)


# Queries were checked against what the offline models actually produce (pocketsphinx hears
# ~30% of words; RapidOCR reads the signs; YOLO11n sees the fruit as oranges), not against
# ground truth.
_REAL_NEEDLES = (
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
)
_REAL_FILLER = (
    ("video/opencv_vtest.avi", False),
    ("video/moviepy_chaplin.mp4", True),
    ("video/moviepy_big_buck_bunny_0_30.webm", True),
    ("video/kivy_cityCC0.mpg", False),
    ("video/renpy_oa4_launch.webm", True),
)
_REAL_SPEECH = (
    "speech/pyaudioanalysis_diarizationExample.wav",
    *(f"speech/ljspeech_coqui/LJ001-000{i}.wav" for i in range(1, 9)),
)


def real_material(testdata: Path) -> Material:
    """Real recordings, photos and footage from a test-data directory (for benchmarks)."""
    root = Path(testdata)
    if not (root / _REAL_SPEECH[0]).is_file():
        raise FileNotFoundError(f"no test data at {root}")
    return Material(
        needles=tuple(
            NeedleSpec(n.kind, str(root / n.source), n.question, n.answer_words, n.seconds)
            for n in _REAL_NEEDLES
        ),
        filler=tuple((str(root / p), a) for p, a in _REAL_FILLER),
        unrelated_speech=tuple(str(root / p) for p in _REAL_SPEECH),
    )


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


class _SpeechBank:
    """Unrelated speech, handed out in consecutive pieces, going round when it runs out."""

    def __init__(self, files: tuple[str, ...]) -> None:
        self.samples = np.concatenate([pcm(Path(f), 0, None) for f in files])
        self.pos = 0

    def take(self, seconds: float) -> np.ndarray:
        n = round(seconds * AUDIO_RATE)
        idx = (self.pos + np.arange(n)) % len(self.samples)
        self.pos = (self.pos + n) % len(self.samples)
        return self.samples[idx]


def _needle_starts(rng: random.Random, lengths: list[float], duration_s: float) -> list[float]:
    """Random start times for needles of `lengths` (in this order): none in the first or last
    LEAD_S, and at least GAP_S of filler between two, so each needle's clip holds only it."""
    spare = duration_s - 2 * LEAD_S - sum(lengths) - GAP_S * max(0, len(lengths) - 1)
    if spare < 0:
        raise ValueError(f"{duration_s:g} s cannot hold needles of {sum(lengths):.1f} s")
    offsets = sorted(rng.uniform(0, spare) for _ in lengths)
    return [LEAD_S + off + sum(lengths[:i]) + GAP_S * i for i, off in enumerate(offsets)]


def _cache_key(material: Material, **build: object) -> str:
    spec = {**build, "material": asdict(material), "v": 5}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def build_haystack(
    dest: Path,
    duration_s: float,
    seed: int = 0,
    *,
    material: Material | None = None,
    testdata: Path | None = None,
    needles_per_kind: int = 1,
    kinds: tuple[str, ...] = KINDS,
    size: tuple[int, int] = (640, 360),
    fps: int = 25,
) -> Haystack:
    """Build (or reuse, when built before from the same material and arguments) a haystack
    video at `dest`, from `material`, or from `real_material(testdata)` when only `testdata`
    is given."""
    if material is None:
        if testdata is None:
            raise ValueError("build_haystack needs `material` or a `testdata` directory")
        material = real_material(testdata)
    dest = Path(dest)
    key = _cache_key(material, duration_s=duration_s, seed=seed, n=needles_per_kind,
                     kinds=kinds, size=size, fps=fps)  # fmt: skip
    sidecar = dest.with_suffix(".needles.json")
    if dest.exists() and sidecar.exists():
        saved = json.loads(sidecar.read_text())
        if saved.get("key") == key:
            return Haystack.from_json(saved["haystack"])

    rng = random.Random(seed)
    chosen: list[NeedleSpec] = []
    for kind in kinds:
        pool = [n for n in material.needles if n.kind == kind]
        chosen += [pool[i % len(pool)] for i in range(needles_per_kind)] if pool else []
    rng.shuffle(chosen)
    # a speech needle is its sentence with a pause before and after, as a speaker takes the word
    pause = np.zeros(round(PAUSE_S * AUDIO_RATE), np.int16)
    said = {n: np.concatenate([pause, pcm(Path(n.source), 0, None), pause])
            for n in chosen if n.kind == "speech"}  # fmt: skip
    lengths = [len(said[n]) / AUDIO_RATE if n in said else n.seconds for n in chosen]
    starts = _needle_starts(rng, lengths, duration_s)
    bank = _SpeechBank(material.unrelated_speech)

    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="haystack-", dir=dest.parent))
    try:
        out = SegmentWriter(work, size, fps)
        placed: list[Needle] = []
        while out.t < duration_s - 0.5 or chosen:
            if chosen and out.t >= starts[0] - 0.5 / fps:
                starts.pop(0)
                n = chosen.pop(0)
                if n in said:
                    backdrop = Path(material.backdrop())
                    seconds = len(said[n]) / AUDIO_RATE
                    start = rng.uniform(0, max(0.0, duration_of(backdrop) - seconds))
                    a, b = out.add(backdrop, start, seconds, said[n])
                    span = (a + PAUSE_S, b - PAUSE_S)
                else:
                    span = out.add(Path(n.source), 0, n.seconds, np.zeros(0, np.int16), still=True)
                placed.append(Needle(n.kind, round(span[0], 3), round(span[1], 3), n.question,
                                     list(n.answer_words), n.source))  # fmt: skip
                continue
            path, has_audio = material.filler[rng.randrange(len(material.filler))]
            src = Path(path)
            length = duration_of(src)
            until = starts[0] if chosen else duration_s
            seconds = min(rng.uniform(6, 20), until - out.t, length)
            start = rng.uniform(0, max(0.0, length - seconds))
            audio = pcm(src, start, seconds) if has_audio else bank.take(seconds)
            out.add(src, start, seconds, audio)
        out.finish(dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    hay = Haystack(dest, round(out.t, 3), placed)
    tmp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}")
    tmp.write_text(json.dumps({"key": key, "haystack": hay.to_json()}, indent=1))
    tmp.replace(sidecar)
    return hay


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dest", type=Path)
    ap.add_argument("--testdata", type=Path, required=True, help="real media to build from")
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--needles-per-kind", type=int, default=1)
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--fps", type=int, default=25)
    a = ap.parse_args()
    w, h = (int(x) for x in a.size.split("x"))
    hay = build_haystack(a.dest, a.minutes * 60, a.seed, testdata=a.testdata,
                         needles_per_kind=a.needles_per_kind, size=(w, h), fps=a.fps)  # fmt: skip
    print(json.dumps(hay.to_json(), indent=1))


if __name__ == "__main__":
    main()
