"""The ASR benchmark's material and scoring: one long 16 kHz track of real speech with human
transcripts, and how a transcript of it is scored.

The track joins the real recordings of `<testdata>/speech` (LibriVox and LJ Speech read
sentences, the card readings, and the diarization recording: four people in short turns, no
transcript, so it counts for speed only), separated by silence, noise and music, so a run also
measures VAD skipping and long-audio splitting. Scores, per sentence with a transcript: keywords
heard within its time span, and the word error rate of the words heard there."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_RATE = 16000
# common words that tell nothing about a sentence
STOP = {"about", "after", "again", "being", "could", "every", "might", "other", "their", "there"}
STOP |= {"these", "those", "under", "where", "which", "while", "would", "before", "itself"}
# what Whisper writes where the human transcripts spell words out
SPOKEN = {"mr": "mister", "mrs": "missus", "10": "ten", "4": "four", "5": "five", "7": "seven"}
SPOKEN |= {"8": "eight", "15th": "fifteenth", "16th": "sixteenth"}
SLACK_S = 0.3  # a word this far outside a sentence's span still counts for it


def keywords(text: str) -> set[str]:
    """Distinctive words of a transcript: five letters or more, not a common function word."""
    return {w for w in normalise(text) if len(w) >= 5 and w not in STOP}


def normalise(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))
    return [SPOKEN.get(w, w) for w in words]


def load16(path: Path) -> np.ndarray:
    """Any audio file as 16 kHz mono int16 (ffmpeg resamples)."""
    cmd = ["ffmpeg", "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(SAMPLE_RATE)]
    cmd += ["-f", "s16le", "-"]
    return np.frombuffer(subprocess.run(cmd, capture_output=True, check=True).stdout, np.int16)


def sentences(speech: Path) -> list[tuple[str, Path, str | None]]:
    """(id, audio, human transcript or None) of every recording the track uses."""
    out: list[tuple[str, Path, str | None]] = []
    for folder, listing in (("pocketsphinx_librivox", "transcription"),
                            ("pocketsphinx_cards", "cards.transcription")):  # fmt: skip
        for line in (speech / folder / listing).read_text().splitlines():
            m = re.match(r"<s> (.*?)\s*</s> \((.*)\)", line)
            if m:
                out.append((m[2], speech / folder / f"{m[2]}.wav", m[1]))
    with open(speech / "ljspeech_coqui" / "metadata.csv", newline="") as f:
        for row in csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE):
            out.append((row[0], speech / "ljspeech_coqui" / f"{row[0]}.wav", row[2]))
    out.append(("diarization", speech / "pyaudioanalysis_diarizationExample.wav", None))
    return out


@dataclass
class Track:
    path: Path
    spans: list[dict[str, Any]] = field(default_factory=list)  # sentences with transcripts
    nonspeech: list[tuple[float, float]] = field(default_factory=list)
    duration_s: float = 0.0
    speech_s: float = 0.0  # every recording, with or without a transcript
    # (offset, file) transcribed one by one, as the pipeline transcribes a video's parts
    parts: list[tuple[float, Path]] = field(default_factory=list)
    needles: list[dict[str, Any]] = field(default_factory=list)  # a haystack's speech needles


def build_track(testdata: Path, workdir: Path) -> Track:
    """Recordings with gaps of silence / noise / music between them, and their spans."""
    rng = np.random.default_rng(0)
    gaps = [
        np.zeros(SAMPLE_RATE, np.int16),
        load16(testdata / "speech" / "alsa" / "Noise.wav"),
        load16(testdata / "video" / "moviepy_chaplin.mp4"),  # music
        load16(testdata / "video" / "moviepy_big_buck_bunny_0_30.webm")[: 10 * SAMPLE_RATE],
    ]
    track = Track(workdir / "track.wav")
    pieces, t = [], 0
    for i, (sid, path, text) in enumerate(sentences(testdata / "speech")):
        gap = gaps[i % len(gaps)]
        if i % len(gaps):  # noise and music at a lower level, as under speech in a video
            gap = (gap.astype(np.float32) * rng.uniform(0.3, 1.0)).astype(np.int16)
        track.nonspeech.append((t / SAMPLE_RATE, (t + len(gap)) / SAMPLE_RATE))
        pieces.append(gap)
        t += len(gap)
        pcm = load16(path)
        if text is not None:
            track.spans.append(
                {
                    "id": sid,
                    "start_s": t / SAMPLE_RATE,
                    "end_s": (t + len(pcm)) / SAMPLE_RATE,
                    "text": text,
                    "keywords": sorted(keywords(text)),
                }
            )
        track.speech_s += len(pcm) / SAMPLE_RATE
        pieces.append(pcm)
        t += len(pcm)
    with wave.open(str(track.path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(np.concatenate(pieces).tobytes())
    track.duration_s = t / SAMPLE_RATE
    track.parts = [(0.0, track.path)]
    return track


def haystack_track(video: Path, needles: Path, workdir: Path, part_s: float = 300.0) -> Track:
    """The audio of a needle haystack (bench/realistic.py: real footage, real background talk),
    cut into parts like the pipeline's; its speech needles, with their answer words, are what
    a transcript is scored on. Speech seconds are what Silero VAD finds."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    samples = load16(video)
    track = Track(workdir / "haystack.wav", duration_s=len(samples) / SAMPLE_RATE)
    step = int(part_s * SAMPLE_RATE)
    for k, start in enumerate(range(0, len(samples), step)):
        path = workdir / f"haystack-{k}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(SAMPLE_RATE)
            w.writeframes(samples[start : start + step].tobytes())
        track.parts.append((start / SAMPLE_RATE, path))
    chunks = get_speech_timestamps(samples.astype(np.float32) / 32768.0, VadOptions())
    track.speech_s = sum(c["end"] - c["start"] for c in chunks) / SAMPLE_RATE
    plan = json.loads(needles.read_text())
    track.needles = [n for n in plan["needles"] if n["kind"] == "speech"]
    return track


def score_needles(track: Track, transcript_words: list[tuple[float, float, str]]) -> dict:
    """Speech needles whose answer words were heard within a second of the needle."""
    heard: dict[str, bool] = {}
    for n in track.needles:
        lo, hi = n["start_s"] - 1.0, n["end_s"] + 1.0
        said = " ".join(normalise(" ".join(w for a, b, w in transcript_words
                                           if lo <= (a + b) / 2 <= hi)))  # fmt: skip
        heard[n["id"]] = any(" ".join(normalise(x)) in said for x in n["answer_words"])
    return {"needle_hits": sum(heard.values()), "needles": len(heard), "heard": heard}


def timed_words(transcript: Any) -> list[tuple[float, float, str]]:
    """(start, end, word) of a Transcript; a segment without word times spreads its words
    evenly over its span."""
    out = []
    for seg in transcript.segments:
        if seg.words:
            out += [(w.start_s, w.end_s, w.word) for w in seg.words]
            continue
        words = seg.text.split()
        step = (seg.end_s - seg.start_s) / max(1, len(words))
        out += [
            (seg.start_s + i * step, seg.start_s + (i + 1) * step, w) for i, w in enumerate(words)
        ]
    return out


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def score(track: Track, transcript: Any) -> dict[str, Any]:
    """Keyword hits, word error rate over the sentences with transcripts, words in the gaps."""
    words = timed_words(transcript)
    hits = total = errors = ref_words = 0
    for sp in track.spans:
        inside = [
            w
            for a, b, w in words
            if sp["start_s"] - SLACK_S <= (a + b) / 2 <= sp["end_s"] + SLACK_S
        ]
        heard = normalise(" ".join(inside))
        hits += len(set(heard) & set(sp["keywords"]))
        total += len(sp["keywords"])
        ref = normalise(sp["text"])
        errors += edit_distance(ref, heard)
        ref_words += len(ref)
    stray = sum(any(a <= (s + e) / 2 <= b for a, b in track.nonspeech) for s, e, _ in words)
    return {
        "keyword_hits": hits,
        "keywords": total,
        "hit_rate": round(hits / total, 3),
        "wer": round(errors / ref_words, 3),
        "words": len(words),
        "words_in_gaps": stray,
    }
