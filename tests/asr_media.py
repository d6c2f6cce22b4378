"""Speech for the ASR and text-embedding tests, generated with espeak-ng (tests/synth.py), and the
packaged Whisper base assembled once per session into a temporary model cache.

espeak-ng is a robotic voice: pocketsphinx hears the en-us+f2 voice best, Whisper base hears
English well, German passably and French poorly. The sentences below were chosen so that the
languages are told apart and the words the tests look for survive recognition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer.extractors.asr.fasterwhisper import FasterWhisperASR
from indexer.settings import ASRSettings
from tests import synth

RATE = synth.RATE

# (voice, text, speed); en-us+f2 at 145 is the needle voice pocketsphinx hears
EN_LIBRARY = ("en-us+f2", "The library closes early on Friday, because the chess club holds its "
              "yearly tournament there.", 145)  # fmt: skip
EN_MUSEUM = ("en-us+f2", "The museum opens at nine o'clock every morning, except on Mondays.", 145)
EN_WEATHER = ("en-us", "The weather stays mild this week, with light rain in the north and "
              "sunshine along the coast.", 145)  # fmt: skip
EN_GARDEN = ("en-gb", "My grandmother grows potatoes, carrots and onions in her garden.", 150)
FR_NEWS = ("fr-fr", "Mesdames et messieurs, bonsoir. Le journal de ce soir commence par la météo. "
           "Demain, il fera beau et chaud dans le sud de la France.", 150)  # fmt: skip
FR_HOSPITAL = ("fr-fr", "Bonjour à tous. Mon frère est médecin à l'hôpital. La réunion commence à "
               "dix heures demain. Merci beaucoup et à bientôt.", 150)  # fmt: skip
DE_WEATHER = ("de", "Guten Tag. Heute ist das Wetter sehr schlecht. Es regnet und es ist kalt und "
              "windig. Bleiben Sie zu Hause.", 150)  # fmt: skip
DE_CAR = ("de", "Guten Tag. Mein Auto ist kaputt und ich brauche heute einen Mechaniker.", 145)
DE_FOOTBALL = ("de", "Guten Abend. Unsere Mannschaft hat das Fußballspiel gestern zwei zu eins "
               "gewonnen.", 145)  # fmt: skip


def speech(clip: tuple[str, str, int]) -> Path:
    voice, text, speed = clip
    return synth.speech_wav(text, voice=voice, speed=speed)


def pcm(clip: tuple[str, str, int]) -> np.ndarray:
    return synth.read_wav(speech(clip))


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.int16)


def noise(seconds: float, level: float = 3000.0, seed: int = 0) -> np.ndarray:
    """White noise: no speech in it."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0.0, level, int(seconds * RATE)), -32768, 32767).astype(np.int16)


def padded(samples: np.ndarray, seconds: float) -> np.ndarray:
    """`samples` followed by silence up to `seconds`."""
    assert len(samples) <= seconds * RATE, "the speech is longer than its slot"
    return np.concatenate([samples, silence(seconds - len(samples) / RATE)])


def words_of(transcript: object) -> list:
    return [w for s in transcript.segments for w in s.words]  # type: ignore[attr-defined]


def heard(transcript: object) -> set[str]:
    """Lower-case words of a transcript without punctuation."""
    return {"".join(c for c in w.word.lower() if c.isalnum()) for w in words_of(transcript)}


@pytest.fixture(scope="session")
def whisper_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model cache of this session (the packaged Whisper base is assembled into it once)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def whisper_base(whisper_models: Path) -> FasterWhisperASR:
    """The packaged Whisper base, loaded offline, 2 threads, language detected per call."""
    settings = ASRSettings(model="packaged", device="cpu", cpu_threads=2)
    asr = FasterWhisperASR(settings, offline=True, models_dir=whisper_models)
    asr.warm_up()
    return asr
