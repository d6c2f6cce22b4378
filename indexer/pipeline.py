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

import numpy as np

from indexer import media, segment
from indexer.clip_texts import clip_texts
from indexer.errors import ModelUnavailable
from indexer.extractors import Extractors
from indexer.index import write_video_index
from indexer.manifest import Capability, VideoManifest
from indexer.merge_parts import MergedParts, speech_language
from indexer.part_stages import PART_STAGES, STAGE_KIND, FrameList, PartStages
from indexer.settings import Settings
from indexer.store import ArtifactStore, Library, sha256_file, video_id_for
from indexer.types import ClipDoc

Progress = Callable[[str, float], None]
FINISH_STAGES = ("clips", "embed", "index")


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
        self.stages = PartStages(settings, self.extractors)

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
        tenant: str = "default",
    ) -> VideoManifest:
        """Validate `source` and place it in the library; the same bytes again return the
        existing video. Raises a MediaError subclass for anything we cannot index, leaving
        nothing behind in the library."""
        source = Path(source)
        filename = Path(filename or source.name).name
        info = media.probe(source, self.settings.media)
        sha = sha256_file(source)
        vid = video_id_for(sha, tenant)
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
                tenant=tenant,
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
                frames = self.stages.decode(store, part, store.path(m.source), t0, t1)
                info: dict[str, object] = {"frames": len(frames)}
            else:
                if frames is None:
                    frames = self.stages.load_frames(store, part)
                info = self.stages.extract(stage, part, frames, t0, m.language)
            info["seconds"] = round(time.perf_counter() - started, 3)
            part.mark_done(stage, info)
            report(stage, 1.0)

    # --- finish ----------------------------------------------------------------------------------
    def finish(self, store: ArtifactStore, progress: Progress | None = None) -> VideoManifest:
        """Merge the parts into clips and indexes. Requires every part's stages to be done."""
        report = progress or _noop
        m = self.manifest(store)
        parts = self.plan(store)
        missing = [k for k in range(len(parts)) if not store.part(k).stage_done(PART_STAGES[-1])]
        if missing:
            raise RuntimeError(f"parts not indexed yet: {missing}")
        merged = MergedParts.load(store, len(parts))

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
            return self.stages.off("text", self.extractors.status("text").reason)
        texts, owners = clip_texts(docs)
        st = self.extractors.status("text")
        if not texts:  # nothing was said, written or seen: keyword and frame search only
            return {"backend": st.backend, "model": st.model, "count": 0}
        try:
            vecs = np.asarray(embedder.embed(texts), dtype=np.float32)
        except ModelUnavailable as e:
            self.extractors.mark_failed("text", e.message)
            return self.stages.off("text", e.message)
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
            caps["asr"].language = speech_language(store, n_parts)
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
