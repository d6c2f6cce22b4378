"""A video's transcript (speech, with word times and language) and its on-screen text track,
read from the per-part artifacts, and written as JSON, WebVTT or SRT.

Speech comes from `parts/<k>/transcript.json` (times already on the video's clock), on-screen
text from `parts/<k>/ocr.jsonl` merged across parts. Cue text is sanitised for the formats (no
"-->", no blank lines), which webvtt-py and srt then write and check."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import Literal

import srt
import webvtt
from pydantic import BaseModel, Field

from indexer.extractors.ocr.spans import merge_spans
from indexer.store import ArtifactStore
from indexer.types import OcrSpan, SpeechSegment, Transcript

Track = Literal["speech", "ocr"]


class Cue(BaseModel):
    """One timed line of the transcript or the on-screen text track."""

    start_s: float = Field(description="cue start, seconds")
    end_s: float = Field(description="cue end, seconds")
    text: str = Field(description="what was said or shown")
    language: str | None = Field(
        default=None, description="the language it was recognised in (speech)"
    )
    words: list[dict[str, float | str | None]] = Field(
        description="each word with its `start_s`, `end_s` (speech)", default_factory=list
    )


class TranscriptDoc(BaseModel):
    video_id: str = Field(description="the video")
    track: Track = Field(description="`speech` or `ocr` (on-screen text)")
    language: str | None = Field(description="the language most of the speech was in")
    backend: str = Field(description="the backend that made it")
    model: str = Field(description="its model")
    cues: list[Cue] = Field(description="timed lines, in time order")


def _parts(store: ArtifactStore) -> list[ArtifactStore]:
    root = store.root / "parts"
    names = sorted(p.name for p in root.iterdir() if p.name.isdigit()) if root.is_dir() else []
    return [store.part(int(n)) for n in names]


def speech(store: ArtifactStore, video_id: str) -> TranscriptDoc:
    """Every part's speech segments in time order, each with its words and language."""
    cues: list[Cue] = []
    langs: Counter[str] = Counter()
    backend = model = ""
    for part in _parts(store):
        if not part.exists("transcript.json"):
            continue
        tr = part.read_model("transcript.json", Transcript)
        backend, model = backend or tr.backend, model or tr.model
        for seg in tr.segments:
            cues.append(_cue(seg, tr.language))
            if tr.language:
                langs[tr.language] += max(1, len(seg.words))
    cues.sort(key=lambda c: c.start_s)
    language = langs.most_common(1)[0][0] if langs else None
    return TranscriptDoc(
        video_id=video_id, track="speech", language=language, backend=backend, model=model,
        cues=cues,
    )  # fmt: skip


def _cue(seg: SpeechSegment, language: str | None) -> Cue:
    words = [w.model_dump() for w in seg.words]
    return Cue(start_s=seg.start_s, end_s=seg.end_s, text=seg.text.strip(), language=language,
               words=words)  # fmt: skip


def on_screen(store: ArtifactStore, video_id: str) -> TranscriptDoc:
    """On-screen text as a track: each line from when it was first to last seen."""
    spans: list[OcrSpan] = []
    for part in _parts(store):
        spans += part.read_jsonl("ocr.jsonl", OcrSpan)
    merged = sorted(merge_spans(spans, max_gap_s=2.0), key=lambda s: (s.first_s, s.text))
    # a line seen on one frame still shows for a moment: players hide zero-length cues
    cues = [Cue(start_s=s.first_s, end_s=max(s.last_s, s.first_s + 1.0), text=s.text)
            for s in merged]  # fmt: skip
    return TranscriptDoc(
        video_id=video_id, track="ocr", language=None, backend="", model="", cues=cues
    )


_BLANK = re.compile(r"\n\s*\n")


def _clean(text: str) -> str:
    return _BLANK.sub("\n", text.replace("-->", "→")).strip() or "…"


def _vtt_time(t: float) -> str:
    ms = max(0, round(t * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def to_vtt(doc: TranscriptDoc) -> str:
    captions = [
        webvtt.Caption(
            _vtt_time(c.start_s), _vtt_time(max(c.end_s, c.start_s + 0.001)), _clean(c.text)
        )
        for c in doc.cues
    ]
    return webvtt.WebVTT(captions=captions).content


def to_srt(doc: TranscriptDoc) -> str:
    subs = [
        srt.Subtitle(i + 1, dt.timedelta(seconds=c.start_s),
                     dt.timedelta(seconds=max(c.end_s, c.start_s + 0.001)), _clean(c.text))
        for i, c in enumerate(doc.cues)
    ]  # fmt: skip
    return str(srt.compose(subs, reindex=False))
