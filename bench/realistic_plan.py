"""The plan of a realistic haystack: which needles, when, and over which footage.

Everything random is drawn here from one seeded generator, so a plan is a pure function of its
arguments (the audio durations of the speech needles included) and the build only executes it.

- Needles are a stratified sample of the catalog (all of it at 60 minutes), each used once.
- Needle times are random: the free time is split into random gaps (at least `min_gap_s` between
  two needles, so a retrieved clip holds one needle); speech starts at any sample, pictures at
  any frame. Nothing aligns them with cuts or keyframes.
- Footage shots are random excerpts of the filler clips, 4 to 18 s, cut where they fall."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from bench.needle_catalog import NEEDLES, NeedleSpec

# filler footage (never a needle source) and what its own sound track holds
FOOTAGE = (
    ("video/opencv_vtest.avi", "none", 3),  # path, audio: none | sound | speech, weight
    ("video/moviepy_chaplin.mp4", "sound", 1),
    ("video/moviepy_big_buck_bunny_0_30.webm", "sound", 1),
    ("video/kivy_cityCC0.mpg", "none", 1),
    ("video/videoretalking_ablation.mp4", "speech", 1),
    ("video/videollava_demo_screencast.mp4", "none", 1),
)
# real speech that is never a needle: talk heard between and (quietly) under the needles
BACKGROUND_SPEECH = "speech/pyaudioanalysis_diarizationExample.wav"
PER_HOUR = len(NEEDLES)  # needle density at 60 minutes: the whole catalog
MIN_NEEDLES = 14


@dataclass
class Shot:
    """Frames [a, b) of the haystack show `source` from `offset_s` on."""

    source: str
    audio: str
    offset_s: float
    a: int
    b: int


@dataclass
class Placement:
    """One needle in the haystack. `at_s` is where its media starts; `start_s`/`end_s` is the
    span a hit must overlap (the voiced part of speech, the frames of a picture)."""

    spec: NeedleSpec
    at_s: float
    start_s: float
    end_s: float
    a: int = 0  # frames [a, b) of a picture
    b: int = 0
    under_voice: bool = False  # background talk mixed 12 dB under a speech needle
    box: dict[str, float] = field(default_factory=dict)  # overlay: h, x0, y0, vx (px, px/s)


def choose(minutes: float, rng: random.Random) -> list[NeedleSpec]:
    """A stratified sample of the catalog for a `minutes`-long haystack: the kinds (and real
    against synthetic speech) in the catalog's proportions, at least one of each group."""
    total = min(len(NEEDLES), max(MIN_NEEDLES, round(PER_HOUR * minutes / 60)))
    groups: dict[str, list[NeedleSpec]] = {}
    for n in NEEDLES:
        groups.setdefault(f"{n.kind}{'-synthetic' if n.synthetic else ''}", []).append(n)
    exact = {g: len(v) * total / len(NEEDLES) for g, v in groups.items()}
    counts = {g: max(1, int(x)) for g, x in exact.items()}
    # largest remainders get the needles left over
    for g in sorted(exact, key=lambda g: exact[g] - int(exact[g]), reverse=True):
        if sum(counts.values()) >= total:
            break
        counts[g] = min(len(groups[g]), counts[g] + 1)
    picked = [n for g, v in groups.items() for n in rng.sample(v, counts[g])]
    rng.shuffle(picked)
    return picked


def place(
    needles: list[NeedleSpec],
    lengths_s: dict[str, float],
    duration_s: float,
    fps: int,
    rng: random.Random,
    min_gap_s: float = 20.0,
    margin_s: float = 12.0,
) -> list[tuple[NeedleSpec, float]]:
    """Random start times: the free time split by random weights into k+1 gaps."""
    busy = sum(lengths_s[n.id] for n in needles) + min_gap_s * (len(needles) - 1)
    free = duration_s - 2 * margin_s - busy
    if free < 0:
        raise ValueError(f"{len(needles)} needles do not fit in {duration_s:.0f} s")
    weights = [rng.random() for _ in range(len(needles) + 1)]
    gaps = [free * w / sum(weights) for w in weights]
    out, t = [], margin_s
    for i, n in enumerate(needles):
        t += gaps[i] + (min_gap_s if i else 0.0)
        start = round(t * fps) / fps if n.kind != "speech" else round(t, 4)
        out.append((n, start))
        t = start + lengths_s[n.id]
    return out


def overlay_box(
    img_w: int, img_h: int, scale: float, seconds: float, size: tuple[int, int], rng: random.Random
) -> dict[str, float]:
    """Height, start position and drift (px/s) of a picture inside footage, kept in frame."""
    w_frame, h_frame = size
    h = scale * h_frame
    w = h * img_w / img_h
    if w > 0.85 * w_frame:  # a wide picture: fit its width instead
        w = 0.85 * w_frame
        h = w * img_h / img_w
    h, w = 2 * round(h / 2), 2 * round(w / 2)
    vx = rng.uniform(-10, 10)
    travel = abs(vx) * seconds
    pad = 0.03 * w_frame
    x_lo, x_hi = pad + max(0.0, -vx * seconds), w_frame - pad - w - max(0.0, vx * seconds)
    if x_hi < x_lo:  # no room to drift
        vx, travel, x_lo, x_hi = 0.0, 0.0, pad, max(pad, w_frame - pad - w)
    x0 = rng.uniform(x_lo, x_hi)
    y0 = rng.uniform(0.03 * h_frame, max(0.03 * h_frame, 0.97 * h_frame - h))
    return {"h": h, "w": w, "x0": round(x0, 1), "y0": round(y0, 1), "vx": round(vx, 2),
            "travel": round(travel, 1)}  # fmt: skip


def shots(duration_s: float, fps: int, lengths: dict[str, float], rng: random.Random) -> list[Shot]:
    """Random excerpts of the filler footage covering [0, duration_s); `lengths` are the
    sources' durations. A source does not follow itself."""
    frames = round(duration_s * fps)
    out: list[Shot] = []
    f, last = 0, ""
    while f < frames:
        pool = [x for x in FOOTAGE if x[0] != last]
        src, audio, _ = rng.choices(pool, weights=[x[2] for x in pool])[0]
        seconds = min(rng.uniform(4, 18), lengths[src] - 0.5)
        offset = rng.uniform(0, max(0.0, lengths[src] - seconds - 0.2))
        n = max(1, min(frames - f, round(seconds * fps)))
        out.append(Shot(src, audio, round(offset, 3), f, f + n))
        f, last = f + n, src
    return out
