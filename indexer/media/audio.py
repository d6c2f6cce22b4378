"""The audio track as the 16 kHz mono WAV the ASR backends read."""

from __future__ import annotations

from pathlib import Path

from indexer.errors import CorruptMedia, InsufficientStorage
from indexer.media.tools import ffmpeg, ffprobe
from indexer.store import atomic_path


def extract_audio(path: Path, dest: Path, t0: float, t1: float, rate: int = 16000) -> bool:
    """Write [t0, t1) of the first audio stream to `dest` as mono s16 WAV at `rate` Hz,
    atomically. Returns False, writing nothing, when the file has no audio stream.
    Raises CorruptMedia when the audio cannot be decoded, ToolMissing."""
    _, data, _ = ffprobe(Path(path), "-select_streams a -show_entries stream=index")
    if not data.get("streams"):
        return False
    with atomic_path(Path(dest)) as tmp:
        rc, _, err = ffmpeg(
            "-y", "-ss", f"{max(0.0, t0):.6f}", "-i", str(path), "-t", f"{max(t1 - t0, 1e-3):.6f}",
            "-map", "0:a:0", "-ac", "1", "-ar", str(rate), "-c:a", "pcm_s16le", "-f", "wav",
            str(tmp), timeout=600.0,
        )  # fmt: skip
        if rc != 0:
            if "No space left on device" in err:  # ffmpeg's own words for ENOSPC
                raise InsufficientStorage(f"no space left to write {Path(dest).name}")
            raise CorruptMedia(f"the audio cannot be decoded: {err.strip()[-300:]}")
    return True
