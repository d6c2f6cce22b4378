"""The speech of a clip's neighbours, read from the video's `clips.jsonl`, so that an extractive
quote can run on over a clip boundary: clips are cut every few seconds, and a sentence that
names what the question asks about often ends, with its answer, in the next clip."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from indexer.store import Library
from indexer.types import ClipDoc

VIDEOS_CACHED = 8


@dataclass(frozen=True)
class ClipSpeech:
    """What was said in one clip."""

    video_id: str
    clip_index: int
    start_s: float
    end_s: float
    text: str


class NeighbourSpeech:
    """`(video_id, clip_index)` → that clip's speech, or None (no such clip, nothing said, or no
    clips.jsonl). The clips of the last few videos asked about are kept, and read again when
    the file changes (a video indexed again)."""

    def __init__(self, library: Library, videos: int = VIDEOS_CACHED) -> None:
        self.library, self.videos = library, videos
        self._cache: OrderedDict[str, tuple[int, dict[int, ClipSpeech]]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, video_id: str, clip_index: int) -> ClipSpeech | None:
        return self._clips(video_id).get(clip_index)

    def _clips(self, video_id: str) -> dict[int, ClipSpeech]:
        try:
            store = self.library.store(video_id)
            mtime = store.path("clips.jsonl").stat().st_mtime_ns
        except (OSError, ValueError):
            return {}
        with self._lock:
            cached = self._cache.get(video_id)
            if cached and cached[0] == mtime:
                self._cache.move_to_end(video_id)
                return cached[1]
        clips = {}
        for doc in store.read_jsonl("clips.jsonl", ClipDoc):
            said = " ".join(e.text for e in doc.evidence if e.modality == "speech").strip()
            if said:
                c = doc.clip
                clips[c.index] = ClipSpeech(video_id, c.index, c.start_s, c.end_s, said)
        with self._lock:
            self._cache[video_id] = (mtime, clips)
            while len(self._cache) > self.videos:
                self._cache.popitem(last=False)
        return clips
