"""pocketsphinx on generated speech (espeak-ng, tests/asr_media.py), the Silero VAD that ships in
the faster-whisper wheel, and how faster-whisper finds (or refuses) hub models. The packaged
Whisper itself is tested in tests/test_whisper.py."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pytest

from indexer.errors import MediaError, ModelUnavailable
from indexer.extractors.asr.fasterwhisper import FasterWhisperASR
from indexer.extractors.asr.sphinx import MAX_REGION_S, SAMPLE_RATE, PocketsphinxASR, read_wav16
from indexer.extractors.base import UnsupportedLanguage
from indexer.settings import ASRSettings
from tests import synth
from tests.asr_media import EN_LIBRARY, EN_MUSEUM, EN_WEATHER, noise, pcm, silence, speech, words_of

RATE = SAMPLE_RATE
# distinctive words of each sentence that pocketsphinx hears in espeak-ng's voice
SPHINX_HEARS = {EN_LIBRARY: {"library", "friday"}, EN_MUSEUM: {"museum", "mondays"}}


@pytest.fixture(scope="module")
def sphinx() -> PocketsphinxASR:
    asr = PocketsphinxASR(ASRSettings(backend="pocketsphinx"))
    asr.warm_up()
    return asr


# --- pocketsphinx, real model ----------------------------------------------------------------


def test_pocketsphinx_is_available_offline_for_english_only(sphinx, tmp_path: Path) -> None:
    st = PocketsphinxASR(ASRSettings(), offline=True).availability()
    assert st.ok and st.backend == "pocketsphinx" and "en-us" in st.model
    st = PocketsphinxASR(ASRSettings(language="de")).availability()
    assert not st.ok and "English" in st.reason
    # an upload in another language: that audio only is refused, the backend stays usable
    with pytest.raises(UnsupportedLanguage, match="English"):
        sphinx.transcribe(speech(EN_MUSEUM), language="fr")
    assert sphinx.transcribe(speech(EN_MUSEUM), language="en-US").segments


@pytest.mark.parametrize("clip", list(SPHINX_HEARS), ids=["library", "museum"])
def test_pocketsphinx_hears_keywords(sphinx, clip) -> None:
    tr = sphinx.transcribe(speech(clip))
    assert tr.backend == "pocketsphinx" and tr.language == "en"
    heard = {w.word for w in words_of(tr)}
    assert SPHINX_HEARS[clip] <= heard, heard
    assert all(s.text == " ".join(w.word for w in s.words) for s in tr.segments)


def test_pocketsphinx_word_times_lie_in_the_audio_and_shift_by_offset(sphinx) -> None:
    audio = speech(EN_LIBRARY)
    duration = len(read_wav16(audio)) / SAMPLE_RATE
    plain, shifted = sphinx.transcribe(audio), sphinx.transcribe(audio, offset_s=600.0)
    words = words_of(plain)
    assert len(words) >= 8
    for w in words:
        assert 0.0 <= w.start_s < w.end_s <= duration + 0.01
        assert w.prob is not None and 0.0 <= w.prob <= 1.0
    starts = [w.start_s for w in words]
    assert starts == sorted(starts)
    # the decoder starts every file from the same state, so the words are identical
    assert [w.word for w in words_of(shifted)] == [w.word for w in words]
    for a, b in zip(words, words_of(shifted), strict=True):
        assert b.start_s == pytest.approx(a.start_s + 600.0, abs=0.002)
        assert b.end_s == pytest.approx(a.end_s + 600.0, abs=0.002)
    for s in shifted.segments:
        assert s.start_s == s.words[0].start_s and s.end_s == s.words[-1].end_s


def test_pocketsphinx_hears_little_in_noise_and_nothing_in_silence(sphinx, tmp_path) -> None:
    assert len(words_of(sphinx.transcribe(synth.write_wav(tmp_path / "n.wav", noise(5))))) <= 2
    assert sphinx.transcribe(synth.write_wav(tmp_path / "s.wav", silence(5))).segments == []


def test_pocketsphinx_long_audio_is_split_into_bounded_regions(sphinx, tmp_path) -> None:
    # two minutes of speech whose pauses are short: every region stays decodable and bounded
    utts = [pcm(EN_LIBRARY), pcm(EN_MUSEUM), pcm(EN_WEATHER)]
    talk = np.concatenate(utts * 6)
    regions = sphinx.speech_regions(talk)
    assert len(regions) >= 4
    assert all(0 <= a < b <= len(talk) and b - a <= MAX_REGION_S * SAMPLE_RATE for a, b in regions)
    assert sum(b - a for a, b in regions) > 0.7 * len(talk)
    # a needle after a long silence: found, at its time
    gap = silence(40)
    audio = synth.write_wav(tmp_path / "long.wav", np.concatenate([gap, utts[1], gap]))
    tr = sphinx.transcribe(audio, offset_s=5.0)
    museum = [w for w in words_of(tr) if w.word == "museum"]
    assert museum and 45.0 < museum[0].start_s < 45.0 + len(utts[1]) / SAMPLE_RATE


@pytest.mark.parametrize("vad", ["endpointer", "off"])
def test_pocketsphinx_without_silero(tmp_path: Path, vad: str) -> None:
    asr = PocketsphinxASR(ASRSettings(vad=vad != "off"), vad="endpointer")
    one = pcm(EN_MUSEUM)
    audio = synth.write_wav(tmp_path / "a.wav", np.concatenate([silence(2), one, silence(2), one]))
    tr = asr.transcribe(audio)
    hits = [w for w in words_of(tr) if w.word == "museum"]
    assert len(hits) == 2, tr
    if vad == "endpointer":
        assert len(tr.segments) == 2


@pytest.mark.parametrize("option", [{"hmm": "/nonexistent"}, {"no_such_option": 1}])
def test_pocketsphinx_model_failure_is_model_unavailable(option: dict[str, Any]) -> None:
    with pytest.raises(ModelUnavailable, match="pocketsphinx"):
        PocketsphinxASR(ASRSettings(), options=option).warm_up()


def test_pocketsphinx_refuses_audio_that_is_not_16k_mono(sphinx, tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="16 kHz"):
        sphinx.transcribe(synth.write_wav(tmp_path / "22k.wav", pcm(EN_MUSEUM), rate=22050))
    (tmp_path / "notes.txt").write_text("not audio")
    with pytest.raises(MediaError):
        sphinx.transcribe(tmp_path / "notes.txt")


def test_silero_vad_from_the_faster_whisper_wheel_runs_offline() -> None:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    def speech_s(samples: np.ndarray) -> float:
        chunks = get_speech_timestamps(samples.astype(np.float32) / 32768.0, VadOptions(), RATE)
        return sum(c["end"] - c["start"] for c in chunks) / RATE

    talk = np.concatenate([pcm(EN_LIBRARY), pcm(EN_WEATHER)])
    assert speech_s(talk) > 0.7 * len(talk) / RATE
    assert speech_s(noise(8)) < 0.2


# --- faster-whisper: finding the model -------------------------------------------------------


def test_constructing_backends_imports_no_model_library() -> None:
    code = (
        "import sys\n"
        "from indexer.settings import ASRSettings\n"
        "from indexer.extractors.asr.fasterwhisper import FasterWhisperASR\n"
        "from indexer.extractors.asr.sphinx import PocketsphinxASR\n"
        "FasterWhisperASR(ASRSettings(), offline=True); PocketsphinxASR(ASRSettings())\n"
        "heavy = {'faster_whisper', 'ctranslate2', 'pocketsphinx', 'huggingface_hub'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_whisper_hub_model_missing_offline_is_off_with_reason(empty_hf_cache) -> None:
    st = FasterWhisperASR(ASRSettings(model="small"), offline=True).availability()
    assert not st.ok and st.backend == "faster-whisper"
    assert "Systran/faster-whisper-small" in st.reason and "offline" in st.reason
    with pytest.raises(ModelUnavailable, match="offline"):
        FasterWhisperASR(ASRSettings(model="small"), offline=True).warm_up()


def test_whisper_unreachable_hub_fails_fast(empty_hf_cache, dead_hub) -> None:
    asr = FasterWhisperASR(ASRSettings(model="large-v3-turbo"))
    asr.availability()  # the first call also imports the hub client: time the second
    t0 = time.monotonic()
    st = asr.availability()
    assert time.monotonic() - t0 < 2.0
    assert not st.ok and "unreachable" in st.reason and "Timeout" in st.reason, st
    with pytest.raises(ModelUnavailable, match="unreachable"):
        asr.warm_up()


def _cache_model(cache: Path, repo: str) -> Path:
    snap = cache / ("models--" + repo.replace("/", "--")) / "snapshots" / "0123abc"
    snap.mkdir(parents=True)
    (snap / "model.bin").write_bytes(b"")
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text("0123abc")
    return snap


def test_whisper_model_names(tmp_path: Path, empty_hf_cache) -> None:
    st = FasterWhisperASR(ASRSettings(model="enormous"), offline=True).availability()
    assert not st.ok and "unknown" in st.reason
    st = FasterWhisperASR(ASRSettings(model=str(tmp_path / "nope")), offline=True).availability()
    assert not st.ok and "does not exist" in st.reason
    st = FasterWhisperASR(ASRSettings(model=str(tmp_path)), offline=True).availability()
    assert not st.ok and "model.bin" in st.reason
    (tmp_path / "model.bin").write_bytes(b"")
    st = FasterWhisperASR(ASRSettings(model=str(tmp_path)), offline=True).availability()
    assert st.ok and st.model == str(tmp_path)
    # a model in the Hugging Face cache is found without the hub
    snap = _cache_model(empty_hf_cache, "Systran/faster-whisper-base")
    st = FasterWhisperASR(ASRSettings(model="base"), offline=True).availability()
    assert st.ok and st.model == str(snap), st


def test_auto_prefers_the_hub_model_when_the_cache_has_it(empty_hf_cache, tmp_path) -> None:
    asr = FasterWhisperASR(ASRSettings(), offline=True, models_dir=tmp_path)
    st = asr.availability()
    assert st.ok and st.model == "whisper-base (packaged)" and "small skipped" in st.reason
    snap = _cache_model(empty_hf_cache, "Systran/faster-whisper-small")
    st = FasterWhisperASR(ASRSettings(), offline=True, models_dir=tmp_path).availability()
    assert st.ok and st.model == str(snap) and st.reason == "", st


# --- faster-whisper: the contract, with the library's own result objects --------------------


class FakeWhisperModel:
    """Stands in for faster_whisper.WhisperModel; returns faster-whisper's own result types."""

    made: ClassVar[list[dict[str, Any]]] = []
    supported_languages: ClassVar[list[str]] = ["de", "en", "fr"]

    def __init__(self, model: str, **kwargs: Any) -> None:
        self.made.append({"model": model, **kwargs})
        self.calls: list[dict[str, Any]] = []
        self.model = SimpleNamespace(is_multilingual=True)

    def transcribe(self, audio: np.ndarray, **kwargs: Any):
        from faster_whisper.transcribe import Segment, TranscriptionInfo, Word
        from faster_whisper.vad import VadOptions

        self.calls.append({"samples": len(audio), **kwargs})
        words = [Word(0.52, 0.9, " Guten", 0.91), Word(0.9, 1.4, " Tag!", 0.8)]
        later = [Word(4.0, 4.3, " Wie", 0.7), Word(4.3, 5.25, " geht's?", 0.6)]
        segs = [
            Segment(0, 0, 0.5, 1.4, " Guten Tag!", [1, 2], -0.2, 1.1, 0.01, words, 0.0),
            Segment(1, 0, 3.0, 3.5, " ", [], -1.0, 1.0, 0.9, [], 0.0),  # silence: dropped
            Segment(2, 0, 4.0, 5.25, " Wie geht's?", [3], -0.3, 1.0, 0.02, later, 0.0),
        ]
        info = TranscriptionInfo("de", 0.97, len(audio) / 16000, 4.0, None, None, VadOptions())
        return iter(segs), info


@pytest.fixture
def fake_whisper(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    import faster_whisper

    FakeWhisperModel.made.clear()
    monkeypatch.setattr(faster_whisper, "WhisperModel", FakeWhisperModel)
    (tmp_path / "model.bin").write_bytes(b"")
    return tmp_path


def test_whisper_converts_segments_words_language_and_offset(fake_whisper) -> None:
    settings = ASRSettings(model=str(fake_whisper), device="cpu", beam_size=3, vad=False)
    asr = FasterWhisperASR(settings, offline=True)
    tr = asr.transcribe(speech(EN_MUSEUM), offset_s=120.0)
    made = FakeWhisperModel.made[0]
    assert made["model"] == str(fake_whisper) and made["device"] == "cpu"
    assert made["compute_type"] == "int8" and made["local_files_only"] is True
    call = asr._models[str(fake_whisper)].calls[0]
    assert call["word_timestamps"] is True and call["vad_filter"] is False
    assert call["language"] is None and call["beam_size"] == 3
    assert call["multilingual"] is True  # no language given: detected in every window
    assert call["samples"] == len(pcm(EN_MUSEUM))
    assert tr.backend == "faster-whisper" and tr.model == str(fake_whisper)
    assert tr.language == "de"
    assert [s.text for s in tr.segments] == ["Guten Tag!", "Wie geht's?"]
    first, second = tr.segments
    assert (first.start_s, first.end_s) == (120.5, 121.4)
    assert [(w.word, w.start_s, w.end_s, w.prob) for w in first.words] == [
        ("Guten", 120.52, 120.9, 0.91),
        ("Tag!", 120.9, 121.4, 0.8),
    ]
    assert (second.start_s, second.end_s, second.words[-1].end_s) == (124.0, 125.25, 125.25)


def test_whisper_gpu_settings_threads_and_language(fake_whisper, monkeypatch) -> None:
    settings = ASRSettings(model=str(fake_whisper), device="cuda", language="de")
    asr = FasterWhisperASR(settings)
    asr.transcribe(speech(EN_MUSEUM))
    made = FakeWhisperModel.made[0]
    assert made["compute_type"] == "float16" and made["device"] == "cuda"
    call = asr._models[str(fake_whisper)].calls[0]
    assert call["language"] == "de" and call["vad_filter"] and call["multilingual"] is False
    # the upload's language wins over the setting, reduced to what Whisper knows
    asr.transcribe(speech(EN_MUSEUM), language="fr-CA")
    assert asr._models[str(fake_whisper)].calls[1]["language"] == "fr"
    with pytest.raises(UnsupportedLanguage, match="xx"):
        asr.transcribe(speech(EN_MUSEUM), language="xx")
    # threads: the setting, else OMP_NUM_THREADS (a parallel part's share of the cores)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert FasterWhisperASR(ASRSettings()).cpu_threads() == 1
    assert FasterWhisperASR(ASRSettings(cpu_threads=3)).cpu_threads() == 3


def test_whisper_load_failure_and_bad_audio(fake_whisper, monkeypatch, tmp_path) -> None:
    import faster_whisper

    asr = FasterWhisperASR(ASRSettings(model=str(fake_whisper), device="cpu"))
    (tmp_path / "notes.txt").write_text("not audio")
    with pytest.raises(MediaError):
        asr.transcribe(tmp_path / "notes.txt")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("Unable to open file 'model.bin'")

    monkeypatch.setattr(faster_whisper, "WhisperModel", broken)
    with pytest.raises(ModelUnavailable, match=r"model\.bin"):
        FasterWhisperASR(ASRSettings(model=str(fake_whisper), device="cpu")).warm_up()
