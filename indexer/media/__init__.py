"""Probing and decoding with the ffmpeg command-line tools (no Python media bindings needed).

`probe` accepts or rejects an upload with a specific `MediaError` (media/probe.py);
`sample_frames` streams small RGB frames through one pipe per ffmpeg process (media/frames.py);
`extract_audio` writes the 16 kHz mono WAV the ASR backends read (media/audio.py);
`encode_jpeg` and `thumbnail_jpeg` make single pictures (media/stills.py). Times are seconds
from the start of the file (ffmpeg's clock, on which the container's start time is 0), the
clock `-ss` and players use."""

from indexer.media.audio import extract_audio
from indexer.media.frames import SampledFrame, fill_points, sample_frames
from indexer.media.probe import probe
from indexer.media.stills import encode_jpeg, thumbnail_jpeg
from indexer.media.tools import ffprobe as _ffprobe

__all__ = [
    "SampledFrame",
    "_ffprobe",
    "encode_jpeg",
    "extract_audio",
    "fill_points",
    "probe",
    "sample_frames",
    "thumbnail_jpeg",
]
