"""What of a clip is embedded as text: the texts the text embedder turns into a clip's vectors.

A question matches a clip by meaning when one of the clip's vectors is close to it, so a clip
gets several: its whole evidence (speech, on-screen text and objects together), each modality
alone when it has more than one (a short sign is not drowned by ten seconds of talk), and its
speech in overlapping windows of SPEECH_WINDOW words when it is longer than that. Windows
matter for speech: a sentence heard under other talk, or one of several topics in a clip, sits
in a 10-s transcript with 20 other words that pull its vector elsewhere. On the 60-minute needle
haystack (46 questions over real recordings, e5) windows of 16 words every 8 took the dense
ranking alone from recall@1 0.196 / recall@5 0.261 to 0.261 / 0.304 for 46% more vectors;
windows of 20 every 10 gave 0.217 / 0.283, so the shorter ones are kept.

What is seen is written as a sentence would say it, because the embedder learnt from sentences:
on-screen text as "A sign reads: …" and detections as "Seen: 3 oranges, 2 people, a handbag"
(not "ocr: …" and "3 orange (center, right), …"), and a clip with speech, text and objects
gets one more vector for what is seen alone (a sign under ten seconds of unrelated talk). The
question "What road is named on the blue street sign with Chinese characters?" is then 0.830
from its clip's sign, against 0.787 as "ocr: …". On the 60-minute needle haystack's kept library
(46 questions, e5, dense ranks fused with the kept keyword ones by the service's weights)
recall@5 went 12 -> 14 of 46 and the dense ranking's alone 12 -> 16 (on-screen text 3 -> 7);
"Said:" before speech lost a speech needle there, so speech keeps its "speech:" label."""

from __future__ import annotations

import re
from collections.abc import Sequence

from indexer.search.tokens import unglue
from indexer.types import ClipDoc

SPEECH_WINDOW = 16  # words
SPEECH_STRIDE = 8
SAID = {"speech": "speech: ", "ocr": "A sign reads: ", "objects": "Seen: ", "visual": "Seen: "}
_COUNTED = re.compile(r"(\d+) ([^()]+?) \(")  # "2 sports ball (left, right)" (describe.py)
_PLURAL = {"person": "people", "knife": "knives", "mouse": "mice", "sheep": "sheep"}


def speech_windows(text: str) -> list[str]:
    """Overlapping windows of a transcript longer than SPEECH_WINDOW words (else none)."""
    words = text.split()
    if len(words) <= SPEECH_WINDOW:
        return []
    starts = range(0, len(words) - SPEECH_STRIDE, SPEECH_STRIDE)
    return [" ".join(words[i : i + SPEECH_WINDOW]) for i in starts]


def clip_texts(docs: Sequence[ClipDoc]) -> tuple[list[str], list[int]]:
    """(texts, clip index of each): per clip its whole evidence, each other modality's text
    when it has more than one, and its speech whole or, when long, in windows; a clip without
    evidence gets no vector at all."""
    texts: list[str] = []
    owners: list[int] = []
    for doc in docs:
        by_modality: dict[str, list[str]] = {}
        for e in doc.evidence:
            if e.text.strip():
                # OCR drops the spaces of Latin text; the embedder should see words
                text = unglue(e.text) if e.modality == "ocr" else e.text
                by_modality.setdefault(e.modality, []).append(text)
        if not by_modality:
            continue
        said = {m: rendered(m, t) for m, t in by_modality.items()}
        parts = ["\n".join(said.values())]
        for m, t in by_modality.items():
            windows = speech_windows(" ".join(t)) if m == "speech" else []
            if windows:
                parts += windows
            elif len(by_modality) > 1:
                parts.append(said[m])
        if len(by_modality) > 2 and "speech" in by_modality:  # what is seen, without the talk
            parts.append("\n".join(v for m, v in said.items() if m != "speech"))
        texts += parts
        owners += [doc.clip.index] * len(parts)
    return texts, owners


def rendered(modality: str, texts: Sequence[str]) -> str:
    """One modality's texts as the embedder sees them (see the module's docstring)."""
    if modality == "objects":
        return SAID[modality] + "; ".join(objects_phrase(t) for t in texts)
    return SAID.get(modality, f"{modality}: ") + " ".join(texts)


def objects_phrase(described: str) -> str:
    """ "3 orange (center, right), 1 sports ball (top)" -> "3 oranges, a sports ball": counts and
    labels as words, without the places (the text as it is when it is not such a list)."""
    found = _COUNTED.findall(described)
    if not found:
        return described
    return ", ".join(f"a {label}" if n == "1" else f"{n} {plural(label)}" for n, label in found)


def plural(label: str) -> str:
    head, _, last = label.rpartition(" ")
    if last in _PLURAL:
        last = _PLURAL[last]
    elif last.endswith(("ss", "sh", "ch", "x", "bus")):
        last += "es"
    elif not last.endswith("s"):  # "skis", "scissors"
        last += "s"
    return f"{head} {last}".strip()
