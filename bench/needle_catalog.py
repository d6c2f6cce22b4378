"""The needles of the realistic benchmark (bench/realistic.py), kept in bench/needles.json: what
each one is, where it comes from, the question a careful viewer would ask about it, and the
words a right answer contains.

Rules the catalog keeps (tests/test_bench_needle.py checks the mechanical ones):
- every needle is a different recording or image; nothing is used twice;
- no answer word appears in its question (an answer that repeats the question cannot score);
- questions were written from the media (transcripts, looking at the images) before any model saw
  the haystack, and are not edited to suit the models; a fix of a factual error in the ground
  truth is noted in the commit that makes it;
- real recordings only, except the French and German speech, which no real recording here has:
  those are espeak-ng voices, `synthetic: true`, reported as their own group.

`source` is a path under the test-data folder (`--testdata`); several paths are played one after
the other (consecutive sentences of one reader); `espeak:<voice>` is synthesised from `said`
(one line per voice turn); `ultralytics:<name>` is a photo bundled with the ultralytics wheel.
`show` says how a picture appears: `overlay` (a sign or photo inside running footage, taking
`scale` of the frame height), `still` (the whole frame, slowly panning: a photo or film frame),
`slide` (the whole frame, letterboxed), `clip` (real footage played full frame)."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

CATALOG = Path(__file__).resolve().parent / "needles.json"
ULTRALYTICS = "ultralytics:"


@dataclass(frozen=True)
class NeedleSpec:
    """One needle: its media, its ground truth and its question."""

    id: str
    kind: str  # speech | text | object
    source: tuple[str, ...]
    question: str
    answer_words: tuple[str, ...]
    truth: str  # what is said / written / shown (ground truth, or a description for objects)
    language: str = "en"
    synthetic: bool = False
    show: str = "audio"  # audio | overlay | still | slide | clip
    scale: float = 0.5  # overlay height as a fraction of the frame height
    said: tuple[str, ...] = ()  # espeak-ng lines (one per voice turn)


def _spec(d: dict[str, Any]) -> NeedleSpec:
    tuples = {f.name for f in fields(NeedleSpec) if f.type == "tuple[str, ...]"}
    return NeedleSpec(**{k: tuple(v) if k in tuples else v for k, v in d.items()})


_DATA = json.loads(CATALOG.read_text(encoding="utf-8"))
NEEDLES: list[NeedleSpec] = [_spec(d) for d in _DATA["needles"]]
# questions about nothing in any haystack: the answer must say that nothing relevant was found
ABSENT_QUESTIONS: tuple[str, ...] = tuple(_DATA["absent_questions"])
