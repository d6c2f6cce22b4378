"""Offline chapters: topic shifts in speech and on-screen text between clips, tiling the video."""

from __future__ import annotations

import itertools
import random

from indexer.chapters import chapters
from indexer.types import Clip, ClipDoc, Evidence

TOPICS = {
    "volcano": "lava magma eruption crater basalt ash plume vent caldera lava magma eruption",
    "budget": "budget revenue spending deficit taxes invoice payroll forecast budget revenue",
    "football": "goal striker penalty referee stadium keeper midfield offside goal striker",
}


def _doc(i: int, start: float, end: float, text: str, ocr: str = "") -> ClipDoc:
    evidence = [Evidence(modality="speech", text=text, start_s=start, end_s=end)]
    if ocr:
        evidence.append(Evidence(modality="ocr", text=ocr, start_s=start, end_s=end))
    return ClipDoc(clip=Clip(index=i, start_s=start, end_s=end), evidence=evidence)


def _talk(order: list[str], clips_per_topic: int, seed: int = 0) -> list[ClipDoc]:
    rng = random.Random(seed)
    docs, t = [], 0.0
    for topic in order:
        words = TOPICS[topic].split()
        for _ in range(clips_per_topic):
            picked = " ".join(rng.choice(words) for _ in range(12))
            docs.append(_doc(len(docs), t, t + 10.0, f"so we now {picked} and then"))
            t += 10.0
    return docs


def test_chapters_follow_topic_shifts_and_tile_the_video() -> None:
    docs = _talk(["volcano", "budget", "football"], clips_per_topic=12)  # 3 x 120 s
    found = chapters(docs, 360.0, min_s=60.0)
    assert [c.start_s for c in found] == [0.0, 120.0, 240.0]
    assert found[-1].end_s == 360.0
    assert all(a.end_s == b.start_s for a, b in itertools.pairwise(found))
    titles = " ".join(c.title.lower() for c in found)
    assert "lava" in titles or "magma" in titles or "eruption" in titles
    assert "goal" in titles or "striker" in titles or "penalty" in titles


def test_a_slide_title_names_its_chapter() -> None:
    docs = _talk(["volcano", "budget"], clips_per_topic=9)
    docs[9] = _doc(9, 90.0, 100.0, docs[9].evidence[0].text, ocr="Q3 Budget Review")
    found = chapters(docs, 180.0, min_s=60.0)
    assert [c.start_s for c in found] == [0.0, 90.0]
    assert found[1].title == "Q3 Budget Review"


def test_no_speech_or_a_short_video_is_one_chapter_of_the_whole() -> None:
    silent = [ClipDoc(clip=Clip(index=i, start_s=10.0 * i, end_s=10.0 * i + 10)) for i in range(30)]
    assert [(c.start_s, c.end_s) for c in chapters(silent, 301.5)] == [(0.0, 301.5)]
    short = _talk(["volcano", "budget"], clips_per_topic=3)
    assert len(chapters(short, 60.0, min_s=60.0)) == 1
    assert chapters([], 12.0)[0].end_s == 12.0


def test_chapters_never_shorter_than_min_s() -> None:
    docs = _talk(["volcano", "budget", "volcano", "football", "budget"], clips_per_topic=4, seed=3)
    found = chapters(docs, 200.0, min_s=60.0)
    assert all(c.end_s - c.start_s >= 60.0 for c in found[:-1])
    assert found[0].start_s == 0.0 and found[-1].end_s == 200.0
