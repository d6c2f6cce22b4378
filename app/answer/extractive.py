"""The answer when no LMM is configured (or it failed): quotes of the retrieved evidence that
supports an answer, each followed by where and when it is, or a plain "nothing relevant found".

It never invents text: every quote is a span of an evidence line, cut around the words the
question shares with it and reaching on past them, because the answer usually follows what the
question names ("the spare key is under the blue flowerpot"; "FLIGHT BA 4022 | GATE A34").
Which clips support an answer is decided by `relevance.py` (a calibrated threshold); the
citations are exactly the quoted clips. A question that shares too few words with every clip
but is close in meaning to one (a paraphrase) gets that clip's best lines only: the window of its
speech closest in meaning to the question (run on past it), else its speech and on-screen text;
it cites that clip alone. When no clip is that close but the first-ranked one is near
(`relevance.NEAREST_DENSE`), that clip is quoted the same way as "the closest moment found",
after a sentence saying that no clip clearly answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from app.answer.neighbours import ClipSpeech
from app.answer.relevance import LineMatch, Support, assess
from indexer.search.question_words import MEDIUM
from indexer.types import Evidence, Hit

MODEL = "extractive"
NOTE = "(Quoted from the videos; no language model composed this answer.)"
NOTHING = "Nothing relevant found in the indexed videos"
NO_HITS = "Nothing in the indexed videos matches the question."
UNSURE = "No clip clearly answers this; the closest moment found: "
LABEL = {"speech": "said", "ocr": "on screen", "objects": "seen", "visual": "looks like"}
MAX_QUOTES = 2
KEEP = 0.75  # quote a further supporting clip only when it scores this share of the best
WORDS_BEFORE, WORDS_AFTER = 8, 30  # of a speech quote, around the first matched word
RUN_ON = 12  # words a quote wants after its last matched word, from the next clip if need be
SCREEN_CHARS = 200  # of the on-screen lines of one clip


SpeechOf = Callable[[str, int], ClipSpeech | None]


@dataclass
class ExtractiveAnswer:
    answer: str
    cited: list[Hit] = field(default_factory=list)


def hms(t: float) -> str:
    t = max(0, int(t))
    return f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"


def speech_window(
    line: LineMatch, hit: Hit, speech_of: SpeechOf | None = None
) -> tuple[str, list[ClipSpeech]]:
    """The words of a speech line from a little before its first matched word to well after,
    run on into the neighbouring clips' speech when the match sits at an edge of the clip (and
    `speech_of` can read them); with the neighbours used."""
    words = line.evidence.text.split()
    first = min((pos for _, pos in line.found.values()), default=0)
    last = max((pos for _, pos in line.found.values()), default=0)
    long_line = len(words) > WORDS_BEFORE + WORDS_AFTER
    start = max(0, first - WORDS_BEFORE) if long_line and line.found else 0
    end = min(len(words), start + WORDS_BEFORE + WORDS_AFTER)
    before, after, used = "", "", []
    if speech_of is not None and line.found:
        if start == 0 and first < WORDS_BEFORE:  # the sentence may have begun in the clip before
            prev = speech_of(hit.video_id, hit.clip_index - 1)
            if prev is not None:
                tail = prev.text.split()[-(WORDS_BEFORE - first) :]
                before = ("… " if len(tail) < len(prev.text.split()) else "") + " ".join(tail)
                used.append(prev)
        if end == len(words) and len(words) - 1 - last < RUN_ON:  # its answer may come next
            nxt = speech_of(hit.video_id, hit.clip_index + 1)
            if nxt is not None:
                head = nxt.text.split()[: RUN_ON - (len(words) - 1 - last)]
                after = " ".join(head) + (" …" if len(head) < len(nxt.text.split()) else "")
                used.append(nxt)
    text = " ".join(words[start:end])
    text = (before + " " if before else "… " if start > 0 else "") + text
    text += (" " + after) if after else (" …" if end < len(words) else "")
    return text, used


def _screen(lines: list[LineMatch]) -> str:
    """The clip's on-screen lines in reading order from the one sharing most words with the
    question, then the lines above it while room is left: a sign's or a slide's other lines are
    its context and often its answer ("FLIGHT BA 4022" above "GATE A34"; a sentence of a page
    that goes on in the next line)."""
    best = max(range(len(lines)), key=lambda i: (lines[i].weight, -i), default=0)
    out = ""
    for ln in [*lines[best:], *lines[:best]]:
        text = " ".join(ln.evidence.text.split())
        if out and len(out) + len(text) + 3 > SCREEN_CHARS:
            break
        out = f"{out} | {text}" if out else text[:SCREEN_CHARS]
    return out


def _by_kind(support: Support) -> dict[str, list[LineMatch]]:
    by_kind: dict[str, list[LineMatch]] = {}
    for ln in support.lines:
        by_kind.setdefault(ln.evidence.modality, []).append(ln)
    return by_kind


def _plain(lines: list[LineMatch]) -> str:
    """Lines as one quote, their whitespace collapsed ("1 person (left); 2 car (center)")."""
    return "; ".join(" ".join(ln.evidence.text.split()) for ln in lines)


def quote(support: Support, speech_of: SpeechOf | None = None) -> tuple[str, list[ClipSpeech]]:
    """The quotes of one clip: its matching speech window, its on-screen lines when any of them
    matches (or the clip matched nothing word for word), its objects when they match; with the
    neighbouring clips the speech ran on into."""
    by_kind = _by_kind(support)
    any_found = any(ln.found for ln in support.lines)
    parts, used = [], []
    for kind in ("speech", "ocr", "objects", "visual"):
        lines = by_kind.get(kind, [])
        if not lines or (any_found and not any(ln.found for ln in lines)):
            continue
        if kind == "speech":
            windows = [speech_window(ln, support.hit, speech_of) for ln in lines]
            text = " ".join(w for w, _ in windows)
            used += [n for _, ns in windows for n in ns]
        elif kind == "ocr":
            text = _screen(lines)
        else:
            text = _plain(lines)
        parts.append(f"{LABEL[kind]}: “{text}”")
    return "; ".join(parts), used


def meaning_quote(
    support: Support, speech_of: SpeechOf | None = None
) -> tuple[str, list[ClipSpeech]]:
    """The quote of a clip relevant by meaning only (no word to cut around): the window of its
    speech whose vector is closest to the question (`Hit.closest_text`), run on past it as a
    matched word's quote is; else the start of its speech, then its on-screen lines; its objects
    or looks only when it has neither. With the neighbouring clips the speech ran on into."""
    by_kind = _by_kind(support)
    speech = " ".join(" ".join(ln.evidence.text.split()) for ln in by_kind.get("speech", []))
    window = _window_line(speech, support.hit.closest_text)
    if window is not None:
        text, used = speech_window(window, support.hit, speech_of)
        return f"{LABEL['speech']}: “{text}”", used
    parts = []
    if speech:
        words = speech.split()
        cut = WORDS_BEFORE + WORDS_AFTER
        parts.append(
            f"{LABEL['speech']}: “{' '.join(words[:cut])}{' …' if len(words) > cut else ''}”"
        )
    if by_kind.get("ocr"):
        parts.append(f"{LABEL['ocr']}: “{_screen(by_kind['ocr'])}”")
    if not parts:
        for kind in ("objects", "visual"):
            if by_kind.get(kind):
                text = _plain(by_kind[kind])
                parts.append(f"{LABEL[kind]}: “{text}”")
    return "; ".join(parts), []


def _window_line(speech: str, closest: str | None) -> LineMatch | None:
    """The clip's speech as one line whose "matched" words are the first and last of the speech
    window `closest` (a window is a run of the speech's words: indexer/clip_texts.py), or None
    when `closest` is not such a window (the whole evidence, or one modality's text)."""
    words, window = speech.split(), (closest or "").split()
    if not window or len(window) >= len(words):
        return None
    for i in range(len(words) - len(window) + 1):
        if words[i : i + len(window)] == window:
            line = LineMatch(Evidence(modality="speech", text=speech, start_s=0, end_s=0), words)
            line.found = {0: (1.0, i), 1: (1.0, i + len(window) - 1)}
            return line
    return None


def _as_hit(n: ClipSpeech) -> Hit:
    return Hit(
        video_id=n.video_id, clip_index=n.clip_index, start_s=n.start_s, end_s=n.end_s, score=0.0
    )


def _where(hits: list[Hit], titles: dict[str, str], many_videos: bool) -> str:
    span = f"{hms(min(h.start_s for h in hits))}–{hms(max(h.end_s for h in hits))}"
    vid = hits[0].video_id
    return f"[{titles.get(vid, vid)} · {span}]" if many_videos else f"[{span}]"


def nothing_found(missing: list[str]) -> str:
    if missing:
        quoted = [f"“{w}”" for w in missing[:3]]
        named = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
        return f"{NOTHING}: no clip mentions {named}."
    return f"{NOTHING}: the closest clips share too little with the question."


def answer(
    question: str,
    hits: list[Hit],
    titles: dict[str, str] | None = None,
    speech_of: SpeechOf | None = None,
) -> ExtractiveAnswer:
    """Quotes of up to `MAX_QUOTES` supporting clips, best supported first, or a sentence
    saying that none supports an answer (then nothing is cited). `speech_of(video_id,
    clip_index)` gives a clip's speech, for quotes that run on into a neighbouring clip (cited
    too)."""
    titles = titles or {}
    if not hits:
        return ExtractiveAnswer(NO_HITS)
    judged = assess(question, hits)
    if all(t.text in MEDIUM for t in judged.terms):  # "what did he say?": show the best hit
        chosen = judged.supports[:1]
    else:
        supporting = judged.supporting()
        chosen = (
            [s for s in supporting if s.score >= KEEP * supporting[0].score][:MAX_QUOTES]
            if supporting
            else []
        )
    chosen = [s for s in chosen if any(ln.evidence.text.strip() for ln in s.lines)]
    if not chosen:
        close, hedge = judged.by_meaning(), ""
        if close is None:
            close, hedge = judged.nearest(), UNSURE
        if close is not None and any(ln.evidence.text.strip() for ln in close.lines):
            text, neighbours = meaning_quote(close, speech_of)
            clips = sorted([close.hit, *map(_as_hit, neighbours)], key=lambda h: h.start_s)
            where = _where(clips, titles, len(titles) > 1)
            return ExtractiveAnswer(f"{hedge}{text} {where}\n{NOTE}", clips)
        return ExtractiveAnswer(nothing_found([t.text for t in judged.missing()]))
    many = len(titles) > 1 or len({s.hit.video_id for s in chosen}) > 1
    lines: list[str] = []
    cited: list[Hit] = []
    for s in chosen:
        text, neighbours = quote(s, speech_of)
        clips = sorted([s.hit, *map(_as_hit, neighbours)], key=lambda h: h.start_s)
        lines.append(f"{text} {_where(clips, titles, many)}")
        cited += [h for h in clips if (h.video_id, h.clip_index) not in _keys(cited)]
    return ExtractiveAnswer("\n".join([*lines, NOTE]), cited)


def _keys(hits: list[Hit]) -> set[tuple[str, int]]:
    return {(h.video_id, h.clip_index) for h in hits}


def chunks(text: str) -> list[str]:
    """The answer cut at line ends, for streaming as deltas."""
    return [line + "\n" for line in text.split("\n")[:-1]] + [text.split("\n")[-1]]
