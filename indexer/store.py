"""Per-video artifacts on disk, written atomically so a killed run resumes instead of repeating.

Layout of `<data_dir>/videos/<video_id>/`:
    video.json          manifest: id, source name, sha256, media info, capabilities, stage times
    source.<ext>        the original file
    stages/<name>.json  one marker per finished stage (written last, after its outputs)
    parts/<k>/...       outputs of a part (a time range) of a long video, indexed in parallel
    frames/*.jpg        sampled frames;  audio.wav: 16 kHz mono
    clips.jsonl         one ClipDoc per clip;  index/  FAISS + keyword indexes
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


@contextlib.contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """Yield a temp path beside `dest`; on success it replaces `dest` in one rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text_atomic(dest: Path, text: str) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding="utf-8")


class ArtifactStore:
    """A directory of artifacts with atomic writes and stage markers."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, name: str) -> Path:
        return self.root / name

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    # --- typed records ---------------------------------------------------------------------------
    def write_json(self, name: str, obj: BaseModel | dict[str, Any] | list[Any]) -> None:
        data = obj.model_dump(mode="json") if isinstance(obj, BaseModel) else obj
        write_text_atomic(self.path(name), json.dumps(data, ensure_ascii=False, indent=1))

    def read_json(self, name: str) -> Any:
        return json.loads(self.path(name).read_text(encoding="utf-8"))

    def read_model(self, name: str, cls: type[M]) -> M:
        return cls.model_validate(self.read_json(name))

    def write_jsonl(self, name: str, rows: Iterable[BaseModel]) -> None:
        body = "".join(r.model_dump_json() + "\n" for r in rows)
        write_text_atomic(self.path(name), body)

    def read_jsonl(self, name: str, cls: type[M]) -> list[M]:
        p = self.path(name)
        if not p.exists():
            return []
        with p.open(encoding="utf-8") as f:
            return [cls.model_validate_json(line) for line in f if line.strip()]

    def write_npy(self, name: str, arr: np.ndarray) -> None:
        with atomic_path(self.path(name)) as tmp, tmp.open("wb") as f:
            np.save(f, arr, allow_pickle=False)

    def read_npy(self, name: str) -> np.ndarray:
        return np.load(self.path(name), allow_pickle=False)

    # --- stages ----------------------------------------------------------------------------------
    def stage_done(self, stage: str) -> bool:
        return self.path(f"stages/{stage}.json").exists()

    def stage_info(self, stage: str) -> dict[str, Any] | None:
        p = self.path(f"stages/{stage}.json")
        return json.loads(p.read_text()) if p.exists() else None

    def mark_done(self, stage: str, info: dict[str, Any]) -> None:
        """Written after the stage's outputs: its presence means they are complete."""
        self.write_json(f"stages/{stage}.json", info)

    def clear_stage(self, stage: str) -> None:
        self.path(f"stages/{stage}.json").unlink(missing_ok=True)

    def part(self, k: int) -> ArtifactStore:
        return ArtifactStore(self.root / "parts" / f"{k:04d}")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def content_key(sha256: str, tenant: str | None = None) -> str:
    """The file's hash as seen by one tenant: itself for the default tenant (the ids of videos
    made before tenants stay what they were), else a hash of tenant and content, so the same
    bytes are one video per tenant and a tenant cannot learn another's by uploading them."""
    if tenant is None or tenant == "default":
        return sha256
    return hashlib.sha256(f"{tenant}\0{sha256}".encode()).hexdigest()


def video_id_for(sha256: str, tenant: str | None = None) -> str:
    """Content-addressed ids: the same bytes always get the same id in a tenant (dedupe)."""
    return content_key(sha256, tenant)[:16]


class Library:
    """All videos under `<data_dir>/videos`."""

    def __init__(self, videos_dir: Path) -> None:
        self.root = Path(videos_dir)

    def store(self, video_id: str) -> ArtifactStore:
        if not video_id or not all(c in "0123456789abcdefghijklmnopqrstuvwxyz_-" for c in video_id):
            raise ValueError(f"bad video id {video_id!r}")  # ids never name paths outside root
        return ArtifactStore(self.root / video_id)

    def ids(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "video.json").exists())

    def delete(self, video_id: str) -> bool:
        root = self.store(video_id).root
        if not root.exists():
            return False
        # rename first so a half-deleted directory is never mistaken for a video
        trash = root.with_name(f".deleting-{video_id}")
        os.replace(root, trash)
        shutil.rmtree(trash, ignore_errors=True)
        return True
