"""The typed records that flow between stages and are written to disk as JSON.

Times are always seconds from the start of the video (floats); boxes are normalised to 0..1 of
the frame as (x0, y0, x1, y1) so they survive any resize."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Modality = Literal["speech", "ocr", "objects", "visual"]
Box = tuple[float, float, float, float]


class MediaInfo(BaseModel):
    """What ffprobe says about a file we accepted."""

    size_bytes: int
    duration_s: float
    container: str
    video_codec: str
    width: int
    height: int
    fps: float
    has_audio: bool
    audio_codec: str | None = None
    keyframes_per_min: float | None = None


class Frame(BaseModel):
    """A sampled frame: its time and its JPEG, relative to the video's directory."""

    t: float
    path: str
    keyframe: bool = False


class Word(BaseModel):
    word: str
    start_s: float
    end_s: float
    prob: float | None = None


class SpeechSegment(BaseModel):
    start_s: float
    end_s: float
    text: str
    words: list[Word] = Field(default_factory=list)


class Transcript(BaseModel):
    """Output of an ASR backend for one audio span (times already offset to the video)."""

    backend: str
    model: str
    language: str | None = None
    segments: list[SpeechSegment] = Field(default_factory=list)


class TextBox(BaseModel):
    """One line of text read on one frame."""

    text: str
    score: float
    box: Box


class OcrSpan(BaseModel):
    """A line of on-screen text and the span of time it was seen."""

    text: str
    first_s: float
    last_s: float
    score: float
    box: Box


class Detection(BaseModel):
    label: str
    score: float
    box: Box


class FrameDetections(BaseModel):
    t: float
    detections: list[Detection]


class Clip(BaseModel):
    index: int
    start_s: float
    end_s: float


class Evidence(BaseModel):
    modality: Modality
    text: str
    start_s: float
    end_s: float


class ClipDoc(BaseModel):
    """Everything known about one clip: what retrieval indexes and what answers quote."""

    clip: Clip
    evidence: list[Evidence] = Field(default_factory=list)
    frames: list[str] = Field(default_factory=list)

    def text(self) -> str:
        return "\n".join(f"{e.modality}: {e.text}" for e in self.evidence if e.text)


class Hit(BaseModel):
    """A retrieved moment: one clip of one video with the evidence that matched.

    `dense_similarity`: the best cosine between the query's text embedding and the clip's text
    vectors (None when the query was not embedded or the clip's vectors are of another model);
    `closest_text`: the text that closest vector embeds (the whole evidence, one modality's, or
    a window of the speech: see indexer/clip_texts.py), what an answer quotes for a question
    that shares few words with the clip."""

    video_id: str
    clip_index: int
    start_s: float
    end_s: float
    score: float
    evidence: list[Evidence] = Field(default_factory=list)
    frames: list[str] = Field(default_factory=list)
    dense_similarity: float | None = None
    closest_text: str | None = None
