"""Speech that Whisper dropped or garbled, heard again on its own.

Whisper decodes audio in 30-s windows, each in one language (detected once per window unless
the upload names one). A sentence in another language inside a window (a French announcement
in an English programme) is then dropped outright or written as nonsense in the window's
language: on the realistic needle haystack a French sentence between English talk left no text
at all, and an espeak French sentence between English ones came out as "Moujou Natus,
Moufremme de Sa Lôpital", its words at a mean probability of 0.40 (English around it: 0.78 to
0.89). Transcribed alone, each was detected as French and written in French.

So two kinds of stretch are heard again alone, their language detected for them:
- speech that Silero VAD (the faster-whisper wheel's) hears and no segment covers: what it
  yields joins the transcript;
- a segment whose words Whisper itself doubts (mean probability below WEAK_PROB): replaced when,
  alone, it is heard in another language.

Only when the language is detected: an upload that names its language gets what it asked for.
The cost: one VAD pass plus the stretches heard again, each a full 30-s Whisper window however
short it is. On the 60-minute needle haystack (real talk, audiobooks and calls under footage
sound; 30 of its 642 segments, 101 of 2,379 s of speech, fall below WEAK_PROB) ingest went from
8.5x to 7.1x realtime on 2 cores, and the synthetic French/German needles' recall@5 from 0.20 to
0.40 (`python -m bench.needle --minutes 60 --runs 3`, medians)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from indexer.types import SpeechSegment

SAMPLE_RATE = 16000
MIN_GAP_S = 1.0  # a shorter uncovered stretch is a breath or the tail of a word
PAD_S = 0.25  # heard with a little context on both sides
MAX_GAPS = 20  # per transcribed part: beyond that the audio is not speech Whisper can write
WEAK_PROB = 0.45  # mean word probability under which a segment may be another language
WEAK_MIN_WORDS = 3

# samples -> (the language detected for them, their segments at local times)
Transcribe = Callable[[Any], tuple[str | None, list[SpeechSegment]]]


def speech_regions(samples: Any) -> list[tuple[float, float]]:
    """Where Silero VAD hears speech, in seconds (faster-whisper's defaults, but splitting at
    pauses of 0.5 s, so a sentence between two others stands alone)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    opts = VadOptions(min_silence_duration_ms=500, speech_pad_ms=200)
    return [
        (t["start"] / SAMPLE_RATE, t["end"] / SAMPLE_RATE)
        for t in get_speech_timestamps(samples, opts)
    ]


def uncovered(
    regions: Sequence[tuple[float, float]],
    covered: Sequence[tuple[float, float]],
    min_s: float = MIN_GAP_S,
) -> list[tuple[float, float]]:
    """The parts of `regions` that no span of `covered` overlaps, at least `min_s` long."""
    out = []
    spans = sorted(covered)
    for a, b in regions:
        start = a
        for c, d in spans:
            if d <= start or c >= b:
                continue
            if c - start >= min_s:
                out.append((start, c))
            start = max(start, d)
        if b - start >= min_s:
            out.append((start, b))
    return out


def weak(seg: SpeechSegment) -> bool:
    probs = [w.prob for w in seg.words if w.prob is not None]
    return len(probs) >= WEAK_MIN_WORDS and sum(probs) / len(probs) < WEAK_PROB


def heard_again(
    samples: Any,
    segments: Sequence[SpeechSegment],
    offset_s: float,
    language: str | None,
    transcribe: Transcribe,
) -> list[SpeechSegment]:
    """`segments` (times offset by `offset_s`, in `language`) with the speech they left
    uncovered added, and their doubtful segments replaced where, heard alone by `transcribe`,
    they are in another language; in time order."""
    covered = [(s.start_s - offset_s, s.end_s - offset_s) for s in segments]
    duration = len(samples) / SAMPLE_RATE
    out = list(segments)
    for a, b in uncovered(speech_regions(samples), covered)[:MAX_GAPS]:
        out += _alone(samples, a, b, duration, offset_s, transcribe)[1]
    for seg in [s for s in segments if weak(s)][:MAX_GAPS]:
        a, b = seg.start_s - offset_s, seg.end_s - offset_s
        heard_in, again = _alone(samples, a, b, duration, offset_s, transcribe)
        if again and heard_in and heard_in != language:
            out.remove(seg)
            out += again
    return sorted(out, key=lambda s: s.start_s)


def _alone(
    samples: Any, a: float, b: float, duration: float, offset_s: float, transcribe: Transcribe
) -> tuple[str | None, list[SpeechSegment]]:
    a, b = max(0.0, a - PAD_S), min(duration, b + PAD_S)
    heard_in, segs = transcribe(samples[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)])
    return heard_in, [shifted(seg, a + offset_s) for seg in segs]


def shifted(seg: SpeechSegment, by: float) -> SpeechSegment:
    words = [
        w.model_copy(update={"start_s": round(w.start_s + by, 3), "end_s": round(w.end_s + by, 3)})
        for w in seg.words
    ]
    return seg.model_copy(
        update={
            "start_s": round(seg.start_s + by, 3),
            "end_s": round(seg.end_s + by, 3),
            "words": words,
        }
    )
