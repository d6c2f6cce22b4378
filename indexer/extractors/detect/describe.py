"""Objects over time and as text: run a detector over a video's frames at a bounded rate, and
describe a clip's detections as a short line a retriever and an LMM can read, e.g.
"2 person (left), 1 bus (center)". Backend-independent: works with any `ObjectDetector`."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from indexer.extractors.base import Image, ObjectDetector
from indexer.settings import DetectSettings
from indexer.types import Box, Detection, FrameDetections

BATCH = 16
_THIRDS = (1 / 3, 2 / 3)


def pick_frames(times: Sequence[float], every_s: float) -> list[int]:
    """Indices of the frames to detect on: the first, then each frame at least `every_s` after
    the last one picked (times in order)."""
    picked: list[int] = []
    last: float | None = None
    for i, t in enumerate(times):
        if last is None or t - last >= every_s - 1e-6:
            picked.append(i)
            last = t
    return picked


def detect_over_time(
    detector: ObjectDetector,
    frames: Sequence[tuple[float, Image]],
    settings: DetectSettings,
) -> list[FrameDetections]:
    """Detections on at most one frame per `settings.every_s` of `frames` ((t, RGB image), in
    time order), one `FrameDetections` per frame looked at, empty ones included (they say
    "nothing seen here"). Raises whatever the detector raises."""
    chosen = [frames[i] for i in pick_frames([t for t, _ in frames], settings.every_s)]
    out: list[FrameDetections] = []
    for k in range(0, len(chosen), BATCH):
        batch = chosen[k : k + BATCH]
        results = detector.detect([image for _, image in batch])
        if len(results) != len(batch):
            raise RuntimeError(f"detector answered {len(results)} frames for {len(batch)}")
        out.extend(
            FrameDetections(t=t, detections=dets)
            for (t, _), dets in zip(batch, results, strict=True)
        )
    return out


def position(box: Box) -> str:
    """Coarse position of a box's centre: left/center/right, with top/bottom when clear."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    horizontal = "left" if cx < _THIRDS[0] else "right" if cx > _THIRDS[1] else "center"
    vertical = "top" if cy < _THIRDS[0] else "bottom" if cy > _THIRDS[1] else ""
    if not vertical:
        return horizontal
    return vertical if horizontal == "center" else f"{vertical} {horizontal}"


def _area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def describe_objects(dets: Sequence[FrameDetections], *, max_labels: int = 8) -> str:
    """One line for a clip's detections, e.g. "2 person (left, right), 1 bus (center)": per
    label the most seen at once in one frame and where they mostly were (up to that many places),
    most salient first (frames seen on, then summed box area x confidence; ties by label).
    Empty when nothing was detected."""
    count: Counter[str] = Counter()  # max simultaneous in one frame
    frames_seen: Counter[str] = Counter()
    salience: defaultdict[str, float] = defaultdict(float)
    places: defaultdict[str, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))
    for frame in dets:
        in_frame = Counter(d.label for d in frame.detections)
        for label, n in in_frame.items():
            count[label] = max(count[label], n)
            frames_seen[label] += 1
        for d in frame.detections:
            salience[d.label] += _area(d.box) * d.score
            places[d.label][position(d.box)] += _weight(d)
    ranked = sorted(count, key=lambda lb: (-frames_seen[lb], -salience[lb], lb))
    parts = []
    for label in ranked[:max_labels]:
        ranked_places = sorted(places[label].items(), key=lambda kv: (-kv[1], kv[0]))
        top = ranked_places[0][1]
        # as many places as there are objects, leaving out places seen only in passing
        where = [p for p, w in ranked_places[: count[label]] if w >= 0.25 * top]
        parts.append(f"{count[label]} {label} ({', '.join(where)})")
    return ", ".join(parts)


def _weight(d: Detection) -> float:
    # big, confident boxes say more about where a thing is than small, doubtful ones
    return d.score * (0.05 + _area(d.box))
