"""Assertions shared by the end-to-end service tests: needles found over HTTP, and a finished
index that has every clip exactly once. Where no YOLO weights can be had (detection off) the
object needles are not expected to be found."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx

from indexer.types import ClipDoc, Frame
from tests.weights import yolo_weights

MODALITY = {"speech": "speech", "text": "ocr", "object": "objects"}


def findable(haystack: Any) -> list[Any]:
    """The needles the offline models can find here: all, or all but objects without YOLO."""
    return [n for n in haystack.needles if n.kind != "object" or yolo_weights() is not None]


def needles_found(
    client: httpx.Client, video_id: str | None, haystack: Any, top_k: int = 3
) -> None:
    """Every needle's query finds, through POST /v1/search, a clip overlapping the needle's time
    among the top `top_k`, and that clip's evidence of the needle's kind holds one of the
    needle's answer words (which its question does not)."""
    misses = []
    for needle in findable(haystack):
        body: dict[str, Any] = {"query": needle.query, "top_k": top_k}
        if video_id:
            body["video_ids"] = [video_id]
        r = client.post("/v1/search", json=body)
        assert r.status_code == 200, r.text
        hits = r.json()["hits"]
        match = [h for h in hits if h["start_s"] < needle.end_s and h["end_s"] > needle.start_s]
        texts = " ".join(
            e["text"].lower()
            for h in match
            for e in h["evidence"]
            if e["modality"] == MODALITY[needle.kind]
        )
        if not match or not any(w in texts for w in needle.answer_words):
            misses.append(
                (
                    needle.kind,
                    needle.query,
                    needle.start_s,
                    [
                        (h["start_s"], h["end_s"], [e["text"][:60] for e in h["evidence"]])
                        for h in hits
                    ],
                )
            )
    assert not misses, misses


def needles_indexed(data_dir: Path, video_id: str, haystack: Any) -> None:
    """Nothing of any needle was lost: the clips overlapping each needle carry its evidence
    (read from the index's clips, whatever a search would rank)."""
    docs = _clips(data_dir, video_id)
    for needle in findable(haystack):
        texts = " ".join(
            e.text.lower()
            for d in docs
            if d.clip.start_s < needle.end_s and d.clip.end_s > needle.start_s
            for e in d.evidence
            if e.modality == MODALITY[needle.kind]
        )
        assert any(w in texts for w in needle.answer_words), (needle, texts[:300])


def _clips(data_dir: Path, video_id: str) -> list[ClipDoc]:
    root = data_dir / "videos" / video_id
    return [
        ClipDoc.model_validate_json(line)
        for line in (root / "clips.jsonl").read_text().splitlines()
        if line.strip()
    ]


def clips_complete(data_dir: Path, video_id: str, duration_s: float, clip_count: int) -> None:
    """No missing and no duplicate clips: clips tile [0, duration] in order; every frame decoded
    by any part belongs to exactly one clip; no part decoded a frame twice."""
    root = data_dir / "videos" / video_id
    docs = _clips(data_dir, video_id)
    clips = [d.clip for d in docs]
    assert len(clips) == clip_count > 0
    assert [c.index for c in clips] == list(range(len(clips)))
    assert clips[0].start_s == 0 and abs(clips[-1].end_s - duration_s) < 0.5
    assert all(a.end_s == b.start_s and a.start_s < a.end_s for a, b in pairwise(clips))
    decoded: list[str] = []
    for part in sorted((root / "parts").iterdir()):
        frames = [
            Frame.model_validate_json(line).path
            for line in (part / "frames.jsonl").read_text().splitlines()
            if line.strip()
        ]
        decoded += frames
    in_clips = [f for d in docs for f in d.frames]
    assert len(decoded) == len(set(decoded)) > 0, "a frame was decoded twice"
    assert sorted(in_clips) == sorted(decoded), "frames missing from or repeated in the clips"
    assert all((root / f).exists() for f in decoded)


def searchable(client: httpx.Client, video_id: str, haystack: Any) -> None:
    """The recovered video answers searches (its index loads and ranks clips)."""
    for needle in haystack.needles:
        r = client.post("/v1/search", json={"query": needle.query, "video_ids": [video_id]})
        assert r.status_code == 200, r.text
        assert r.json()["hits"] and all(h["video_id"] == video_id for h in r.json()["hits"])
