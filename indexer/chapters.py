"""Chapters without a language model: topic shifts in what is said and written on screen,
found TextTiling-style over the clips (whose edges already sit on scene cuts).

Each gap between clips gets a lexical-cohesion score: the cosine between the word counts of the
`window` clips before it and the `window` after. A gap whose score dips deeply below its
neighbours' peaks is a boundary candidate (depth above mean + std/2: stricter than Hearst's
1997 mean − std/2, because spoken sentences on one topic share fewer words than written
paragraphs, so shallow dips are noise); the deepest are kept while every chapter stays at
least `min_s` long. Titles are the chapter's first
on-screen line when there is one (slides, captions), else its most distinctive words.
Chapters tile the video: the first starts at 0, each starts where the previous ends."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, Field

from indexer.types import ClipDoc

_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
# function words that say nothing about a topic (English; other languages fall to tf-idf)
_STOP_WORDS = (
    "the and for are but not you all any can had her was one our out has have his how its may "
    "new now old see two who did get him let put say she too use that with this from they will "
    "would there their what about which when make like time just know take into your some could "
    "them than then these been were said each more other very also only over such here where "
    "because should through while well going really think yeah okay right"
)
_STOP = frozenset(_STOP_WORDS.split(" "))


class Chapter(BaseModel):
    title: str = Field(description="a few words naming the chapter")
    start_s: float = Field(description="where it starts, seconds from the video's start")
    end_s: float = Field(description="where it ends, seconds (the next chapter's start)")


def _bag(doc: ClipDoc) -> Counter[str]:
    words = (w.lower() for e in doc.evidence if e.modality in ("speech", "ocr")
             for w in _WORD.findall(e.text))  # fmt: skip
    return Counter(w for w in words if w not in _STOP)


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(v * b[k] for k, v in a.items() if k in b)
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


def _depths(bags: list[Counter[str]], window: int) -> list[float]:
    """Depth of the cohesion valley at each gap (gap g lies between clip g and g + 1)."""
    sims = []
    for g in range(len(bags) - 1):
        left = sum(bags[max(0, g - window + 1) : g + 1], Counter())
        right = sum(bags[g + 1 : g + 1 + window], Counter())
        sims.append(_cosine(left, right))
    depths = []
    for g, s in enumerate(sims):
        left_peak = max(sims[: g + 1])
        right_peak = max(sims[g:])
        depths.append((left_peak - s) + (right_peak - s))
    return depths


def _title(docs: Sequence[ClipDoc], df: Counter[str], n_clips: int, index: int) -> str:
    for doc in docs:
        for e in doc.evidence:
            if e.modality == "ocr" and len(e.text.strip()) >= 3:
                return e.text.strip()[:80]
    bag = sum((_bag(d) for d in docs), Counter())
    scored = sorted(bag, key=lambda w: -bag[w] * math.log((1 + n_clips) / (1 + df[w])))
    top = [w for w in scored[:3] if bag[w] > 1 or len(scored) <= 3]
    return ", ".join(w.capitalize() for w in top) if top else f"Part {index + 1}"


def chapters(
    docs: Sequence[ClipDoc], duration_s: float, *, min_s: float = 60.0, window: int = 3
) -> list[Chapter]:
    """Chapters covering [0, duration_s] without gaps or overlap, in time order."""
    docs = sorted(docs, key=lambda d: d.clip.start_s)
    end = max([duration_s, *(d.clip.end_s for d in docs)]) if docs else duration_s
    if len(docs) < 2 or end < 2 * min_s:
        cut_clips = [0]
    else:
        bags = [_bag(d) for d in docs]
        depths = _depths(bags, window)
        mean = sum(depths) / len(depths)
        std = math.sqrt(sum((d - mean) ** 2 for d in depths) / len(depths))
        candidates = sorted(
            (g for g, d in enumerate(depths) if d > 0 and d > mean + std / 2),
            key=lambda g: -depths[g],
        )
        starts = [0.0, end]
        cut_clips = [0]
        for g in candidates:  # deepest first; keep those that leave every chapter long enough
            t = docs[g + 1].clip.start_s
            if all(abs(t - s) >= min_s for s in starts):
                starts.append(t)
                cut_clips.append(g + 1)
        cut_clips.sort()
    df: Counter[str] = Counter(w for d in docs for w in set(_bag(d)))
    out = []
    for i, first in enumerate(cut_clips):
        last = cut_clips[i + 1] if i + 1 < len(cut_clips) else len(docs)
        start = 0.0 if i == 0 else docs[first].clip.start_s
        stop = end if last >= len(docs) else docs[last].clip.start_s
        out.append(Chapter(title=_title(docs[first:last], df, len(docs), i), start_s=start,
                           end_s=stop))  # fmt: skip
    return out
