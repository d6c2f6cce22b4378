"""PocketSphinx 5 speech recognition with the English model its PyPI wheel carries (offline).

It hears distinctive words, not sentences (~70% word error on read speech), which is what a
keyword index needs. Audio is cut into speech regions by a VAD first, so silence, music and
noise cost almost nothing and each region is decoded as one utterance with word times."""

from __future__ import annotations

import importlib.util
import re
import threading
import wave
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from indexer.errors import MediaError, ModelUnavailable
from indexer.extractors.base import Availability, UnsupportedLanguage, register
from indexer.settings import ASRSettings
from indexer.types import SpeechSegment, Transcript, Word

SAMPLE_RATE = 16000
MODEL = "en-us (pocketsphinx wheel)"

# Decoder options chosen with bench/asr.py on the test speech: a quarter of the CPU of
# pocketsphinx's defaults for 52 instead of 55 of 73 transcript keywords. The beams and the HMM
# cap prune the search, which dominates; beams tighter than 1e-35 lose most words. ds=2 scores
# the acoustic model on every other frame, topn=2 uses fewer Gaussians per senone, and the
# second (flat-lexicon) pass costs time without finding more keywords.
DEFAULT_OPTIONS: dict[str, Any] = {
    "beam": 1e-40,
    "wbeam": 1e-24,
    "pbeam": 1e-40,
    "maxhmmpf": 3000,
    "ds": 2,
    "topn": 2,
    "fwdflat": False,
}
MAX_REGION_S = 30.0  # longer speech is split (at a pause where there is one) to bound latency
_ALT_PRON = re.compile(r"\(\d+\)$")  # "the(2)": the dictionary's second pronunciation of "the"


@register("asr", "pocketsphinx")
class PocketsphinxASR:
    """English ASR on one CPU core. `transcribe` returns a Transcript (language "en", one segment
    per speech region that produced words, word times in video seconds); raises ModelUnavailable
    when pocketsphinx cannot load and MediaError when the audio is not 16 kHz mono 16-bit WAV.

    `vad`: "silero" (the ONNX model in the faster-whisper wheel; rejects music and noise well),
    "endpointer" (pocketsphinx's own WebRTC-style VAD) or "auto" (silero when importable)."""

    name: ClassVar[str]

    def __init__(
        self,
        settings: ASRSettings,
        *,
        offline: bool = False,
        options: Mapping[str, Any] | None = None,
        vad: Literal["auto", "silero", "endpointer"] = "auto",
    ) -> None:
        self.settings = settings
        self.offline = offline  # nothing to download: the model ships in the wheel
        self.options = {**DEFAULT_OPTIONS, **(options or {})}
        self.vad = vad  # resolved by warm_up when "auto"
        self._decoder: Any = None
        self._lock = threading.Lock()  # one decoder, one utterance at a time
        self._loading = threading.Lock()  # threads that need the model first load it once

    def availability(self) -> Availability:
        if importlib.util.find_spec("pocketsphinx") is None:
            return Availability(False, self.name, MODEL, "pocketsphinx is not installed")
        lang = self.settings.language
        if lang is not None and not lang.lower().startswith("en"):
            reason = f"pocketsphinx carries an English model only; language {lang!r} asked"
            return Availability(False, self.name, MODEL, reason)
        return Availability(True, self.name, MODEL)

    def warm_up(self) -> None:
        with self._loading:
            if self._decoder is None:
                self._load()

    def _load(self) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError as e:
            raise ModelUnavailable(f"pocketsphinx cannot be imported: {e}") from e
        try:
            decoder = Decoder(samprate=SAMPLE_RATE, loglevel="ERROR", **self.options)
        except (RuntimeError, ValueError, KeyError) as e:  # no model files, a bad option
            raise ModelUnavailable(f"pocketsphinx model failed to load: {e}") from e
        if self.vad in ("auto", "silero"):
            try:
                from faster_whisper.vad import get_vad_model

                get_vad_model()  # cached by faster-whisper for the process
                self.vad = "silero"
            except (ImportError, RuntimeError) as e:  # package or onnxruntime missing
                if self.vad == "silero":
                    raise ModelUnavailable(f"silero VAD (faster-whisper) unavailable: {e}") from e
                self.vad = "endpointer"
        self._decoder = decoder

    def transcribe(
        self, audio: Path, *, offset_s: float = 0.0, language: str | None = None
    ) -> Transcript:
        if language and not language.lower().startswith("en"):
            raise UnsupportedLanguage(f"pocketsphinx carries an English model only; {language!r}")
        self.warm_up()
        pcm = read_wav16(audio)
        segments = []
        with self._lock:
            # live cepstral mean normalisation adapts from utterance to utterance; resetting the
            # features per file makes a file's words independent of what was decoded before
            self._decoder.reinit_feat()
            for start, end in self.speech_regions(pcm):
                seg = self._decode(pcm[start:end], offset_s + start / SAMPLE_RATE)
                if seg is not None:
                    segments.append(seg)
        return Transcript(backend=self.name, model=MODEL, language="en", segments=segments)

    def speech_regions(self, pcm: np.ndarray) -> list[tuple[int, int]]:
        """(start, end) sample indices of the speech in `pcm`, each at most MAX_REGION_S long."""
        self.warm_up()
        max_n = int(MAX_REGION_S * SAMPLE_RATE)
        if not self.settings.vad:
            return [(i, min(i + max_n, len(pcm))) for i in range(0, len(pcm), max_n)]
        if self.vad == "silero":
            from faster_whisper.vad import VadOptions, get_speech_timestamps

            opts = VadOptions(
                min_silence_duration_ms=300, speech_pad_ms=150, max_speech_duration_s=MAX_REGION_S
            )
            chunks = get_speech_timestamps(pcm.astype(np.float32) / 32768.0, opts, SAMPLE_RATE)
            return [(c["start"], c["end"]) for c in chunks]
        return _endpointer_regions(pcm, max_n)

    def _decode(self, pcm: np.ndarray, start_s: float) -> SpeechSegment | None:
        dec = self._decoder
        dec.start_utt()
        dec.process_raw(pcm.tobytes(), full_utt=True)
        dec.end_utt()
        frate = float(dec.config["frate"])
        words = []
        for s in dec.seg():
            if s.word.startswith(("<", "[")):  # <s>, </s>, <sil>, [NOISE], [BREATH]...
                continue
            words.append(
                Word(
                    word=_ALT_PRON.sub("", s.word),
                    start_s=round(start_s + s.start_frame / frate, 3),
                    end_s=round(start_s + (s.end_frame + 1) / frate, 3),
                    prob=round(min(float(s.prob), 1.0), 4),  # posterior; rounding can pass 1
                )
            )
        if not words:
            return None
        text = " ".join(w.word for w in words)
        return SpeechSegment(
            start_s=words[0].start_s, end_s=words[-1].end_s, text=text, words=words
        )


def _endpointer_regions(pcm: np.ndarray, max_n: int) -> list[tuple[int, int]]:
    from pocketsphinx import Segmenter

    seg = Segmenter(sample_rate=SAMPLE_RATE)
    regions = []
    data = pcm.tobytes()
    step = seg.frame_bytes
    start: int | None = None
    for i in range(0, len(data), step):
        frame = data[i : i + step]
        speech = seg.end_stream(frame) if len(frame) < step else seg.process(frame)
        if speech is not None and start is None:
            start = int(seg.speech_start * SAMPLE_RATE)
        if start is not None and not seg.in_speech:
            regions.append((start, min(int(seg.speech_end * SAMPLE_RATE), len(pcm))))
            start = None
    if start is not None:  # the stream ended inside speech
        regions.append((start, len(pcm)))
    # the endpointer has no length cap: cut long regions into equal pieces
    out: list[tuple[int, int]] = []
    for a, b in regions:
        n = max(1, -(-(b - a) // max_n))
        edges = np.linspace(a, b, n + 1).astype(int)
        out.extend(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))
    return out


def read_wav16(path: Path) -> np.ndarray:
    """Samples of a 16 kHz mono 16-bit PCM WAV as int16; MediaError for anything else."""
    try:
        with wave.open(str(path), "rb") as w:
            fmt = (w.getframerate(), w.getnchannels(), w.getsampwidth())
            data = w.readframes(w.getnframes())
    except (OSError, EOFError, wave.Error) as e:
        raise MediaError(f"cannot read audio {path}: {e}") from e
    if fmt != (SAMPLE_RATE, 1, 2):
        raise MediaError(
            f"{path}: expected 16 kHz mono 16-bit WAV, got {fmt[0]} Hz, "
            f"{fmt[1]} channel(s), {8 * fmt[2]}-bit"
        )
    return np.frombuffer(data, dtype=np.int16)
