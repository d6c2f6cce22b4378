"""The ingest pipeline: accept a file, index it part by part, merge the parts into a searchable
index. Every step writes its outputs atomically and then a stage marker, so a run that was
killed resumes from the finished steps instead of repeating them.

    accept  probe + hash + place the file, write video.json             (once per video)
    plan    cut the timeline into parts for parallel indexing             (once per video)
    part k  decode → speech, on-screen text, objects, frame vectors       (per part, in parallel)
    finish  scene-snapped clips → clip evidence → text vectors → indexes   (once per video)

Celery tasks (workers/) and the CLI both drive these methods; neither lives here."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

from indexer import media, segment
from indexer.clip_texts import clip_texts
from indexer.errors import ModelUnavailable
from indexer.extractors import Extractors
from indexer.extractors.base import UnsupportedLanguage
from indexer.extractors.detect.describe import describe_objects, detect_over_time
from indexer.extractors.ocr.spans import merge_spans, read_text_over_time
from indexer.index import write_video_index
from indexer.settings import Settings
from indexer.store import ArtifactStore, Library, atomic_path, sha256_file, video_id_for
from indexer.types import (
    Clip,
    ClipDoc,
    Evidence,
    Frame,
    FrameDetections,
    MediaInfo,
    OcrSpan,
    Transcript,
)

Progress = Callable[[str, float], None]
FrameList = list[tuple[float, np.ndarray]]

# stage names, in the order a part runs them; the kind of extractor each one needs
PART_STAGES = ("decode", "speech", "ocr", "objects", "frames")
STAGE_KIND = {"speech": "asr", "ocr": "ocr", "objects": "detect", "frames": "frames"}
FINISH_STAGES = ("clips", "embed", "index")


class Capability(BaseModel):
    ok: bool
    backend: str
    model: str = ""
    reason: str = ""
    language: str | None = None  # speech: the language most words were recognised in


class VideoManifest(BaseModel):
    """`video.json`: what a video is and what was done to it."""

    id: str
    title: str
    filename: str
    sha256: str
    source: str  # the file's name inside the video's directory
    media: MediaInfo
    created_at: datetime
    language: str | None = None  # the uploader's language for speech; None: detect per part
    parts: list[tuple[float, float]] = Field(default_factory=list)
    capabilities: dict[str, Capability] = Field(default_factory=dict)
    clip_count: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    stage_seconds: dict[str, float] = Field(default_factory=dict)
    indexed_at: datetime | None = None


def _noop(stage: str, fraction: float) -> None:
    pass


def _safe_suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if 1 < len(suffix) <= 6 and suffix[1:].isalnum() else ".video"


class Indexer:
    """Runs the pipeline for videos of one library. Cheap to build; models load on first use."""

    def __init__(self, settings: Settings, extractors: Extractors | None = None) -> None:
        self.settings = settings
        self.extractors = extractors or Extractors(settings)

    # --- accept ----------------------------------------------------------------------------------
    def accept(
        self,
        source: Path,
        library: Library,
        *,
        title: str | None = None,
        filename: str | None = None,
        move: bool = True,
        language: str | None = None,
    ) -> VideoManifest:
        """Validate `source` and place it in the library; the same bytes again return the
        existing video. Raises a MediaError subclass for anything we cannot index, leaving
        nothing behind in the library."""
        source = Path(source)
        filename = Path(filename or source.name).name
        info = media.probe(source, self.settings.media)
        sha = sha256_file(source)
        vid = video_id_for(sha)
        store = library.store(vid)
        if store.exists("video.json"):
            if move:
                source.unlink(missing_ok=True)
            return self.manifest(store)

        # assemble in a hidden directory, then rename: a crash never leaves half a video
        library.root.mkdir(parents=True, exist_ok=True)
        staging = library.root / f".incoming-{vid}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            src_name = "source" + _safe_suffix(filename)
            if move:
                shutil.move(str(source), staging / src_name)
            else:
                shutil.copyfile(source, staging / src_name)
            manifest = VideoManifest(
                id=vid,
                title=title or Path(filename).stem,
                filename=filename,
                sha256=sha,
                source=src_name,
                media=info,
                created_at=datetime.now(UTC),
                language=language,
            )
            ArtifactStore(staging).write_json("video.json", manifest)
            try:
                os.replace(staging, store.root)
            except OSError:  # another request placed the same bytes first
                if not store.exists("video.json"):
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return self.manifest(store)

    def manifest(self, store: ArtifactStore) -> VideoManifest:
        return store.read_model("video.json", VideoManifest)

    def _update_manifest(self, store: ArtifactStore, **changes: object) -> VideoManifest:
        m = self.manifest(store).model_copy(update=changes)
        store.write_json("video.json", m)
        return m

    # --- plan ------------------------------------------------------------------------------------
    def plan(self, store: ArtifactStore) -> list[tuple[float, float]]:
        """Time ranges of the parts, fixed once per video so retries agree on them."""
        m = self.manifest(store)
        if m.parts:
            return m.parts
        parts = segment.plan_parts(m.media.duration_s, self.settings.segment.part_s)
        self._update_manifest(store, parts=parts)
        return parts

    # --- one part --------------------------------------------------------------------------------
    def run_part(self, store: ArtifactStore, k: int, progress: Progress | None = None) -> None:
        """Decode part k once and run every extractor over it; finished stages are skipped."""
        report = progress or _noop
        m = self.manifest(store)
        t0, t1 = self.plan(store)[k]
        part = store.part(k)
        frames: FrameList | None = None
        for stage in PART_STAGES:
            if part.stage_done(stage):
                report(stage, 1.0)
                continue
            report(stage, 0.0)
            started = time.perf_counter()
            if stage == "decode":
                frames = self._decode(store, part, store.path(m.source), t0, t1)
                info: dict[str, object] = {"frames": len(frames)}
            else:
                if frames is None:
                    frames = self._load_frames(store, part)
                info = self._extract(stage, part, frames, t0, m.language)
            info["seconds"] = round(time.perf_counter() - started, 3)
            part.mark_done(stage, info)
            report(stage, 1.0)

    def _decode(
        self, store: ArtifactStore, part: ArtifactStore, source: Path, t0: float, t1: float
    ) -> FrameList:
        cfg = self.settings.decode
        frames: FrameList = []
        records: list[Frame] = []
        for f in media.sample_frames(source, t0, t1, cfg):
            rel = f"frames/{round(f.t * 1000):010d}.jpg"
            dest = store.path(rel)
            if not dest.exists():  # a retried part may find the frame already written
                with atomic_path(dest) as tmp:
                    tmp.write_bytes(media.encode_jpeg(f.image, cfg.jpeg_quality))
            frames.append((f.t, f.image))
            records.append(Frame(t=f.t, path=rel, keyframe=f.keyframe))
        part.write_jsonl("frames.jsonl", records)
        cuts = segment.detect_cuts(frames, self.settings.segment.scene_threshold)
        part.write_json("cuts.json", cuts)
        has_audio = media.extract_audio(source, part.path("audio.wav"), t0, t1, cfg.audio_rate)
        part.write_json("audio.json", {"has_audio": has_audio})
        return frames

    def _load_frames(self, store: ArtifactStore, part: ArtifactStore) -> FrameList:
        out: FrameList = []
        for rec in part.read_jsonl("frames.jsonl", Frame):
            with Image.open(store.path(rec.path)) as im:
                out.append((rec.t, np.asarray(im.convert("RGB"))))
        return out

    def _extract(
        self, stage: str, part: ArtifactStore, frames: FrameList, t0: float, language: str | None
    ) -> dict[str, object]:
        kind = STAGE_KIND[stage]
        backend = self.extractors.get(kind)
        status = self.extractors.status(kind)
        if backend is None:
            return {"off": status.reason or "off", "count": 0}
        info: dict[str, object] = {"backend": status.backend, "model": status.model}
        try:
            if stage == "speech":  # the model and language that actually ran, from the result
                info.update(self._transcribe(backend, part, t0, language))
            else:
                info["count"] = self._run_extractor(stage, backend, part, frames, t0)
        except UnsupportedLanguage as e:  # this video's language only: the backend stays on
            return {"off": e.message, "count": 0}
        except ModelUnavailable as e:
            # the package was there but the model would not load: this capability is off
            self.extractors.mark_failed(kind, e.message)
            return {"off": e.message, "count": 0}
        return info

    def _transcribe(
        self, backend: Any, part: ArtifactStore, t0: float, language: str | None
    ) -> dict[str, object]:
        if not part.read_json("audio.json")["has_audio"]:
            part.write_json("transcript.json", Transcript(backend=backend.name, model=""))
            return {"count": 0}
        tr = backend.transcribe(part.path("audio.wav"), offset_s=t0, language=language)
        part.write_json("transcript.json", tr)
        count = sum(len(seg.words) or 1 for seg in tr.segments)
        return {"model": tr.model, "language": tr.language, "count": count}

    def _run_extractor(
        self, stage: str, backend: Any, part: ArtifactStore, frames: FrameList, t0: float
    ) -> int:
        s = self.settings
        if stage == "ocr":
            spans = read_text_over_time(backend, frames, s.ocr)
            part.write_jsonl("ocr.jsonl", spans)
            return len(spans)
        if stage == "objects":
            dets = detect_over_time(backend, frames, s.detect)
            part.write_jsonl("detections.jsonl", dets)
            return sum(len(d.detections) for d in dets)
        if stage == "frames":
            vecs = backend.embed_images([img for _, img in frames])
            part.write_npy("frame_vecs.npy", np.asarray(vecs, dtype=np.float32))
            return len(frames)
        raise ValueError(stage)

    # --- finish ----------------------------------------------------------------------------------
    def finish(self, store: ArtifactStore, progress: Progress | None = None) -> VideoManifest:
        """Merge the parts into clips and indexes. Requires every part's stages to be done."""
        report = progress or _noop
        m = self.manifest(store)
        parts = self.plan(store)
        missing = [k for k in range(len(parts)) if not store.part(k).stage_done(PART_STAGES[-1])]
        if missing:
            raise RuntimeError(f"parts not indexed yet: {missing}")
        merged = _Merged.load(store, len(parts))

        if not store.stage_done("clips"):
            report("clips", 0.0)
            started = time.perf_counter()
            clips = segment.make_clips(m.media.duration_s, merged.cuts, self.settings.segment)
            docs = [merged.clip_doc(c) for c in clips]
            store.write_jsonl("clips.jsonl", docs)
            store.mark_done("clips", {"seconds": time.perf_counter() - started, "count": len(docs)})
        docs = store.read_jsonl("clips.jsonl", ClipDoc)
        report("clips", 1.0)

        if not store.stage_done("embed"):
            report("embed", 0.0)
            started = time.perf_counter()
            info = self._embed_clips(store, docs)
            info["seconds"] = time.perf_counter() - started
            store.mark_done("embed", info)
        report("embed", 1.0)

        if not store.stage_done("index"):
            report("index", 0.0)
            started = time.perf_counter()
            has_text = store.exists("text_vecs.npy")
            text_vecs = store.read_npy("text_vecs.npy") if has_text else None
            text_clip = store.read_npy("text_clip.npy") if has_text else None
            frame_vecs, frame_clip = merged.frame_vectors(docs)
            caps = self._capabilities(store, len(parts))
            write_video_index(
                store,
                docs,
                text_vecs,
                frame_vecs,
                frame_clip,
                self.settings.index,
                {"video_id": m.id, "capabilities": {k: c.model_dump() for k, c in caps.items()}},
                text_clip=text_clip,
            )
            store.mark_done("index", {"seconds": time.perf_counter() - started})
            m = self._update_manifest(
                store,
                clip_count=len(docs),
                capabilities=caps,
                counts=merged.counts(),
                stage_seconds=self._stage_seconds(store, len(parts)),
                indexed_at=datetime.now(UTC),
            )
        report("index", 1.0)
        return m

    def _embed_clips(self, store: ArtifactStore, docs: Sequence[ClipDoc]) -> dict[str, object]:
        """Text vectors for each clip: its whole evidence, and each modality's apart, so a short
        on-screen label or object list is not drowned by ten seconds of transcript."""
        embedder = self.extractors.get("text")
        if embedder is None:
            return {"off": self.extractors.status("text").reason, "count": 0}
        texts, owners = clip_texts(docs)
        st = self.extractors.status("text")
        if not texts:  # nothing was said, written or seen: keyword and frame search only
            return {"backend": st.backend, "model": st.model, "count": 0}
        try:
            vecs = np.asarray(embedder.embed(texts), dtype=np.float32)
        except ModelUnavailable as e:
            self.extractors.mark_failed("text", e.message)
            return {"off": e.message, "count": 0}
        store.write_npy("text_clip.npy", np.asarray(owners, dtype=np.int64))
        store.write_npy("text_vecs.npy", vecs)
        return {"backend": st.backend, "model": st.model, "count": len(texts)}

    def _capabilities(self, store: ArtifactStore, n_parts: int) -> dict[str, Capability]:
        """What actually ran for this video, from the stage markers (not from settings)."""
        caps: dict[str, Capability] = {}
        markers = {s: store.part(0).stage_info(s) or {} for s in PART_STAGES[1:]}
        markers["embed"] = store.stage_info("embed") or {}
        for stage, info in markers.items():
            kind = STAGE_KIND.get(stage, "text")
            if "off" in info:
                caps[kind] = Capability(ok=False, backend="", reason=str(info["off"]))
            else:
                caps[kind] = Capability(
                    ok=True, backend=str(info.get("backend", "")), model=str(info.get("model", ""))
                )
        if caps.get("asr") and caps["asr"].ok:
            caps["asr"].language = _speech_language(store, n_parts)
        return caps

    def _stage_seconds(self, store: ArtifactStore, n_parts: int) -> dict[str, float]:
        totals: dict[str, float] = {}
        for k in range(n_parts):
            for stage in PART_STAGES:
                info = store.part(k).stage_info(stage) or {}
                totals[stage] = totals.get(stage, 0.0) + float(info.get("seconds", 0.0))
        for stage in FINISH_STAGES:
            totals[stage] = float((store.stage_info(stage) or {}).get("seconds", 0.0))
        return {k: round(v, 3) for k, v in totals.items()}

    # --- everything --------------------------------------------------------------------------
    def run(self, store: ArtifactStore, progress: Progress | None = None) -> VideoManifest:
        for k in range(len(self.plan(store))):
            self.run_part(store, k, progress)
        return self.finish(store, progress)


def _speech_language(store: ArtifactStore, n_parts: int) -> str | None:
    """The language most of the video's recognised words are in (each part detects its own)."""
    words: dict[str, int] = {}
    for k in range(n_parts):
        info = store.part(k).stage_info("speech") or {}
        if info.get("language"):
            lang = str(info["language"])
            words[lang] = words.get(lang, 0) + int(info.get("count") or 0)
    return max(words, key=lambda lang: words[lang]) if words else None


class _Merged:
    """The parts' outputs joined on the video's timeline."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.cuts: list[float] = []
        self.words: list[tuple[float, float, str]] = []
        self.ocr: list[OcrSpan] = []
        self.detections: list[FrameDetections] = []
        self.frame_vecs: list[np.ndarray] = []

    @classmethod
    def load(cls, store: ArtifactStore, n_parts: int) -> _Merged:
        m = cls()
        ocr: list[OcrSpan] = []
        for k in range(n_parts):
            part = store.part(k)
            part_frames = part.read_jsonl("frames.jsonl", Frame)
            m.frames += part_frames
            m.cuts += part.read_json("cuts.json")
            if part.exists("transcript.json"):
                tr = part.read_model("transcript.json", Transcript)
                for seg in tr.segments:
                    if seg.words:
                        m.words += [(w.start_s, w.end_s, w.word) for w in seg.words]
                    else:  # a backend without word times: the segment is the unit
                        m.words.append((seg.start_s, seg.end_s, seg.text))
            ocr += part.read_jsonl("ocr.jsonl", OcrSpan)
            m.detections += part.read_jsonl("detections.jsonl", FrameDetections)
            if part.exists("frame_vecs.npy"):
                m.frame_vecs.append(part.read_npy("frame_vecs.npy"))
            elif part_frames and m.frame_vecs:
                raise RuntimeError(f"part {k} has no frame vectors while others do")
        m.ocr = merge_spans(ocr, max_gap_s=2.0)
        m.cuts = sorted(set(m.cuts))
        return m

    def clip_doc(self, clip: Clip) -> ClipDoc:
        a, b = clip.start_s, clip.end_s
        evidence: list[Evidence] = []
        # a word belongs to the clip that holds its midpoint, so no word is in two clips
        words = [w for w in self.words if a <= (w[0] + w[1]) / 2 < b]
        if words:
            text = " ".join(w[2] for w in words)
            evidence.append(
                Evidence(modality="speech", text=text, start_s=words[0][0], end_s=words[-1][1])
            )
        for span in self.ocr:
            if span.first_s < b and span.last_s >= a:
                evidence.append(
                    Evidence(
                        modality="ocr", text=span.text, start_s=span.first_s, end_s=span.last_s
                    )
                )
        dets = [d for d in self.detections if a <= d.t < b]
        objects = describe_objects(dets)
        if objects:
            evidence.append(
                Evidence(modality="objects", text=objects, start_s=dets[0].t, end_s=dets[-1].t)
            )
        frames = [f.path for f in self.frames if a <= f.t < b]
        return ClipDoc(clip=clip, evidence=evidence, frames=frames)

    def frame_vectors(self, docs: Sequence[ClipDoc]) -> tuple[np.ndarray | None, np.ndarray | None]:
        if not self.frame_vecs:
            return None, None
        vecs = np.concatenate(self.frame_vecs).astype(np.float32)
        starts = np.array([d.clip.start_s for d in docs])
        times = np.array([f.t for f in self.frames])
        clip_of = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, len(docs) - 1)
        return vecs, clip_of.astype(np.int64)

    def counts(self) -> dict[str, int]:
        return {
            "frames": len(self.frames),
            "scene_cuts": len(self.cuts),
            "words": len(self.words),
            "ocr_spans": len(self.ocr),
            "detections": sum(len(d.detections) for d in self.detections),
        }
