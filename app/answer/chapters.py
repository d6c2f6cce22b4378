"""Chapter titles and a summary from the configured language model.

The chapters' boundaries stay those found offline (scene-snapped clips grouped by topic shifts in
speech and on-screen text, `indexer.chapters`): a model reading a few hundred words per chapter
names them well but places boundaries no better than the text does, and a boundary that moves
with every model would break links people share. The model gets each chapter's timestamped text
(no frames, so a text-only model serves too) and answers with one title per chapter and a short
summary of the video. A title it leaves out keeps its offline title; a model that cannot be
reached leaves the offline chapters, and says why (`degraded`).

The result is kept beside the video's index (`chapters.lmm.json`), keyed by the model and the
time the video was indexed, so a page that opens a video does not ask the model again."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from app.answer.extractive import hms
from app.answer.lmm import LMMClient, LMMError
from app.answer.settings import LMMSettings
from indexer.chapters import Chapter
from indexer.store import ArtifactStore
from indexer.types import ClipDoc

CACHE = "chapters.lmm.json"
CHARS_PER_CHAPTER = 700  # of each chapter's speech and on-screen text sent to the model
MAX_TITLE_CHARS = 80
_TITLE_LINE = re.compile(r"^\s*(?:chapter\s*)?(\d{1,3})\s*[.):\-]\s*(.+?)\s*$", re.I)
_SUMMARY_LINE = re.compile(r"^\s*\**summary\**\s*:\s*(.*)$", re.I)


class TitledChapters(BaseModel):
    chapters: list[Chapter]
    summary: str | None
    model: str


def _chapter_text(docs: Sequence[ClipDoc], ch: Chapter) -> str:
    lines: list[str] = []
    for doc in docs:
        if doc.clip.start_s >= ch.end_s or doc.clip.end_s <= ch.start_s:
            continue
        for e in doc.evidence:
            if e.modality in ("speech", "ocr") and e.text.strip():
                said = "said" if e.modality == "speech" else "on screen"
                lines.append(f"({said}) {e.text.strip()}")
    text = " ".join(lines)
    return text[:CHARS_PER_CHAPTER] + ("…" if len(text) > CHARS_PER_CHAPTER else "")


def build_request(
    settings: LMMSettings, title: str, chapters: Sequence[Chapter], docs: Sequence[ClipDoc]
) -> dict[str, Any]:
    parts = [
        f"Chapter {i}. [{hms(c.start_s)}-{hms(c.end_s)}] {_chapter_text(docs, c) or '(no text)'}"
        for i, c in enumerate(chapters, 1)
    ]
    user = (
        f'The video "{title}" has {len(chapters)} chapters. Here is what is said and written '
        "on screen in each:\n\n" + "\n".join(parts) + "\n\nWrite a short title (at most 8 "
        "words) for each chapter, one per line, as `1. title`, `2. title`, ... Then write one "
        "line `Summary: ` followed by two or three sentences about the whole video."
    )
    return {
        "model": settings.model,
        "messages": [
            {"role": "system", "content": "You title the chapters of videos. Be factual."},
            {"role": "user", "content": user},
        ],
        "max_tokens": min(settings.max_tokens * 2, 24 * len(chapters) + 160),
        "temperature": 0.2,
    }


def parse(text: str, chapters: Sequence[Chapter]) -> tuple[list[Chapter], str | None]:
    """The model's titles over the offline chapters (missing ones keep theirs), and its summary."""
    titles: dict[int, str] = {}
    summary: list[str] = []
    in_summary = False
    for line in text.splitlines():
        if m := _SUMMARY_LINE.match(line):
            in_summary = True
            summary.append(m.group(1))
        elif in_summary:
            summary.append(line)
        elif m := _TITLE_LINE.match(line):
            t = m.group(2).strip().strip("*\"'`").strip()
            if t and int(m.group(1)) not in titles:
                titles[int(m.group(1))] = t[:MAX_TITLE_CHARS]
    out = [
        c.model_copy(update={"title": titles.get(i, c.title)}) for i, c in enumerate(chapters, 1)
    ]
    said = " ".join(s.strip() for s in summary if s.strip())
    return out, said or None


async def titled(
    client: LMMClient,
    settings: LMMSettings,
    store: ArtifactStore,
    title: str,
    chapters: Sequence[Chapter],
    docs: Sequence[ClipDoc],
    indexed_at: str,
) -> TitledChapters:
    """Chapters titled by the model (cached per model and indexing); raises LMMError."""
    key = {"model": settings.model, "indexed_at": indexed_at}
    if store.exists(CACHE):
        cached = json.loads(store.path(CACHE).read_text())
        if cached.get("key") == key:
            return TitledChapters.model_validate(cached["result"])
    request = build_request(settings, title, chapters, docs)
    text = "".join([t async for t in client.stream_chat(request)])
    if not text.strip():
        raise LMMError("the model answered with no text")
    found, summary = parse(text, chapters)
    result = TitledChapters(chapters=found, summary=summary, model=settings.model)
    store.write_json(CACHE, {"key": key, "result": result.model_dump()})
    return result
