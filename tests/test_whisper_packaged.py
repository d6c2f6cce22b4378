"""The Whisper models that PyPI packages carry: assembling base into the model cache (checksum,
concurrency, idempotence), `auto` choosing it when no hub model can be had, and what it hears
in generated speech: languages detected per call, a fixed language honoured, word times inside
the audio, silence skipped."""

from __future__ import annotations

import hashlib
import importlib
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pytest

from indexer.errors import ModelUnavailable
from indexer.extractors import Extractors
from indexer.extractors.asr import packaged
from indexer.extractors.asr.fasterwhisper import FasterWhisperASR
from indexer.extractors.asr.packaged import WHISPER_BASE, SplitModel, assemble
from indexer.settings import ASRSettings, Settings
from tests import synth
from tests.asr_media import (
    DE_WEATHER,
    EN_GARDEN,
    EN_LIBRARY,
    EN_WEATHER,
    FR_HOSPITAL,
    FR_NEWS,
    heard,
    noise,
    pcm,
    silence,
    speech,
    whisper_base,
    whisper_models,
    words_of,
)

__all__ = ["whisper_base", "whisper_models"]  # session fixtures shared with other modules


# --- assembly, with small packages made here -------------------------------------------------


def fake_packages(root: Path, monkeypatch: pytest.MonkeyPatch) -> SplitModel:
    """Two importable packages holding the halves of a 3 MB model.bin, like the real pair."""
    data = np.random.default_rng(7).integers(0, 256, 3_000_000, dtype=np.uint8).tobytes()
    halves = (data[:1_400_000], data[1_400_000:])
    for i, half in enumerate(halves, 1):
        pkg = root / f"fake_whisper_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"model.bin.part{i}").write_bytes(half)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (root / "fake_whisper_part1" / "data" / name).write_text("{}")
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    return SplitModel(
        label="fake (packaged)",
        directory="fake-ct2",
        packages=("fake_whisper_part1", "fake_whisper_part2"),
        parts=("model.bin.part1", "model.bin.part2"),
        extras=("config.json", "tokenizer.json", "vocabulary.txt"),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def leftovers(models: Path) -> list[str]:
    return sorted(p.name for p in models.iterdir() if p.name.startswith("."))


def test_assembly_is_verified_and_idempotent(tmp_path, monkeypatch) -> None:
    model = fake_packages(tmp_path / "site", monkeypatch)
    models = tmp_path / "models"
    assert packaged.assembled(models, model) is None
    path = assemble(models, model)
    assert path == models / "fake-ct2"
    assert hashlib.sha256((path / "model.bin").read_bytes()).hexdigest() == model.sha256
    assert {p.name for p in path.iterdir()} >= {"model.bin", "config.json", "vocabulary.txt"}
    before = (path / "model.bin").stat()
    assert assemble(models, model) == path  # a second call finds it and writes nothing
    after = (path / "model.bin").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert leftovers(models) == []


def test_a_checksum_mismatch_is_refused_and_leaves_nothing(tmp_path, monkeypatch) -> None:
    model = fake_packages(tmp_path / "site", monkeypatch)
    wrong = SplitModel(**{**model.__dict__, "sha256": "0" * 64})
    models = tmp_path / "models"
    with pytest.raises(ModelUnavailable, match=r"expected model\.bin"):
        assemble(models, wrong)
    assert list(models.iterdir()) == []
    # a model directory that was tampered with is refused, not loaded and not replaced
    path = assemble(models, model)
    with open(path / "model.bin", "r+b") as f:
        f.truncate(1000)
    with pytest.raises(ModelUnavailable, match="delete it"):
        assemble(models, model)


def _assemble_in_child(site: str, models: str, model: SplitModel) -> str:
    import sys

    sys.path.insert(0, site)
    return str(assemble(Path(models), model))


def test_concurrent_assembly_is_safe(tmp_path, monkeypatch) -> None:
    model = fake_packages(tmp_path / "site", monkeypatch)
    models = tmp_path / "models"
    with ThreadPoolExecutor(6) as pool:  # threads of one worker
        paths = set(pool.map(lambda _: assemble(models, model), range(6)))
    assert paths == {models / "fake-ct2"}
    models2 = tmp_path / "models2"
    args = (str(tmp_path / "site"), str(models2), model)
    with ProcessPoolExecutor(3, mp_context=get_context("spawn")) as pool:  # worker processes
        paths2 = set(pool.map(_assemble_in_child, *zip(*[args] * 3, strict=True)))
    assert paths2 == {str(models2 / "fake-ct2")}
    for where in (models, models2):
        data = (where / "fake-ct2" / "model.bin").read_bytes()
        assert hashlib.sha256(data).hexdigest() == model.sha256
        assert leftovers(where) == []


# --- the real packages -----------------------------------------------------------------------


def test_the_packaged_base_assembles_to_the_published_checksum(whisper_base, whisper_models):
    path = packaged.assembled(whisper_models)
    assert path is not None and path == whisper_models / WHISPER_BASE.directory
    digest = hashlib.sha256()
    with open(path / "model.bin", "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    assert digest.hexdigest() == WHISPER_BASE.sha256
    assert (path / "model.bin").stat().st_size == WHISPER_BASE.size


def test_auto_picks_the_packaged_whisper_when_the_hub_is_unreachable(
    empty_hf_cache, dead_hub, tmp_path
) -> None:
    settings = Settings(data_dir=tmp_path)  # not offline: the hub is tried and does not answer
    st = Extractors(settings).status("asr")
    assert st.ok and st.backend == "faster-whisper" and st.model == "whisper-base (packaged)"
    assert "small skipped" in st.reason and "unreachable" in st.reason, st
    asr = FasterWhisperASR(ASRSettings(packaged="tiny.en"), models_dir=tmp_path)
    assert asr.availability().model == "whisper-tiny.en (packaged)"


def test_pocketsphinx_is_the_last_fallback(empty_hf_cache, tmp_path, monkeypatch) -> None:
    def not_installed(module: str) -> Path:
        raise ModelUnavailable(f"{module} is not installed")

    monkeypatch.setattr(packaged, "_package_dir", not_installed)
    # an empty model cache: the run's shared cache already holds an assembled Whisper
    settings = Settings(data_dir=tmp_path, models_dir=tmp_path / "models", hf_offline=True)
    st = Extractors(settings).status("asr")
    assert st.ok and st.backend == "pocketsphinx"
    assert "faster-whisper skipped" in st.reason and "packaged Whisper" in st.reason, st


# --- what it hears ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clip", "language"), [(EN_GARDEN, "en"), (FR_NEWS, "fr"), (DE_WEATHER, "de")]
)
def test_the_language_is_detected(whisper_base, clip, language) -> None:
    tr = whisper_base.transcribe(speech(clip))
    assert tr.model == "whisper-base (packaged)" and tr.language == language, tr


def test_a_fixed_language_is_honoured(whisper_base) -> None:
    # greedy only: the retries at higher temperatures sample, and this compares two transcripts
    greedy = FasterWhisperASR(
        whisper_base.settings.model_copy(update={"temperatures": [0.0]}),
        offline=True,
        models_dir=whisper_base.models_dir,
    )
    detected = greedy.transcribe(speech(FR_NEWS))
    fixed = greedy.transcribe(speech(FR_NEWS), language="en")  # as the uploader said
    assert detected.language == "fr" and fixed.language == "en"
    # Whisper told the speech is English writes English words, not the French ones (words that
    # are French only: "France" is spelt the same in English, and Whisper may well write it)
    french = {"demain", "chaud", "commence", "météo", "bonsoir", "soir", "messieurs", "mesdames"}
    assert french & heard(detected) and not french & heard(fixed)
    configured = FasterWhisperASR(
        whisper_base.settings.model_copy(update={"language": "fr"}),
        offline=True,
        models_dir=whisper_base.models_dir,
    )
    assert configured.transcribe(speech(EN_GARDEN)).language == "fr"


def test_word_times_lie_inside_the_audio(whisper_base, tmp_path) -> None:
    talk = pcm(EN_LIBRARY)
    audio = synth.write_wav(tmp_path / "a.wav", np.concatenate([silence(3), talk, silence(2)]))
    tr = whisper_base.transcribe(audio, offset_s=100.0)
    words = words_of(tr)
    assert {"library", "friday", "tournament"} <= heard(tr), tr
    end = 100.0 + 3.0 + len(talk) / synth.RATE
    for w in words:
        assert 102.5 <= w.start_s <= w.end_s <= end + 0.3, w
    assert [w.start_s for w in words] == sorted(w.start_s for w in words)
    for seg in tr.segments:
        assert seg.start_s <= seg.words[0].start_s and seg.words[-1].end_s <= seg.end_s + 0.01


def test_silence_and_noise_are_skipped(whisper_base, tmp_path) -> None:
    quiet = whisper_base.transcribe(synth.write_wav(tmp_path / "s.wav", silence(20)))
    assert quiet.segments == [] and quiet.language is None
    hiss = whisper_base.transcribe(synth.write_wav(tmp_path / "n.wav", noise(20)))
    assert len(words_of(hiss)) <= 2
    # speech between a minute of silence: the VAD cuts it out and the times stay right
    talk = pcm(EN_GARDEN)
    audio = np.concatenate([silence(60), talk, silence(30)])
    tr = whisper_base.transcribe(synth.write_wav(tmp_path / "long.wav", audio))
    assert {"potatoes", "garden"} <= heard(tr), tr
    assert all(59.5 <= w.start_s <= 60.5 + len(talk) / synth.RATE for w in words_of(tr))


def test_tiny_en_serves_english_and_base_the_other_languages(whisper_models) -> None:
    settings = ASRSettings(model="packaged", packaged="tiny.en", device="cpu", cpu_threads=2)
    asr = FasterWhisperASR(settings, offline=True, models_dir=whisper_models)
    english = asr.transcribe(speech(EN_GARDEN))
    assert english.model == "whisper-tiny.en (packaged)" and english.language == "en"
    assert {"potatoes", "garden"} <= heard(english)
    german = asr.transcribe(speech(DE_WEATHER), language="de")
    assert german.model == "whisper-base (packaged)" and german.language == "de"


def test_models_dir_defaults_to_the_data_directory(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("VIDRAG_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("VIDRAG_MODELS_DIR", raising=False)
    assert FasterWhisperASR(ASRSettings())._cache() == tmp_path / "models"
    monkeypatch.setenv("VIDRAG_MODELS_DIR", str(tmp_path / "elsewhere"))
    assert FasterWhisperASR(ASRSettings())._cache() == tmp_path / "elsewhere"


def test_a_sentence_in_another_language_inside_a_window_is_heard_in_its_language(
    whisper_base, tmp_path
) -> None:
    """A French sentence between English ones: the window is detected as English and Whisper
    drops or garbles the French; heard again alone (indexer/extractors/asr/dropped.py), it is
    written in French, in place. Without that second hearing fewer French words survive."""
    audio = np.concatenate(
        [pcm(EN_WEATHER), silence(0.8), pcm(FR_HOSPITAL), silence(0.8), pcm(EN_LIBRARY)]
    )
    wav = synth.write_wav(tmp_path / "mixed.wav", audio)
    french = {"bonjour", "frère", "médecin", "réunion", "merci", "beaucoup", "bientôt"}
    tr = whisper_base.transcribe(wav, offset_s=50.0)
    assert tr.language == "en" and {"weather", "library"} <= heard(tr), tr
    assert len(french & heard(tr)) >= 3, tr
    assert [s.start_s for s in tr.segments] == sorted(s.start_s for s in tr.segments)
    fr_words = [w for w in words_of(tr) if w.word.lower().strip(",.") in french]
    start = 50.0 + (len(pcm(EN_WEATHER)) / synth.RATE) + 0.3
    assert all(start <= w.start_s <= start + len(pcm(FR_HOSPITAL)) / synth.RATE for w in fr_words)
    once = FasterWhisperASR(
        whisper_base.settings.model_copy(update={"hear_dropped": False}),
        offline=True,
        models_dir=whisper_base.models_dir,
    )
    assert len(french & heard(once.transcribe(wav))) < len(french & heard(tr))
