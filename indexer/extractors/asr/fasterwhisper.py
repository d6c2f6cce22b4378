"""faster-whisper (Whisper on CTranslate2): multilingual speech to text with word times.

The production ASR: large-v3-turbo on a GPU, small on a CPU. The model is a faster-whisper size
("small"), a hub id ("Systran/faster-whisper-small") or a local CTranslate2 directory; a hub model
is used from the Hugging Face cache when it is there and downloaded only when not offline."""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import Any, ClassVar

from indexer.errors import MediaError, ModelUnavailable
from indexer.extractors.base import Availability, register, resolve_device
from indexer.extractors.hub import check_hf_repo
from indexer.settings import ASRSettings
from indexer.types import SpeechSegment, Transcript, Word

SAMPLE_RATE = 16000


@register("asr", "faster-whisper")
class FasterWhisperASR:
    """Whisper ASR. `transcribe` returns a Transcript with the detected (or configured) language,
    Whisper's segments and their words, times offset into the video; raises ModelUnavailable
    when the model cannot be loaded and MediaError when the audio cannot be decoded."""

    name: ClassVar[str]

    def __init__(self, settings: ASRSettings, *, offline: bool = False) -> None:
        self.settings = settings
        self.offline = offline
        self._model: Any = None
        self._model_name = settings.model
        self._loading = threading.Lock()  # threads that need the model first load it once

    def availability(self) -> Availability:
        for package in ("faster_whisper", "ctranslate2"):
            if importlib.util.find_spec(package) is None:
                reason = f"{package} is not installed"
                return Availability(False, self.name, self.settings.model, reason)
        try:
            target, _ = self._locate()
        except ModelUnavailable as e:
            return Availability(False, self.name, self.settings.model, e.message)
        return Availability(True, self.name, target)

    def warm_up(self) -> None:
        with self._loading:
            if self._model is None:
                self._load()

    def _load(self) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as e:
            raise ModelUnavailable(f"faster-whisper cannot be imported: {e}") from e
        target, local = self._locate()
        device = resolve_device(self.settings.device)
        compute = self.settings.compute_type
        if compute == "auto":
            compute = "float16" if device == "cuda" else "int8"
        try:
            self._model = WhisperModel(
                target,
                device=device,
                compute_type=compute,
                cpu_threads=min(4, len(os.sched_getaffinity(0))),
                local_files_only=local or self.offline,
            )
        except Exception as e:  # hub, CTranslate2 and CUDA errors alike mean "no ASR here"
            raise ModelUnavailable(f"faster-whisper could not load {target}: {e}") from e
        self._model_name = target

    def transcribe(self, audio: Path, *, offset_s: float = 0.0) -> Transcript:
        self.warm_up()
        from faster_whisper import decode_audio

        try:
            samples = decode_audio(str(audio), sampling_rate=SAMPLE_RATE)
        except (OSError, ValueError) as e:  # PyAV's decoding errors subclass these
            raise MediaError(f"cannot decode audio {audio}: {e}") from e
        segments, info = self._model.transcribe(
            samples,
            language=self.settings.language,
            beam_size=self.settings.beam_size,
            word_timestamps=True,
            vad_filter=self.settings.vad,
        )
        # `segments` is a generator: the decoding happens while it is consumed here
        out = [s for s in (to_segment(seg, offset_s) for seg in segments) if s.text]
        return Transcript(
            backend=self.name, model=self._model_name, language=info.language, segments=out
        )

    def _locate(self) -> tuple[str, bool]:
        """(what to give WhisperModel, whether it is already on disk); ModelUnavailable if none."""
        model = self.settings.model
        path = Path(model).expanduser()
        if path.is_dir():
            if not (path / "model.bin").is_file():
                raise ModelUnavailable(f"{path} is not a CTranslate2 Whisper model (no model.bin)")
            return str(path), True
        if path.is_absolute() or model.startswith((".", "~")) or model.count("/") > 1:
            raise ModelUnavailable(f"model directory {model} does not exist")
        repo = model
        if "/" not in model:
            from faster_whisper.utils import _MODELS  # faster-whisper's own size → hub id table

            if model not in _MODELS:
                raise ModelUnavailable(f"unknown faster-whisper model size {model!r}")
            repo = _MODELS[model]
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(repo, "model.bin")
        if isinstance(cached, str):
            return str(Path(cached).parent), True
        if self.offline:
            raise ModelUnavailable(f"{repo} is not in the Hugging Face cache and offline is set")
        check_hf_repo(repo)
        return repo, False


def to_segment(seg: Any, offset_s: float) -> SpeechSegment:
    """A faster_whisper Segment (with words) as our SpeechSegment, shifted by `offset_s`."""
    words = [
        Word(
            word=w.word.strip(),
            start_s=round(w.start + offset_s, 3),
            end_s=round(w.end + offset_s, 3),
            prob=round(float(w.probability), 4),
        )
        for w in seg.words or []
        if w.word.strip()
    ]
    return SpeechSegment(
        start_s=round(seg.start + offset_s, 3),
        end_s=round(seg.end + offset_s, 3),
        text=seg.text.strip(),
        words=words,
    )
