"""What of a clip is embedded as text: the texts the text embedder turns into a clip's vectors.

A question matches a clip by meaning when one of the clip's vectors is close to it, so a clip
gets several: its whole evidence (speech, on-screen text and objects together), each modality
alone when it has more than one (a short sign is not drowned by ten seconds of talk), and its
speech in overlapping windows of SPEECH_WINDOW words when it is longer than that. Windows
matter for speech: a sentence heard under other talk, or one of several topics in a clip, sits
in a 10-s transcript with 20 other words that pull its vector elsewhere. On the 60-minute needle
haystack (46 questions over real recordings, e5) windows of 16 words every 8 took the dense
ranking alone from recall@1 0.196 / recall@5 0.261 to 0.261 / 0.304 for 46% more vectors;
windows of 20 every 10 gave 0.217 / 0.283, so the shorter ones are kept."""

from __future__ import annotations

from collections.abc import Sequence

from indexer.search.tokens import unglue
from indexer.types import ClipDoc

SPEECH_WINDOW = 16  # words
SPEECH_STRIDE = 8


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
        parts = ["\n".join(f"{m}: {' '.join(t)}" for m, t in by_modality.items())]
        for m, t in by_modality.items():
            windows = speech_windows(" ".join(t)) if m == "speech" else []
            if windows:
                parts += windows
            elif len(by_modality) > 1:
                parts.append(f"{m}: " + " ".join(t))
        texts += parts
        owners += [doc.clip.index] * len(parts)
    return texts, owners
