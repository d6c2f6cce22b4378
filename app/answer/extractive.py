"""The answer when no video LMM is configured: quote the retrieved evidence that best matches the
question, with the time span of each quote, and say that it is extractive.

It never invents text: every sentence is a quote of an evidence line with its clip's span, and
the citations are exactly those clips."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from indexer.types import Evidence, Hit

MODEL = "extractive"
NOTE = "(Quoted from the retrieved clips; no language model is configured to compose an answer.)"
LABEL = {"speech": "said", "ocr": "on screen", "objects": "seen", "visual": "looks like"}
_WORD = re.compile(r"[\w']+", re.UNICODE)
_STOP_WORDS = (
    "a an and are as at be by can could did do does for from had has have how i in is it its of "
    "on or say said says see seen shown show that the their them there these this to was we "
    "were what when where which who whom why will with would you your about into any some"
)
STOP = frozenset(_STOP_WORDS.split(" "))


@dataclass
class ExtractiveAnswer:
    answer: str
    cited: list[Hit] = field(default_factory=list)


def terms(text: str) -> set[str]:
    out = set()
    for w in _WORD.findall(text.lower()):
        if w in STOP or len(w) < 2:
            continue
        out.add(w[:-1] if len(w) > 3 and w.endswith("s") else w)  # crude plural folding
    return out


def hms(t: float) -> str:
    t = max(0, int(t))
    return f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"


def _excerpt(text: str, q: set[str], width: int = 220) -> str:
    """The part of a long evidence line around its first question word."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    words = text.split(" ")
    first = next((i for i, w in enumerate(words) if terms(w) & q), 0)
    start = max(0, first - 8)
    out = ""
    for w in words[start:]:
        if len(out) + len(w) + 1 > width:
            break
        out = f"{out} {w}" if out else w
    return ("… " if start else "") + out + " …"


def _best(hit: Hit, q: set[str]) -> tuple[float, list[Evidence]]:
    scored = sorted(
        ((len(q & terms(e.text)), i, e) for i, e in enumerate(hit.evidence) if e.text.strip()),
        key=lambda x: (-x[0], x[1]),
    )
    if not scored:
        return 0.0, []
    top = scored[0][0]
    # the matching lines, or (no word in common) the clip's first two lines as context
    chosen = [e for s, _, e in scored if s == top and s > 0][:2] or [e for _, _, e in scored[:2]]
    return float(top), chosen


def answer(
    question: str, hits: list[Hit], titles: dict[str, str] | None = None, max_quotes: int = 3
) -> ExtractiveAnswer:
    """Quote up to `max_quotes` clips: the best-ranked ones, preferring those whose evidence
    shares words with the question."""
    titles = titles or {}
    if not hits:
        return ExtractiveAnswer("Nothing in the indexed videos matches the question. " + NOTE)
    q = terms(question)
    ranked = []
    for rank, h in enumerate(hits):
        overlap, lines = _best(h, q)
        if lines:
            ranked.append((overlap + 1.0 / (rank + 2), rank, h, lines))
    if not ranked:
        return ExtractiveAnswer(
            "The closest clips carry no text evidence to quote. " + NOTE, hits[:1]
        )
    ranked.sort(key=lambda r: (-r[0], r[1]))
    chosen = sorted(ranked[:max_quotes], key=lambda r: r[1])
    parts = []
    for _, _, h, lines in chosen:
        where = f"{hms(h.start_s)}–{hms(h.end_s)}"
        if len(titles) > 1 or len({c[2].video_id for c in chosen}) > 1:
            where = f"{titles.get(h.video_id, h.video_id)} {where}"
        quotes = "; ".join(
            f"{LABEL.get(e.modality, e.modality)}: “{_excerpt(e.text, q)}”" for e in lines
        )
        parts.append(f"[{where}] {quotes}")
    lead = "The best matching moment" if len(parts) == 1 else "The best matching moments"
    text = f"{lead}:\n" + "\n".join(parts) + "\n" + NOTE
    return ExtractiveAnswer(text, [h for _, _, h, _ in chosen])


def chunks(text: str) -> list[str]:
    """The answer cut at line ends, for streaming as deltas."""
    return [line + "\n" for line in text.split("\n")[:-1]] + [text.split("\n")[-1]]
