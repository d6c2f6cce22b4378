"""Build the one chat request that asks the LMM about the retrieved clips.

Layout (MiniGPT4-Video / Video-RAG style: each clip's text beside its frames, labelled with its
time span so the model can cite it):

    system  answer only from the material; cite [hh:mm:ss]; say when it does not answer
    user    [<title> · 00:12:30–00:12:40]  speech / on-screen text / objects     (text part)
            frame, frame                                                         (image_url parts)
            ... next clip (grouped by video, in time order) ...
            Question: ...                                                        (text part)

For a model without vision (`vision=False`) the user message is one string: the same clip blocks
and question, no frames (a plain string is the one content form every OpenAI-compatible server
accepts; llama-cpp-python's chat templates fail on a list of parts).

The request fits the context window: the question, the system prompt and `max_tokens` of answer
come first; frames may take half of what is left; the clips share the rest (fewer clips when
each would get too little), each clip's text cut to its share. Token counts are estimates
(`tokens.py`). The same inputs always give the same request."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.answer import tokens
from app.answer.frames import allot_images, encode_frame, frame_path, pick_frames
from app.answer.lmm import LMMContextOverflow
from app.answer.settings import LMMSettings
from indexer.store import Library
from indexer.types import Hit

__all__ = ["allot_images", "build_prompt", "clip_label", "pick_frames"]

log = logging.getLogger("vidrag.answer")

_SYSTEM = (
    "You answer questions about videos. Use only the material in the user's message: clips, "
    "each headed by [video title · start–end] with its speech transcript, on-screen text{what}. "
    "Transcripts and on-screen text are machine-made and may "
    "contain errors. After each statement, cite the moment that supports it as [hh:mm:ss] or "
    "[hh:mm:ss–hh:mm:ss], using times inside the clips shown. If the material does not answer "
    "the question, say so plainly instead of guessing. Answer briefly, in the question's language."
)
SYSTEM_PROMPT = _SYSTEM.format(what=", detected objects and a few frames")
SYSTEM_PROMPT_TEXT = _SYSTEM.format(what=" and detected objects")
SAFETY = 0.05  # of the context kept free: the token counts are estimates
MIN_CLIP_TOKENS = 48  # below this a clip's text says too little to be worth sending
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
    """The request body (without `stream`), what it contains and its estimated size."""

    request: dict[str, Any]
    clips: list[PromptClip]
    skipped_frames: list[str] = field(default_factory=list)
    vision: bool = True
    estimated_tokens: int = 0  # of the messages (`tokens.request_tokens`)
    context_tokens: int = 0  # the window it was fitted into

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


def _water_fill(needs: Sequence[int], room: int) -> list[int]:
    """Shares of `room` for items needing `needs`: small needs are met in full, the rest split
    what is left equally."""
    shares = [0] * len(needs)
    left = room
    order = sorted(range(len(needs)), key=lambda i: (needs[i], i))
    for done, i in enumerate(order):
        shares[i] = min(needs[i], left // (len(order) - done))
        left -= shares[i]
    return shares


def clip_text(hit: Hit, header: str, budget_tokens: int, max_chars: int) -> str:
    """The clip's header and evidence within `budget_tokens` (estimated) and `max_chars`."""
    room = budget_tokens - tokens.estimate(header + "\n")
    chars = min(max_chars, max(0, room) * tokens.BYTES_PER_TOKEN)
    body = evidence_text(hit, chars)
    while chars > 0 and tokens.estimate(body) > room:  # digits and non-Latin text cost more
        chars = int(chars * 0.8)
        body = evidence_text(hit, chars)
    return f"{header}\n{body}"


def _question_text(question: str) -> str:
    return (
        f"Question: {question.strip()}\n"
        "Answer from the clips above and cite their times as [hh:mm:ss]."
    )


def _plan(
    chosen: list[tuple[int, Hit]], room: int, settings: LMMSettings, vision: bool
) -> tuple[list[tuple[int, Hit]], list[int]]:
    """The clips that fit `room` (best ranked kept) and the images of each."""
    cost = max(1, settings.image_tokens)
    max_images = min(settings.max_images, room // 2 // cost) if vision else 0
    while chosen:
        allowed = allot_images(
            [len(h.frames) for _, h in chosen], settings.frames_per_clip, max_images
        )
        text_room = room - sum(allowed) * settings.image_tokens
        if len(chosen) == 1 or text_room // len(chosen) >= MIN_CLIP_TOKENS:
            return chosen, allowed
        chosen = chosen[:-1]
    return [], []


def build_prompt(
    question: str,
    hits: Sequence[Hit],
    titles: Mapping[str, str],
    library: Library,
    settings: LMMSettings,
    *,
    vision: bool = True,
    context_tokens: int | None = None,
    max_clips: int | None = None,
) -> Prompt:
    """The chat request for `question` over the best of `hits` (in retrieval order), fitted into
    `context_tokens` (default: the settings' window). Frames that cannot be read are left out and
    listed in `skipped_frames`. Raises LMMContextOverflow when the window cannot hold the
    question, the answer and a little evidence; nothing here calls the LMM."""
    ctx = context_tokens or settings.context_tokens
    system = SYSTEM_PROMPT if vision else SYSTEM_PROMPT_TEXT
    ask = _question_text(question)
    fixed = tokens.request_tokens([{"content": system}, {"content": ask}], 0)
    room = ctx - settings.max_tokens - fixed - math.ceil(ctx * SAFETY)
    if room < MIN_CLIP_TOKENS:
        raise LMMContextOverflow(
            f"a context of {ctx} tokens cannot hold the question (~{fixed} tokens with the "
            f"instructions), {settings.max_tokens} tokens of answer and any evidence"
        )
    limit = settings.max_clips if max_clips is None else max_clips
    chosen, allowed = _plan(select_hits(hits, limit), room, settings, vision)
    text_room = room - sum(allowed) * settings.image_tokens
    # grouped by video (videos in the order of their best hit), then in time order
    first_rank: dict[str, int] = {}
    for rank, h in chosen:
        first_rank.setdefault(h.video_id, rank)
    order = sorted(
        range(len(chosen)),
        key=lambda i: (first_rank[chosen[i][1].video_id], chosen[i][1].start_s, chosen[i][0]),
    )
    headers = [
        clip_label(titles.get(h.video_id) or h.video_id, h.start_s, h.end_s) for _, h in chosen
    ]
    needs = [  # header and text estimated apart, as `clip_text` counts them
        tokens.estimate(headers[i] + "\n")
        + tokens.estimate(evidence_text(h, settings.text_chars_per_clip))
        + 2
        for i, (_, h) in enumerate(chosen)
    ]
    shares = _water_fill(needs, text_room)
    blocks: list[str] = []
    content: list[dict[str, Any]] = []
    clips: list[PromptClip] = []
    skipped: list[str] = []
    for i in order:
        rank, hit = chosen[i]
        block = clip_text(hit, headers[i], shares[i] - 2, settings.text_chars_per_clip)
        blocks.append(block)
        content.append({"type": "text", "text": block})
        sent = 0
        for rel in pick_frames(hit.frames, allowed[i]):
            path = frame_path(library, hit.video_id, rel)
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
        title = titles.get(hit.video_id) or hit.video_id
        clips.append(
            PromptClip(rank, hit.video_id, title, hit.clip_index, hit.start_s, hit.end_s, sent)
        )
    content.append({"type": "text", "text": ask})
    user: str | list[dict[str, Any]] = content if vision else "\n\n".join([*blocks, ask])
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system},
        {"role": "user", "content": user},
    ]
    request: dict[str, Any] = {
        "model": settings.model,
        "messages": messages,
        "max_tokens": settings.max_tokens,
        "temperature": settings.temperature,
    }
    if settings.stop:
        request["stop"] = list(settings.stop)
    used = tokens.request_tokens(messages, settings.image_tokens)
    return Prompt(request, clips, skipped, vision, used, ctx)
