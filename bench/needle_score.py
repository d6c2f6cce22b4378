"""Scoring of the needle benchmark: ranks, answer and citation hits, the absent-question check,
the uniform-frame baseline, and the per-group figures.

- rank: position of the first `/v1/search` hit whose clip overlaps the needle's span (same video).
- answer hit: the `/v1/ask` answer contains one of the needle's answer words, as whole words
  (case and punctuation folded; "%" and "/" kept, so "7%" and "03/09/2009" stay themselves);
  words in scripts written without spaces (Chinese, Japanese, Thai) match as substrings.
  No answer word is in its question, so an answer that repeats the question cannot score; an
  answer saying that nothing relevant was found never scores.
- citation hit: one of the answer's citations overlaps the needle's span.
- absent: a question about nothing in the video must get "nothing relevant" and no citation.
- uniform frames: N frames at the centres of N equal segments (what a frame-sampling video LMM
  sees); a needle is caught when one falls inside its span. Speech is sound, so for speech
  needles this is an upper bound."""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from typing import Any

NOTHING = re.compile(r"nothing relevant|nothing in the indexed videos matches", re.IGNORECASE)
_NOT_WORD = re.compile(r"[^\w%/]+", re.UNICODE)
_NOT_WORD_OR_SLASH = re.compile(r"[^\w%]+", re.UNICODE)
_NO_SPACES_SCRIPT = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_STAMP = re.compile(r"\[[^\]]*\d\d:\d\d[^\]]*\]")
_PAREN = re.compile(r"\([^()]*\)")
_SEEN = re.compile(r"seen: “[^”]*”")
_COUNT = re.compile(r"\b\d+ (?=[a-z])")
GROUPS = ("speech", "speech_real", "speech_synthetic", "text", "object", "all", "all_real")


def fold(text: str, pattern: re.Pattern[str] = _NOT_WORD) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " " + " ".join(pattern.sub(" ", text).split()) + " "


def answer_text(answer: str) -> str:
    """The answer without what the service adds around the evidence: timestamps ("[00:01:02–
    00:01:09]"), detector positions ("(left, center)") and object counts ("7 person"), so that
    "7" or "center" cannot score from them."""
    answer = _STAMP.sub(" ", answer)
    answer = _PAREN.sub(" ", answer)
    return _SEEN.sub(lambda m: _COUNT.sub("", m.group(0)), answer)


def contains_answer(answer: str, words: list[str]) -> bool:
    # a refusal names the question's words, not an answer, yet "Nothing relevant found …" holds
    # the answer word of the poster "WHY PAY FOR NOTHING?"
    if NOTHING.match(answer.strip()):
        return False
    answer = answer_text(answer)
    # "03/09/2009" is one word, and "2009" one of its parts
    texts = [fold(answer), fold(answer, _NOT_WORD_OR_SLASH)]
    for w in words:
        if _NO_SPACES_SCRIPT.search(w):
            if unicodedata.normalize("NFKC", w) in unicodedata.normalize("NFKC", answer):
                return True
        elif any(fold(w) in t for t in texts):
            return True
    return False


def overlaps(span: dict[str, Any], needle: dict[str, Any], video_id: str) -> bool:
    if span.get("video_id", video_id) != video_id:
        return False
    return bool(span["start_s"] < needle["end_s"] and span["end_s"] > needle["start_s"])


def rank_of(hits: list[dict[str, Any]], needle: dict[str, Any], video_id: str) -> int | None:
    """1-based rank of the first hit on the needle, None when no hit is."""
    return next((i for i, h in enumerate(hits, 1) if overlaps(h, needle, video_id)), None)


def absent_ok(answer: dict[str, Any]) -> bool:
    return bool(NOTHING.search(answer.get("answer", ""))) and not answer.get("citations")


def uniform_frames(duration_s: float, needles: list[dict[str, Any]], n: int) -> dict[str, float]:
    times = [(i + 0.5) * duration_s / n for i in range(n)]
    caught = {x["id"]: any(x["start_s"] <= t <= x["end_s"] for t in times) for x in needles}
    out = {}
    for group, members in _groups(needles).items():
        out[group] = round(sum(caught[m["id"]] for m in members) / len(members), 3)
    return out


def _groups(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r["kind"]].append(r)
        groups["all"].append(r)
        if r["kind"] == "speech":
            groups["speech_synthetic" if r["synthetic"] else "speech_real"].append(r)
        if not r["synthetic"]:
            groups["all_real"].append(r)
    return {g: groups[g] for g in GROUPS if groups.get(g)}


def summarize(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per group: needles, recall@1, recall@5, MRR, answer hit, citation hit."""
    out = {}
    for group, g in _groups(rows).items():
        n = len(g)
        ranks = [r["rank"] for r in g]
        out[group] = {
            "needles": n,
            "recall@1": round(sum(1 for x in ranks if x == 1) / n, 3),
            "recall@5": round(sum(1 for x in ranks if x is not None and x <= 5) / n, 3),
            "mrr": round(sum(1 / x for x in ranks if x) / n, 3),
            "answer_hit": round(sum(r["answer_hit"] for r in g) / n, 3),
            "citation_hit": round(sum(r["citation_hit"] for r in g) / n, 3),
        }
    return out
