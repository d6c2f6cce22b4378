"""The per-video index on disk: written once per (re-)index, read by the library Searcher.

Layout of a video's `index/` (written by `write_video_index`, read by `VideoIndex.load`):
    meta.json             written last, in one rename: its presence means a complete index;
                          `version` names the folder below that holds this index
    <version>/text.npy    float32, L2-normalised text vectors, each naming its clip (optional)
    <version>/frames.npy  float32, one vector per sampled frame (optional)
    <version>/index.npz   clip table (clip_index, start_s, end_s), frame_clip / text_clip (the
                          clip index of each vector), BM25 postings of each clip's evidence (kw_*)
    <version>/clips.bin   the ClipDocs as JSON lines in zlib blocks of CLIP_BLOCK
Vectors are stored raw, not as FAISS files, so a library-wide index can memory-map and copy
them; a video's own FAISS index is built from them on first use (`VideoIndex.text`).
A re-index writes a new version folder and then swaps meta.json, so a reader sees the old index
or the new one, never a mix; the version before the current one is kept for readers in flight.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import uuid
import zlib
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from indexer.errors import VideoNotReady
from indexer.search.keyword import KeywordIndex
from indexer.search.labels import labels_in
from indexer.search.language import UND, detect_language
from indexer.search.tokens import Analysis, analyze
from indexer.search.vectors import VectorIndex, as_vectors
from indexer.settings import IndexSettings
from indexer.store import ArtifactStore, atomic_path, write_text_atomic
from indexer.types import ClipDoc

FORMAT = 1
CLIP_BLOCK = 16  # ClipDocs per compressed block of clips.bin: one block inflates in ~50 µs


def _pack_clips(clips: Sequence[ClipDoc]) -> tuple[bytes, np.ndarray]:
    blocks = [
        zlib.compress(b"\n".join(c.model_dump_json().encode() for c in clips[i : i + CLIP_BLOCK]))
        for i in range(0, len(clips), CLIP_BLOCK)
    ]
    offsets = np.zeros(len(blocks) + 1, np.int64)
    np.cumsum([len(b) for b in blocks], out=offsets[1:])
    return b"".join(blocks), offsets


def unpack_clip(data: bytes | memoryview, offsets: np.ndarray, pos: int, base: int = 0) -> ClipDoc:
    """The ClipDoc at position `pos` from clips.bin bytes (`data` starting at byte `base`)."""
    b = pos // CLIP_BLOCK
    a, z = int(offsets[b]) - base, int(offsets[b + 1]) - base
    return ClipDoc.model_validate_json(zlib.decompress(data[a:z]).split(b"\n")[pos % CLIP_BLOCK])


def _keyword_doc(doc: ClipDoc, language: str | None) -> list[Analysis]:
    """A clip's evidence analysed one item at a time, each in its own language (a French talk
    under an English sign); detector labels are English words. `language`: what the ASR said
    the speech is, used where the text alone does not tell."""
    out = []
    for e in doc.evidence:
        if not e.text:
            continue
        lang = "en" if e.modality == "objects" else detect_language(e.text)
        if lang == UND and e.modality == "speech" and language:
            lang = language
        out.append(analyze(e.text, lang))
    return out


def write_video_index(
    store: ArtifactStore,
    clips: list[ClipDoc],
    text_vecs: np.ndarray | None,
    frame_vecs: np.ndarray | None,
    frame_clip: np.ndarray | None,
    settings: IndexSettings,
    meta: dict[str, Any],
    *,
    text_clip: np.ndarray | None = None,
) -> None:
    """Write (or atomically replace) the video's index. `text_vecs`: one row per clip, in order,
    or, with `text_clip`, any number of rows each naming its clip (a clip's speech, on-screen text
    and objects embedded apart, so a long transcript does not drown a short label);
    `frame_vecs` with `frame_clip`: one row per frame and the clip index it belongs to. `meta`
    (e.g. text_model, frames_model, which the Searcher compares with its own) goes into
    meta.json beside the counts. Raises ValueError when the shapes disagree."""
    index_of = np.array([c.clip.index for c in clips], dtype=np.int64)
    if len(np.unique(index_of)) != len(clips):
        raise ValueError("clip indexes are not unique")
    tv = None if text_vecs is None else as_vectors(text_vecs)
    fv = None if frame_vecs is None else as_vectors(frame_vecs)
    tc = index_of if text_clip is None else np.asarray(text_clip, np.int64)
    if tv is not None and (len(tv) != len(tc) or not np.isin(tc, index_of).all()):
        raise ValueError(f"{len(tv)} text vectors for {len(tc)} clip references")
    if (fv is None) != (frame_clip is None):
        raise ValueError("frame_vecs and frame_clip go together")
    fc = None if frame_clip is None else np.asarray(frame_clip, np.int64)
    if (
        fv is not None
        and fc is not None
        and (len(fv) != len(fc) or not np.isin(fc, index_of).all())
    ):
        raise ValueError("frame_clip must name one known clip per frame vector")
    root = store.path("index")
    version = f"v{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    vdir = root / version
    vdir.mkdir(parents=True)
    info: dict[str, Any] = {"text": None, "frames": None}
    for name, vecs in (("text", tv), ("frames", fv)):
        if vecs is not None:
            with atomic_path(vdir / f"{name}.npy") as tmp, tmp.open("wb") as f:
                np.save(f, vecs, allow_pickle=False)
            info[name] = {"dim": int(vecs.shape[1]), "count": len(vecs)}
    analysed = [_keyword_doc(c, meta.get("language")) for c in clips]
    kw = KeywordIndex.build_analyzed(analysed, index_of)
    languages = sorted({a.language for doc in analysed for a in doc} - {UND})
    labels = sorted(
        {x for c in clips for e in c.evidence if e.modality == "objects" for x in labels_in(e.text)}
    )
    blob, offsets = _pack_clips(clips)
    with atomic_path(vdir / "clips.bin") as tmp:
        tmp.write_bytes(blob)
    table: dict[str, Any] = {
        "clip_index": index_of,
        "start_s": np.array([c.clip.start_s for c in clips], np.float64),
        "end_s": np.array([c.clip.end_s for c in clips], np.float64),
        "block_offsets": offsets,
        "frame_clip": fc if fc is not None else np.zeros(0, np.int64),
        "text_clip": tc if tv is not None else np.zeros(0, np.int64),
    }
    with atomic_path(vdir / "index.npz") as tmp, tmp.open("wb") as f:
        np.savez(f, **table, **kw.arrays("kw_"))
    try:
        previous = _read_meta(root).get("version")
    except ValueError:  # a damaged meta.json: this write replaces it
        previous = None
    record = {
        **meta,
        "format": FORMAT,
        "version": version,
        "clips": len(clips),
        "keyword": {"docs": kw.n_docs, "terms": len(kw.terms)},
        "languages": languages,
        "object_labels": labels,
        **info,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_text_atomic(root / "meta.json", json.dumps(record, ensure_ascii=False, indent=1))
    touch_library(store.root.parent)
    for old in root.iterdir():  # keep the previous version for readers that already chose it
        if old.is_dir() and old.name not in (version, previous):
            shutil.rmtree(old, ignore_errors=True)


def touch_library(videos_dir: Path) -> None:
    """Tell Searchers that an index changed: they re-list the library when its folder's mtime
    moves (adding or deleting a video folder moves it too)."""
    with contextlib.suppress(FileNotFoundError):
        os.utime(videos_dir)


def _read_meta(root: Path) -> dict[str, Any]:
    try:
        meta: dict[str, Any] = json.loads((root / "meta.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return meta


def text_clip_of(z: Any) -> np.ndarray:
    """The clip index of each text vector; indexes written before `text_clip` existed hold one
    vector per clip, in clip order."""
    tc = z["text_clip"] if "text_clip" in z.files else np.zeros(0, np.int64)
    return tc if len(tc) else z["clip_index"]


class VideoIndex:
    """A video's loaded index: `meta`, the clip table (`clip_index`, `start_s`, `end_s`),
    `keyword` (ids = clip indexes), raw `text_vectors` / `frame_vectors` + `frame_clip` (None
    when absent), FAISS indexes over them built on first use (`text`, `frames`), `clips` and
    `read_clip(pos)`. `load` raises VideoNotReady when the video has no complete index."""

    def __init__(self, root: Path, meta: dict[str, Any], z: Any, settings: IndexSettings) -> None:
        self.root, self.meta, self.settings = root, meta, settings
        self.clip_index, self.start_s, self.end_s = z["clip_index"], z["start_s"], z["end_s"]
        self.block_offsets = z["block_offsets"]
        self.keyword = KeywordIndex.from_arrays(z, "kw_")
        self.frame_clip: np.ndarray | None = z["frame_clip"] if meta.get("frames") else None
        self.text_clip: np.ndarray = text_clip_of(z)
        self.text_vectors = self._vectors("text")
        self.frame_vectors = self._vectors("frames")

    def _vectors(self, name: str) -> np.ndarray | None:
        if not self.meta.get(name):
            return None
        # memory-mapped: whoever copies them (the library index) pays the read, no one else
        return np.load(self.root / f"{name}.npy", mmap_mode="r", allow_pickle=False)

    @classmethod
    def load(cls, store: ArtifactStore, settings: IndexSettings | None = None) -> VideoIndex:
        root = store.path("index")
        for attempt in range(3):
            meta = _read_meta(root)
            if not meta:
                raise VideoNotReady(f"video {store.root.name} has no index yet")
            vdir = root / str(meta["version"])
            try:
                with np.load(vdir / "index.npz", allow_pickle=False) as z:
                    return cls(vdir, meta, z, settings or IndexSettings())
            except FileNotFoundError:
                # two re-indexes since we read meta.json removed its version: read it again
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def __len__(self) -> int:
        return len(self.clip_index)

    @cached_property
    def text(self) -> VectorIndex | None:
        if self.text_vectors is None:
            return None
        return VectorIndex.build(self.text_vectors, self.text_clip, self.settings)

    @cached_property
    def frames(self) -> VectorIndex | None:
        if self.frame_vectors is None or self.frame_clip is None:
            return None
        return VectorIndex.build(self.frame_vectors, self.frame_clip, self.settings)

    def clip_blob(self) -> bytes:
        """clips.bin as bytes, for `unpack_clip` (the Searcher keeps these in memory)."""
        return (self.root / "clips.bin").read_bytes()

    def read_clip(self, pos: int) -> ClipDoc:
        """The ClipDoc at position `pos` (not clip index), reading only its block."""
        b = pos // CLIP_BLOCK
        a, z = int(self.block_offsets[b]), int(self.block_offsets[b + 1])
        with (self.root / "clips.bin").open("rb") as f:
            f.seek(a)
            return unpack_clip(f.read(z - a), self.block_offsets, pos, base=a)

    @cached_property
    def clips(self) -> list[ClipDoc]:
        blob = self.clip_blob()
        return [unpack_clip(blob, self.block_offsets, i) for i in range(len(self))]
