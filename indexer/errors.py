"""Domain errors. The gateway translates each into the HTTP error envelope once, at the edge;
`type` is the stable machine-readable name clients match on, `status` the HTTP code it maps to."""

from __future__ import annotations

import errno
from typing import TypeVar


class VidragError(Exception):
    """Base of every error vidrag raises on purpose."""

    type = "internal_error"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- media: what the user uploaded is not something we can index (4xx) ---------------------------
class MediaError(VidragError):
    type = "invalid_media"
    status = 422


class EmptyFile(MediaError):
    type = "empty_file"


class NotAVideo(MediaError):
    """The bytes are not a container ffprobe recognises (random bytes, text, a PDF...)."""

    type = "not_a_video"
    status = 415


class NoVideoStream(MediaError):
    """A real media file without a moving picture: audio-only, or a still image."""

    type = "no_video_stream"
    status = 415


class ZeroDuration(MediaError):
    type = "zero_duration"


class CorruptMedia(MediaError):
    """Recognised container whose streams cannot be decoded (truncated upload, broken index)."""

    type = "corrupt_media"


class DecodeStalled(CorruptMedia):
    """ffmpeg produced nothing for longer than its limit (a hung decoder, a pathological file):
    it was killed. Unlike other media errors a step retries this once, on a fresh process."""

    type = "decode_stalled"


class UnsupportedCodec(MediaError):
    type = "unsupported_codec"
    status = 415


class MediaTooLong(MediaError):
    type = "media_too_long"
    status = 413


class MediaTooLarge(MediaError):
    type = "media_too_large"
    status = 413


# --- library state -------------------------------------------------------------------------------
class VideoNotFound(VidragError):
    type = "video_not_found"
    status = 404


class VideoNotReady(VidragError):
    type = "video_not_ready"
    status = 409


class InvalidQuery(VidragError):
    type = "invalid_query"
    status = 422


# --- models and tools ----------------------------------------------------------------------------
class ModelUnavailable(VidragError):
    """A backend's package or weights cannot be had here; the capability is reported off."""

    type = "model_unavailable"
    status = 503


class InsufficientStorage(VidragError):
    """The data directory's disk is full. Nothing half-written is kept; an upload can be sent
    again, and a job that failed this way is queued again once space returns."""

    type = "insufficient_storage"
    status = 507


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
E = TypeVar("E", bound=BaseException)


def as_storage_error(exc: E) -> E | InsufficientStorage:
    """An OSError of a full disk (or quota) as InsufficientStorage; anything else unchanged."""
    if isinstance(exc, OSError) and exc.errno in NO_SPACE:
        return InsufficientStorage(f"no space left on the data disk: {exc}")
    return exc


class StepTimedOut(VidragError):
    """An indexing step ran past its time limit (`VIDRAG_JOBS__PART_TIME_LIMIT_S`, ...)."""

    type = "time_limit_exceeded"
    status = 504


class ToolMissing(VidragError):
    """A required executable (ffmpeg, ffprobe) is not installed."""

    type = "tool_missing"
    status = 503
