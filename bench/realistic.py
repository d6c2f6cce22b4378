"""Build a realistic needle haystack: real footage with real talk, needles cut from real
recordings and photos (bench/needle_catalog.py) at random times, encoded in ONE pass.

    .venv/bin/python -m bench.realistic --minutes 10 --seed 1     # prints the needles
    .venv/bin/python -m bench.realistic --minutes 60 --testdata /path/to/testdata

Picture: filler shots (bench/realistic_plan.py) cut at random; a sign or photo needle appears
inside running footage (drifting slowly) or replaces it (a still, a slide, a film clip). Sound:
the footage's own sound, real background talk (a four-speaker recording that is never a needle)
between needles, and the speech needles, half of them with that talk 12 dB under them. Every
frame is rendered by ffmpeg into one pipe, and one x264 encode with its default GOP and scene-cut
detection (keyint 250, scenecut 40) makes the video: keyframes fall where the encoder puts them.

The video and a JSON sidecar (`<video>.needles.json`: needles, spans, questions, answer words,
where the keyframes fell) are cached under bench/.cache, keyed by every input of the build."""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import random
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench import realistic_audio as au
from bench.common import CACHE, SHARED
from bench.needle_catalog import ABSENT_QUESTIONS, NEEDLES, ULTRALYTICS, NeedleSpec
from bench.realistic_plan import (
    BACKGROUND_SPEECH,
    FOOTAGE,
    Placement,
    choose,
    overlay_box,
    place,
    shots,
)
from bench.realistic_render import keyframe_times, render_video

VERSION = 1  # bump when the build changes what a given seed produces
NEEDLE_DB, UNDER_DB, TALK_DB, SOUND_DB = -20.0, -32.0, -24.0, -28.0


@dataclass
class Haystack:
    """A built haystack: the video, its length and its needles (dicts, as in the sidecar)."""

    path: Path
    duration_s: float
    needles: list[dict[str, Any]]
    meta: dict[str, Any]


def resolve(src: str, testdata: Path) -> Path:
    if src.startswith(ULTRALYTICS):
        spec = importlib.util.find_spec("ultralytics")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("the ultralytics package (its bundled sample photos)")
        return Path(next(iter(spec.submodule_search_locations))) / "assets" / src.split(":", 1)[1]
    return testdata / src


def speech_audio(spec: NeedleSpec, testdata: Path) -> np.ndarray:
    """The needle's recording(s) in order, as one utterance at NEEDLE_DB."""
    parts: list[np.ndarray] = []
    if spec.synthetic:
        for voice, line in zip(spec.source, spec.said, strict=True):
            parts += [au.espeak(voice.split(":", 1)[1], line), au.silence(0.4)]
    else:
        for src in spec.source:
            parts += [au.decode(resolve(src, testdata)), au.silence(0.15)]
    return au.at_level(np.concatenate(parts[:-1]), NEEDLE_DB)


def _fade(x: np.ndarray, seconds: float = 0.03) -> np.ndarray:
    n = min(len(x) // 2, round(seconds * au.RATE))
    if n:
        ramp = np.linspace(0, 1, n, dtype=np.float32)
        x = x.copy()
        x[:n] *= ramp
        x[-n:] *= ramp[::-1]
    return x


def build_audio(
    duration_s: float,
    fps: int,
    cuts: list[Any],
    placed: list[Placement],
    voices: dict[str, np.ndarray],
    testdata: Path,
    rng: random.Random,
) -> tuple[np.ndarray, dict[str, float]]:
    """The sound track: footage sound, background talk, speech needles (see module doc)."""
    n = round(duration_s * au.RATE)
    native, talk = np.zeros(n, np.float32), np.zeros(n, np.float32)
    no_talk = np.zeros(n, bool)  # where the footage talks itself
    for s in cuts:
        if s.audio == "none":
            continue
        seg = au.at_level(
            au.decode(testdata / s.source, s.offset_s, (s.b - s.a) / fps),
            TALK_DB if s.audio == "speech" else SOUND_DB,
        )
        au.mix(native, _fade(seg), s.a / fps)
        if s.audio == "speech":
            no_talk[round(s.a / fps * au.RATE) : round(s.b / fps * au.RATE)] = True
    for p in placed:  # a full-frame picture cuts the footage's sound; a film clip brings its own
        if p.spec.show in ("still", "slide", "clip"):
            native[round(p.start_s * au.RATE) : round(p.end_s * au.RATE)] = 0
        if p.spec.show == "clip":
            own = au.decode(resolve(p.spec.source[0], testdata), 0, p.end_s - p.start_s)
            au.mix(native, _fade(au.at_level(own, SOUND_DB + 4)), p.start_s)
    bank = au.decode(testdata / BACKGROUND_SPEECH)
    t = 0.0
    while t < duration_s:
        on, off = rng.uniform(6, 25), rng.uniform(2, 12)
        x = au.loop_excerpt(bank, rng.uniform(0, len(bank) / au.RATE), on)
        au.mix(talk, _fade(au.at_level(x, TALK_DB + rng.uniform(-2, 2))), t)
        t += on + off
    talk[no_talk] = 0
    talking = float(np.count_nonzero(talk)) / au.RATE
    for p in placed:
        if p.spec.kind != "speech":
            continue
        voice = voices[p.spec.id]
        a, b = p.at_s - 0.5, p.at_s + len(voice) / au.RATE + 0.5
        au.duck(native, a, b, 0.25)  # the footage's sound ducks under the voice
        au.duck(talk, a, b, 0.0)
        if p.under_voice:
            under = au.loop_excerpt(bank, rng.uniform(0, len(bank) / au.RATE), b - a)
            au.mix(talk, _fade(au.at_level(under, UNDER_DB)), max(0.0, a))
    stats = {
        "background_talk_s": round(talking, 1),
        "footage_talk_s": round(float(no_talk.sum()) / au.RATE, 1),
    }
    for p in placed:
        if p.spec.kind == "speech":
            au.mix(talk, voices[p.spec.id], p.at_s)
    return native + talk, stats


def _spec_key(minutes: float, seed: int, size: tuple[int, int], fps: int) -> str:
    spec = {
        "v": VERSION,
        "minutes": minutes,
        "seed": seed,
        "size": size,
        "fps": fps,
        "needles": [asdict(n) for n in NEEDLES],
        "footage": FOOTAGE,
        "levels": [NEEDLE_DB, UNDER_DB, TALK_DB, SOUND_DB],
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _needle_json(p: Placement) -> dict[str, Any]:
    s = p.spec
    return {
        "id": s.id,
        "kind": s.kind,
        "language": s.language,
        "synthetic": s.synthetic,
        "show": s.show,
        "source": list(s.source),
        "question": s.question,
        "answer_words": list(s.answer_words),
        "truth": s.truth,
        "start_s": round(p.start_s, 3),
        "end_s": round(p.end_s, 3),
        "under_voice": p.under_voice,
    }


def build_haystack(
    minutes: float,
    seed: int = 1,
    *,
    size: tuple[int, int] = (1280, 720),
    fps: int = 25,
    testdata: Path | None = None,
    cache: Path = CACHE,
) -> Haystack:
    """Build (or reuse from `cache`) the haystack of `minutes` for `seed`."""
    minutes = float(minutes)  # 10 and 10.0 are the same haystack
    testdata = Path(testdata or SHARED / "testdata")
    if not (testdata / BACKGROUND_SPEECH).exists():
        raise FileNotFoundError(f"no test data at {testdata} (set --testdata)")
    w, h = size
    dest = cache / f"realistic-{minutes:g}min-seed{seed}-{w}x{h}.mp4"
    sidecar = dest.with_suffix(".needles.json")
    key = _spec_key(minutes, seed, size, fps)
    if dest.exists() and sidecar.exists():
        saved = json.loads(sidecar.read_text())
        if saved.get("key") == key:
            return Haystack(dest, saved["duration_s"], saved["needles"], saved)
    rng = random.Random(seed)
    duration = round(minutes * 60 * fps) / fps
    chosen = choose(minutes, rng)
    voices = {n.id: speech_audio(n, testdata) for n in chosen if n.kind == "speech"}
    lengths: dict[str, float] = {}
    for n in chosen:
        if n.kind == "speech":
            lengths[n.id] = len(voices[n.id]) / au.RATE
        elif n.show == "clip":
            lengths[n.id] = (
                round(min(8.0, au.probe_duration(resolve(n.source[0], testdata)) - 0.2) * fps) / fps
            )
        else:
            lengths[n.id] = round(rng.uniform(4.5, 9.0) * fps) / fps
    placed: list[Placement] = []
    for n, at in place(chosen, lengths, duration, fps, rng):
        if n.kind == "speech":
            v0, v1 = au.voiced_span(voices[n.id])
            placed.append(Placement(n, at, at + v0, at + v1, under_voice=rng.random() < 0.5))
            continue
        a = round(at * fps)
        p = Placement(n, at, a / fps, a / fps + lengths[n.id], a, a + round(lengths[n.id] * fps))
        if n.show == "overlay":
            iw, ih = _image_size(resolve(n.source[0], testdata))
            p.box = overlay_box(iw, ih, n.scale, lengths[n.id], size, rng)
        placed.append(p)
    footage_len = {s: au.probe_duration(testdata / s) for s, _, _ in FOOTAGE}
    cuts = shots(duration, fps, footage_len, rng)
    track, stats = build_audio(duration, fps, cuts, placed, voices, testdata, rng)
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="realistic-", dir=cache))
    try:
        wav = work / "sound.wav"
        au.write_wav(wav, track)
        del track
        tmp = work / dest.name
        events = [p for p in placed if p.spec.kind != "speech"]
        n_pieces = render_video(tmp, cuts, events, wav, size, fps, lambda s: resolve(s, testdata))
        keys = keyframe_times(tmp)
        tmp.replace(dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    on_key = [p.spec.id for p in events if any(abs(k - p.start_s) < 0.5 / fps for k in keys)]
    meta: dict[str, Any] = {
        "key": key,
        "minutes": minutes,
        "seed": seed,
        "size": f"{w}x{h}",
        "fps": fps,
        "duration_s": duration,
        "needles": [_needle_json(p) for p in sorted(placed, key=lambda p: p.start_s)],
        "absent_questions": list(ABSENT_QUESTIONS),
        "shots": len(cuts),
        "pieces": n_pieces,
        "keyframes": len(keys),
        "picture_needles_starting_on_a_keyframe": on_key,
        "sound": stats,
        "testdata": str(testdata),
    }
    sidecar.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    return Haystack(dest, duration, meta["needles"], meta)


def _image_size(path: Path) -> tuple[int, int]:
    out = au.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                  "stream=width,height", "-of", "csv=p=0", str(path)])  # fmt: skip
    w, h = out.decode().split()[0].split(",")[:2]
    return int(w), int(h)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--testdata", type=Path, help="real media (default: ../shared/testdata)")
    a = ap.parse_args()
    w, h = (int(x) for x in a.size.split("x"))
    hay = build_haystack(a.minutes, a.seed, size=(w, h), fps=a.fps, testdata=a.testdata)
    print(json.dumps({k: v for k, v in hay.meta.items() if k != "needles"}, indent=1))
    for n in hay.needles:
        print(f"{n['start_s']:8.2f}-{n['end_s']:8.2f}  {n['kind']:6} {n['id']:20} {n['question']}")
    print(hay.path)


if __name__ == "__main__":
    main()
