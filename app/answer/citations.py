"""Map the times an answer cites back to the clips the model was shown.

Recognised forms, inside square brackets: `[00:12:35]`, `[12:35]` (mm:ss), ranges
`[00:12:30–00:12:40]` (hyphen, en or em dash), lists `[00:01:02, 00:03:04]`, and the clip label
form `[Title · 00:12:30–00:12:40]`. Brackets without a time (`[1]`, `[sic]`) are not citations.

A point citation is kept when it lies inside a shown clip (the whole seconds of its label, start
rounded down and end up); a range when its start, or else its end, does. Each kept citation
becomes that clip's `{video_id, start_s, end_s}`; the rest (invented or impossible times) are
dropped and counted.

When clips of several videos contain the time, the video is chosen, in this order, by: the title
written in the bracket; the title mentioned last before the citation; the video of the previous
kept citation (answers cite one video's moments together); the best-ranked clip."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.answer.prompt import PromptClip, clean_title, clip_span

_BRACKET = re.compile(r"\[([^\[\]\n]{1,200})\]")
_TIME = r"\d{1,2}(?::\d{2}){1,2}"
_ITEM = re.compile(rf"^\s*({_TIME})(?:\s*[-–—]\s*({_TIME}))?\s*$")
_HAS_TIME = re.compile(r"\d:\d\d")


@dataclass(frozen=True)
class CitedTime:
    """One time reference found in the answer: seconds, position in the text, title hint."""

    start_s: int
    end_s: int
    pos: int
    title_hint: str | None


@dataclass
class CitationResult:
    citations: list[dict[str, float | str]] = field(default_factory=list)
    dropped: int = 0


def parse_clock(text: str) -> int | None:
    """`hh:mm:ss` or `mm:ss` → seconds; None when a field is out of range (`00:75:00`)."""
    parts = [int(p) for p in text.split(":")]
    if len(parts) == 2:
        m, s = parts
        h = 0
        if s > 59:
            return None
    else:
        h, m, s = parts
        if m > 59 or s > 59:
            return None
    return h * 3600 + m * 60 + s


def find_times(answer: str) -> tuple[list[CitedTime], int]:
    """The time references of `answer` in order, and how many were malformed."""
    found: list[CitedTime] = []
    bad = 0
    for m in _BRACKET.finditer(answer):
        body = m.group(1)
        if not _HAS_TIME.search(body):
            continue
        hint = None
        if "·" in body:
            hint_text, body = body.rsplit("·", 1)
            hint = hint_text.strip() or None
        for item in re.split(r"[,;]", body):
            im = _ITEM.match(item)
            if not im:
                bad += 1
                continue
            a = parse_clock(im.group(1))
            b = parse_clock(im.group(2)) if im.group(2) else a
            if a is None or b is None or b < a:
                bad += 1
                continue
            found.append(CitedTime(a, b, m.start(), hint))
    return found, bad


def _inside(t: int, clip: PromptClip) -> bool:
    a, b = clip_span(clip.start_s, clip.end_s)
    return a <= t <= b


def _candidates(cited: CitedTime, clips: Sequence[PromptClip]) -> list[PromptClip]:
    for t in (cited.start_s, cited.end_s):
        hits = [c for c in clips if _inside(t, c)]
        if hits:
            return hits
    return []


def _choose(
    cands: list[PromptClip], cited: CitedTime, answer: str, previous: str | None
) -> PromptClip:
    videos = {c.video_id for c in cands}
    best = min(cands, key=lambda c: c.rank)
    if len(videos) == 1:
        return best
    if cited.title_hint:
        hint = clean_title(cited.title_hint).casefold()
        named = [c for c in cands if clean_title(c.title).casefold() == hint]
        if named:
            return min(named, key=lambda c: c.rank)
    before = answer[: cited.pos].casefold()
    mentioned = [(before.rfind(clean_title(c.title).casefold()), -c.rank, c) for c in cands]
    pos, _, nearest = max(mentioned, key=lambda x: (x[0], x[1]))
    if pos >= 0:
        return nearest
    if previous in videos:
        return min((c for c in cands if c.video_id == previous), key=lambda c: c.rank)
    return best


def resolve_citations(answer: str, clips: Sequence[PromptClip]) -> CitationResult:
    """Citations of `answer` that point into `clips` (deduplicated, in order of first mention),
    and the number of cited times that point nowhere."""
    times, bad = find_times(answer)
    result = CitationResult(dropped=bad)
    seen: set[tuple[str, int]] = set()
    previous: str | None = None
    for cited in times:
        cands = _candidates(cited, clips)
        if not cands:
            result.dropped += 1
            continue
        clip = _choose(cands, cited, answer, previous)
        previous = clip.video_id
        key = (clip.video_id, clip.clip_index)
        if key not in seen:
            seen.add(key)
            result.citations.append(
                {"video_id": clip.video_id, "start_s": clip.start_s, "end_s": clip.end_s}
            )
    return result
