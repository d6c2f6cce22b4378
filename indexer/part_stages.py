"""One part of a video, stage by stage: decode it once, then run each extractor over its frames
and audio. Every stage writes its outputs into the part's directory; `pipeline.Indexer.run_part`
marks them done and skips them on a rerun.

A capability whose model is missing or will not load is switched off and the stage records why,
so a laptop without (say) a detector still indexes speech and text. A capability named in
`Settings.require` is not allowed to be off: the stage raises `ModelUnavailable`, the video
fails with that reason, and a re-index after the model is installed makes it ready."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from indexer import media, segment
from indexer.errors import ModelUnavailable
from indexer.extractors import Extractors
from indexer.extractors.base import UnsupportedLanguage
from indexer.extractors.detect.describe import detect_over_time
from indexer.extractors.ocr.spans import read_text_over_time
from indexer.settings import Settings
from indexer.store import ArtifactStore, atomic_path
from indexer.types import Frame, Transcript

FrameList = list[tuple[float, np.ndarray]]

# stage names, in the order a part runs them; the kind of extractor each one needs
PART_STAGES = ("decode", "speech", "ocr", "objects", "frames")
STAGE_KIND = {"speech": "asr", "ocr": "ocr", "objects": "detect", "frames": "frames"}


class PartStages:
    """The stages of one part, for videos of one library (models load on first use)."""

    def __init__(self, settings: Settings, extractors: Extractors) -> None:
        self.settings = settings
        self.extractors = extractors

    def off(self, kind: str, reason: str) -> dict[str, object]:
        """The stage marker of a capability that did not run; raises if it is required."""
        if kind in self.settings.require:
            raise ModelUnavailable(f"{kind} is required (VIDRAG_REQUIRE) but off: {reason}")
        return {"off": reason, "count": 0}

    def decode(
        self, store: ArtifactStore, part: ArtifactStore, source: Path, t0: float, t1: float
    ) -> FrameList:
        cfg = self.settings.decode
        _remove_stale_temps(store, part, t0, t1)
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

    def load_frames(self, store: ArtifactStore, part: ArtifactStore) -> FrameList:
        out: FrameList = []
        for rec in part.read_jsonl("frames.jsonl", Frame):
            with Image.open(store.path(rec.path)) as im:
                out.append((rec.t, np.asarray(im.convert("RGB"))))
        return out

    def extract(
        self, stage: str, part: ArtifactStore, frames: FrameList, t0: float, language: str | None
    ) -> dict[str, object]:
        kind = STAGE_KIND[stage]
        backend = self.extractors.get(kind)
        status = self.extractors.status(kind)
        if backend is None:
            return self.off(kind, status.reason or "off")
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
            return self.off(kind, e.message)
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


def _remove_stale_temps(store: ArtifactStore, part: ArtifactStore, t0: float, t1: float) -> None:
    """A run killed mid-write leaves its atomic writes' temp files (`.<name>.<random>.tmp`).
    Decoding starts the part over, so remove those of this part: everything in its own
    directory, and in the video's shared `frames/` only the frames of [t0, t1) (other parts
    may be writing theirs right now; a part's step has one owner at a time, so nobody writes
    these)."""
    for tmp in part.root.rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    lo, hi = math.floor(t0 * 1000), math.ceil(t1 * 1000)
    for tmp in store.path("frames").glob(".*.jpg.*.tmp"):
        ms = tmp.name[1:].split(".", 1)[0]
        if ms.isdigit() and lo <= int(ms) < hi:
            tmp.unlink(missing_ok=True)
