"""ASR backends. pocketsphinx runs for real on real speech (LibriVox, LJ Speech, ALSA samples);
faster-whisper has no weights here, so its contract is tested with the library's own result
objects returned by a stand-in WhisperModel, and its VAD (which ships in the wheel) for real."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from indexer.errors import MediaError, ModelUnavailable
from indexer.extractors.asr.fasterwhisper import FasterWhisperASR
from indexer.extractors.asr.sphinx import MAX_REGION_S, SAMPLE_RATE, PocketsphinxASR, read_wav16
from indexer.settings import ASRSettings

LIBRIVOX = "speech/pocketsphinx_librivox/sense_and_sensibility_01_austen_64kb-{}.wav"
# distinctive words of the human transcripts that the default configuration hears
LIBRIVOX_WORDS = {
    "0870": {"dashwood", "leisure"},
    "0890": {"selfish", "hearted"},
    "0920": {"amiable", "respectable"},
}
LJSPEECH_WORDS = {
    "LJ001-0001": {"exhibition", "concerned"},
    "LJ001-0003": {"chinese", "netherlands", "centuries"},
    "LJ001-0005": {"fifteenth", "invention"},
    "LJ001-0008": {"surpassed"},
}


def to16k(src: Path, dst: Path) -> Path:
    """Resample any audio to the 16 kHz mono WAV the ASR seam takes (ffmpeg, as the pipeline)."""
    assert shutil.which("ffmpeg"), "ffmpeg is required (scripts/install.sh installs it)"
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-ac", "1", "-ar", "16000", str(dst)]
    subprocess.run(cmd, check=True)
    return dst


def write_wav(path: Path, pcm: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.astype(np.int16).tobytes())
    return path


def words_of(transcript: Any) -> list[Any]:
    return [w for s in transcript.segments for w in s.words]


@pytest.fixture(scope="module")
def sphinx() -> PocketsphinxASR:
    asr = PocketsphinxASR(ASRSettings(backend="pocketsphinx"))
    asr.warm_up()
    return asr


# --- pocketsphinx, real model and audio ------------------------------------------------------


def test_pocketsphinx_is_available_offline_for_english_only() -> None:
    st = PocketsphinxASR(ASRSettings(), offline=True).availability()
    assert st.ok and st.backend == "pocketsphinx" and "en-us" in st.model
    st = PocketsphinxASR(ASRSettings(language="de")).availability()
    assert not st.ok and "English" in st.reason


@pytest.mark.parametrize("utt", sorted(LIBRIVOX_WORDS))
def test_pocketsphinx_hears_keywords_in_librivox(sphinx, testdata: Path, utt: str) -> None:
    audio = testdata / LIBRIVOX.format(utt)
    tr = sphinx.transcribe(audio)
    assert tr.backend == "pocketsphinx" and tr.language == "en"
    heard = {w.word for w in words_of(tr)}
    assert LIBRIVOX_WORDS[utt] <= heard, heard
    assert all(s.text == " ".join(w.word for w in s.words) for s in tr.segments)


def test_pocketsphinx_hears_keywords_in_ljspeech(sphinx, testdata: Path, tmp_path: Path) -> None:
    missed = {}
    for utt, keys in LJSPEECH_WORDS.items():
        audio = to16k(testdata / "speech" / "ljspeech_coqui" / f"{utt}.wav", tmp_path / "a.wav")
        heard = {w.word for w in words_of(sphinx.transcribe(audio))}
        if keys - heard:
            missed[utt] = (keys - heard, heard)
    assert not missed, missed


def test_pocketsphinx_word_times_lie_in_the_audio_and_shift_by_offset(sphinx, testdata) -> None:
    audio = testdata / LIBRIVOX.format("0920")
    duration = len(read_wav16(audio)) / SAMPLE_RATE
    plain, shifted = sphinx.transcribe(audio), sphinx.transcribe(audio, offset_s=600.0)
    words = words_of(plain)
    assert len(words) >= 10
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


def test_pocketsphinx_hears_little_in_noise_and_nothing_in_silence(sphinx, testdata, tmp_path):
    noise = to16k(testdata / "speech" / "alsa" / "Noise.wav", tmp_path / "noise.wav")
    assert len(words_of(sphinx.transcribe(noise))) <= 2
    silence = write_wav(tmp_path / "silence.wav", np.zeros(5 * SAMPLE_RATE))
    assert sphinx.transcribe(silence).segments == []


def test_pocketsphinx_long_audio_is_split_into_bounded_regions(sphinx, testdata, tmp_path):
    # two minutes of speech whose pauses are short: every region stays decodable and bounded
    utts = [read_wav16(testdata / LIBRIVOX.format(u)) for u in ("0870", "0890", "0920", "0930")]
    pcm = np.concatenate(utts * 5)
    regions = sphinx.speech_regions(pcm)
    assert len(regions) >= 4
    assert all(0 <= a < b <= len(pcm) and b - a <= MAX_REGION_S * SAMPLE_RATE for a, b in regions)
    assert sum(b - a for a, b in regions) > 0.8 * len(pcm)
    # a needle after a long silence: found, at its time
    gap = np.zeros(40 * SAMPLE_RATE, dtype=np.int16)
    audio = write_wav(tmp_path / "long.wav", np.concatenate([gap, utts[1], gap]))
    tr = sphinx.transcribe(audio, offset_s=5.0)
    selfish = [w for w in words_of(tr) if w.word == "selfish"]
    assert selfish and 45.0 < selfish[0].start_s < 45.0 + len(utts[1]) / SAMPLE_RATE


@pytest.mark.parametrize("vad", ["endpointer", "off"])
def test_pocketsphinx_without_silero(testdata: Path, tmp_path: Path, vad: str) -> None:
    settings = ASRSettings(vad=vad != "off")
    asr = PocketsphinxASR(settings, vad="endpointer")
    pcm = read_wav16(testdata / LIBRIVOX.format("0890"))
    gap = np.zeros(2 * SAMPLE_RATE, dtype=np.int16)
    audio = write_wav(tmp_path / "a.wav", np.concatenate([gap, pcm, gap, pcm]))
    tr = asr.transcribe(audio)
    hits = [w for w in words_of(tr) if w.word == "selfish"]
    assert len(hits) == 2, tr
    if vad == "endpointer":
        assert len(tr.segments) == 2


@pytest.mark.parametrize("option", [{"hmm": "/nonexistent"}, {"no_such_option": 1}])
def test_pocketsphinx_model_failure_is_model_unavailable(option: dict[str, Any]) -> None:
    with pytest.raises(ModelUnavailable, match="pocketsphinx"):
        PocketsphinxASR(ASRSettings(), options=option).warm_up()


def test_pocketsphinx_refuses_audio_that_is_not_16k_mono(sphinx, testdata: Path) -> None:
    with pytest.raises(MediaError, match="16 kHz"):
        sphinx.transcribe(testdata / "speech" / "ljspeech_coqui" / "LJ001-0008.wav")
    with pytest.raises(MediaError):
        sphinx.transcribe(testdata / "speech" / "ljspeech_coqui" / "metadata.csv")


def test_silero_vad_from_the_faster_whisper_wheel_runs_offline(testdata: Path, tmp_path) -> None:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    def speech_s(pcm: np.ndarray) -> float:
        chunks = get_speech_timestamps(pcm.astype(np.float32) / 32768.0, VadOptions(), 16000)
        return sum(c["end"] - c["start"] for c in chunks) / 16000

    talk = read_wav16(testdata / "speech" / "pyaudioanalysis_diarizationExample.wav")
    assert speech_s(talk) > 0.7 * len(talk) / 16000
    noise = read_wav16(to16k(testdata / "speech" / "alsa" / "Noise.wav", tmp_path / "n.wav"))
    assert speech_s(noise) < 0.2


# --- faster-whisper: contract with the library's own objects ---------------------------------


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


def test_whisper_missing_offline_is_off_with_reason(empty_hf_cache) -> None:
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
    snap = empty_hf_cache / "models--Systran--faster-whisper-base" / "snapshots" / "0123abc"
    snap.mkdir(parents=True)
    (snap / "model.bin").write_bytes(b"")
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text("0123abc")
    st = FasterWhisperASR(ASRSettings(model="base"), offline=True).availability()
    assert st.ok and st.model == str(snap), st


class FakeWhisperModel:
    """Stands in for faster_whisper.WhisperModel; returns faster-whisper's own result types."""

    made: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, model: str, **kwargs: Any) -> None:
        self.made.append({"model": model, **kwargs})
        self.calls: list[dict[str, Any]] = []

    def transcribe(self, audio: np.ndarray, **kwargs: Any):
        from faster_whisper.transcribe import Segment, TranscriptionInfo, Word
        from faster_whisper.vad import VadOptions

        self.calls.append({"samples": len(audio), **kwargs})
        words = [Word(0.52, 0.9, " Guten", 0.91), Word(0.9, 1.4, " Tag!", 0.8)]
        segs = [
            Segment(0, 0, 0.5, 1.4, " Guten Tag!", [1, 2], -0.2, 1.1, 0.01, words, 0.0),
            Segment(1, 0, 3.0, 3.5, " ", [], -1.0, 1.0, 0.9, [], 0.0),  # silence: dropped
            Segment(
                2,
                0,
                4.0,
                5.25,
                " Wie geht's?",
                [3],
                -0.3,
                1.0,
                0.02,
                [Word(4.0, 4.3, " Wie", 0.7), Word(4.3, 5.25, " geht's?", 0.6)],
                0.0,
            ),
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


def test_whisper_converts_segments_words_language_and_offset(fake_whisper, testdata) -> None:
    settings = ASRSettings(model=str(fake_whisper), device="cpu", beam_size=3, vad=False)
    asr = FasterWhisperASR(settings, offline=True)
    tr = asr.transcribe(testdata / LIBRIVOX.format("0880"), offset_s=120.0)
    made = FakeWhisperModel.made[0]
    assert made["model"] == str(fake_whisper) and made["device"] == "cpu"
    assert made["compute_type"] == "int8" and made["local_files_only"] is True
    call = asr._model.calls[0]
    assert call["word_timestamps"] is True and call["vad_filter"] is False
    assert call["language"] is None and call["beam_size"] == 3
    assert call["samples"] == len(read_wav16(testdata / LIBRIVOX.format("0880")))
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


def test_whisper_gpu_settings_and_fixed_language(fake_whisper, testdata) -> None:
    settings = ASRSettings(model=str(fake_whisper), device="cuda", language="de")
    asr = FasterWhisperASR(settings)
    asr.transcribe(testdata / LIBRIVOX.format("0880"))
    assert FakeWhisperModel.made[0]["compute_type"] == "float16"
    assert FakeWhisperModel.made[0]["device"] == "cuda"
    assert asr._model.calls[0]["language"] == "de" and asr._model.calls[0]["vad_filter"]


def test_whisper_load_failure_and_bad_audio(fake_whisper, monkeypatch, testdata) -> None:
    import faster_whisper

    asr = FasterWhisperASR(ASRSettings(model=str(fake_whisper), device="cpu"))
    with pytest.raises(MediaError):
        asr.transcribe(testdata / "speech" / "ljspeech_coqui" / "metadata.csv")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("Unable to open file 'model.bin'")

    monkeypatch.setattr(faster_whisper, "WhisperModel", broken)
    with pytest.raises(ModelUnavailable, match=r"model\.bin"):
        FasterWhisperASR(ASRSettings(model=str(fake_whisper), device="cpu")).warm_up()
