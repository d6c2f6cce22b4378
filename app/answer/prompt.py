"""Build the one chat request that asks the LMM about the retrieved clips.

Layout (MiniGPT4-Video / Video-RAG style: each clip's text beside its frames, labelled with its
time span so the model can cite it):

    system  answer only from the material; cite [hh:mm:ss]; say when it does not answer
    user    [<title> · 00:12:30–00:12:40]  speech / on-screen text / objects     (text part)
            frame, frame                                                         (image_url parts)
            ... next clip (grouped by video, in time order) ...
            Question: ...                                                        (text part)

Budgets come from `LMMSettings`; the same inputs always give the same request."""

from __future__ import annotations

import base64
import io
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from app.answer.settings import LMMSettings
from indexer.store import Library
from indexer.types import Hit

log = logging.getLogger("vidrag.answer")

SYSTEM_PROMPT = (
    "You answer questions about videos. Use only the material in the user's message: clips, "
    "each headed by [video title · start–end] with its speech transcript, on-screen text, "
    "detected objects and a few frames. Transcripts and on-screen text are machine-made and may "
    "contain errors. After each statement, cite the moment that supports it as [hh:mm:ss] or "
    "[hh:mm:ss–hh:mm:ss], using times inside the clips shown. If the material does not answer "
    "the question, say so plainly instead of guessing. Answer briefly, in the question's language."
)
MODALITY_LABEL = {
    "speech": "Speech",
    "ocr": "On-screen text",
    "objects": "Objects",
    "visual": "Visual",
}
JOIN = {"speech": " ", "ocr": " | ", "objects": "; ", "visual": "; "}


def fmt_time(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def clip_span(start_s: float, end_s: float) -> tuple[int, int]:
    """The whole seconds a clip label shows: start rounded down, end up, so a time the model
    copies from the label always lies inside the clip."""
    return math.floor(start_s), math.ceil(end_s)


def clean_title(title: str) -> str:
    # a title is the user's text: keep it on one line and out of our bracket syntax
    flat = " ".join(title.split()).replace("[", "(").replace("]", ")").replace("·", "-")
    return flat[:100] or "untitled"


def clip_label(title: str, start_s: float, end_s: float) -> str:
    a, b = clip_span(start_s, end_s)
    return f"[{clean_title(title)} · {fmt_time(a)}–{fmt_time(b)}]"


@dataclass(frozen=True)
class PromptClip:
    """One clip as the model saw it; `rank` is its hit's position in the retrieval order."""

    rank: int
    video_id: str
    title: str
    clip_index: int
    start_s: float
    end_s: float
    images: int


@dataclass
class Prompt:
    """The request body (without `stream`) and what it contains."""

    request: dict[str, Any]
    clips: list[PromptClip]
    skipped_frames: list[str] = field(default_factory=list)

    @property
    def images(self) -> int:
        return sum(c.images for c in self.clips)


def select_hits(hits: Sequence[Hit], max_clips: int) -> list[tuple[int, Hit]]:
    """The best `max_clips` distinct clips, with their rank."""
    seen: set[tuple[str, int]] = set()
    out: list[tuple[int, Hit]] = []
    for rank, h in enumerate(hits):
        key = (h.video_id, h.clip_index)
        if key in seen:
            continue
        seen.add(key)
        out.append((rank, h))
        if len(out) >= max_clips:
            break
    return out


def allot_images(available: Sequence[int], per_clip: int, total: int) -> list[int]:
    """Images per clip (clips in rank order): round-robin, so every clip gets its first frame
    before any clip gets a second one."""
    counts = [0] * len(available)
    left = total
    for round_ in range(per_clip):
        for i, n in enumerate(available):
            if left <= 0:
                return counts
            if n > round_:
                counts[i] += 1
                left -= 1
    return counts


def pick_frames(frames: Sequence[str], n: int) -> list[str]:
    """`n` frames spread evenly over the clip (the middle of each of n equal slices)."""
    if n <= 0 or not frames:
        return []
    if n >= len(frames):
        return list(frames)
    return [frames[int((i + 0.5) * len(frames) / n)] for i in range(n)]


def encode_frame(path: Path, max_side: int, quality: int) -> str:
    """A JPEG data URI of the frame, downscaled to `max_side`. Raises OSError for a missing or
    unreadable file."""
    with Image.open(path) as src:
        im = src.convert("RGB")
    if max(im.size) > max_side > 0:
        scale = max_side / max(im.size)
        size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        im = im.resize(size, Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _share(lines: list[tuple[str, str]], budget: int) -> list[tuple[str, str]]:
    # water-filling: short lines keep all their text, long ones split what is left equally
    order = sorted(range(len(lines)), key=lambda i: (len(lines[i][1]), i))
    out = list(lines)
    left = budget
    for done, i in enumerate(order):
        allowance = left // (len(order) - done)
        label, text = lines[i]
        if len(text) > allowance:
            text = text[: max(0, allowance - 1)].rstrip() + "…"
        out[i] = (label, text)
        left -= len(text)
    return out


def evidence_text(hit: Hit, budget: int) -> str:
    """The clip's speech, on-screen text and objects, one line each, within `budget` chars."""
    parts: dict[str, list[str]] = {}
    for e in hit.evidence:
        text = " ".join(e.text.split())
        if text and text not in parts.setdefault(e.modality, []):
            parts[e.modality].append(text)
    lines = [(MODALITY_LABEL[m], JOIN[m].join(parts[m])) for m in MODALITY_LABEL if parts.get(m)]
    if not lines:
        return "(no speech, on-screen text or objects recorded)"
    return "\n".join(f"{label}: {text}" for label, text in _share(lines, budget))


def _frame_path(library: Library, video_id: str, rel: str) -> Path | None:
    root = library.store(video_id).root.resolve()
    path = (root / rel).resolve()
    # frame paths come from the index; never let one name a file outside the video's directory
    return path if path.is_relative_to(root) else None


def build_prompt(
    question: str,
    hits: Sequence[Hit],
    titles: Mapping[str, str],
    library: Library,
    settings: LMMSettings,
) -> Prompt:
    """The chat request for `question` over the best of `hits` (in retrieval order). Frames that
    cannot be read are left out and listed in `skipped_frames`; nothing here calls the LMM."""
    chosen = select_hits(hits, settings.max_clips)
    allowed = allot_images(
        [len(h.frames) for _, h in chosen], settings.frames_per_clip, settings.max_images
    )
    # grouped by video (videos in the order of their best hit), then in time order
    first_rank: dict[str, int] = {}
    for rank, h in chosen:
        first_rank.setdefault(h.video_id, rank)
    order = sorted(
        range(len(chosen)),
        key=lambda i: (first_rank[chosen[i][1].video_id], chosen[i][1].start_s, chosen[i][0]),
    )
    content: list[dict[str, Any]] = []
    clips: list[PromptClip] = []
    skipped: list[str] = []
    for i in order:
        rank, hit = chosen[i]
        title = titles.get(hit.video_id) or hit.video_id
        header = clip_label(title, hit.start_s, hit.end_s)
        content.append(
            {
                "type": "text",
                "text": f"{header}\n{evidence_text(hit, settings.text_chars_per_clip)}",
            }
        )
        sent = 0
        for rel in pick_frames(hit.frames, allowed[i]):
            path = _frame_path(library, hit.video_id, rel)
            try:
                if path is None:
                    raise OSError("outside the video's directory")
                url = encode_frame(path, settings.image_max_side, settings.jpeg_quality)
            except OSError as e:  # PIL's UnidentifiedImageError is an OSError too
                log.warning("frame %s/%s left out of the prompt: %s", hit.video_id, rel, e)
                skipped.append(f"{hit.video_id}/{rel}")
                continue
            content.append({"type": "image_url", "image_url": {"url": url}})
            sent += 1
        clips.append(
            PromptClip(rank, hit.video_id, title, hit.clip_index, hit.start_s, hit.end_s, sent)
        )
    content.append(
        {
            "type": "text",
            "text": f"Question: {question.strip()}\n"
            "Answer from the clips above and cite their times as [hh:mm:ss].",
        }
    )
    request = {
        "model": settings.model,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": content},
        ],
        "max_tokens": settings.max_tokens,
        "temperature": settings.temperature,
    }
    return Prompt(request, clips, skipped)
