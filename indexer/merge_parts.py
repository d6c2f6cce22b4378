"""The parts' outputs joined on the video's timeline: frames, scene cuts, words, on-screen text
spans and detections, cut into each clip's evidence (`MergedParts.clip_doc`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from indexer.extractors.detect.describe import describe_objects
from indexer.extractors.ocr.spans import merge_spans
from indexer.store import ArtifactStore
from indexer.types import Clip, ClipDoc, Evidence, Frame, FrameDetections, OcrSpan, Transcript


def speech_language(store: ArtifactStore, n_parts: int) -> str | None:
    """The language most of the video's recognised words are in (each part detects its own)."""
    words: dict[str, int] = {}
    for k in range(n_parts):
        info = store.part(k).stage_info("speech") or {}
        if info.get("language"):
            lang = str(info["language"])
            words[lang] = words.get(lang, 0) + int(info.get("count") or 0)
    return max(words, key=lambda lang: words[lang]) if words else None


class MergedParts:
    """The parts' outputs joined on the video's timeline."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.cuts: list[float] = []
        self.words: list[tuple[float, float, str]] = []
        self.ocr: list[OcrSpan] = []
        self.detections: list[FrameDetections] = []
        self.frame_vecs: list[np.ndarray] = []

    @classmethod
    def load(cls, store: ArtifactStore, n_parts: int) -> MergedParts:
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
