"""Probing and decoding with the ffmpeg command-line tools (no Python media bindings needed).

`probe` accepts or rejects an upload with a specific `MediaError`; `sample_frames` streams small
RGB frames through one pipe per ffmpeg process; `extract_audio` writes the 16 kHz mono WAV the
ASR backends read. Times are seconds from the start of the file (ffmpeg's clock, on which the
container's start time is 0), the clock `-ss` and players use."""

from __future__ import annotations

import io
import json
import math
import queue
import re
import shutil
import subprocess
import threading
from collections import deque
from collections.abc import Generator, Iterator
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from indexer.errors import (
    CorruptMedia,
    EmptyFile,
    MediaTooLarge,
    MediaTooLong,
    NotAVideo,
    NoVideoStream,
    ToolMissing,
    UnsupportedCodec,
    ZeroDuration,
)
from indexer.settings import DecodeSettings, MediaSettings
from indexer.store import atomic_path
from indexer.types import MediaInfo

# demuxers that take text files by their extension and "decode" them as pictures of characters
_TEXT_FORMATS = {"tty", "bin", "adf", "idf", "xbin"}
_TEXT_CODECS = {"ansi", "bintext", "xbin", "idf"}
_PROBED = re.compile(r"Format (\S+) probed with size=\d+ and score=(\d+)")
# showinfo prints pts_time with 6 significant digits (10 ms steps past 1000 s): use pts * tb
_SHOWINFO = re.compile(r"\bpts:\s*(-?\d+).*?\bs:(\d+)x(\d+).*?\biskey:(\d)")
_TIME_BASE = re.compile(r"config in time_base: (\d+)/(\d+)")
_NO_DECODER = re.compile(r"Decoder \(codec (\S+)\) not found|no decoder found for: (\S+)")


class SampledFrame(NamedTuple):
    """A decoded frame: its time, its HxWx3 uint8 RGB pixels, whether it is a keyframe."""

    t: float
    image: np.ndarray
    keyframe: bool


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolMissing(f"{name} is not installed; install ffmpeg (e.g. apt-get install ffmpeg)")
    return path


def _run(args: list[str], timeout: float, stdin: bytes | None = None) -> tuple[int, bytes, str]:
    try:
        p = subprocess.run(args, input=stdin, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise CorruptMedia(f"{Path(args[0]).name} gave up on the file after {timeout:.0f} s") from e
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def _ffprobe(path: Path, flags: str, *more: str) -> tuple[int, dict[str, Any], str]:
    """ffprobe's JSON about `path`; `flags` is split on spaces, `more` passed as they are."""
    args = [_tool("ffprobe"), "-v", "error", "-of", "json", *flags.split(), *more, str(path)]
    rc, out, err = _run(args, timeout=120.0)
    return rc, json.loads(out or b"{}"), err


def _ffmpeg(*args: str, timeout: float = 120.0) -> tuple[int, bytes, str]:
    return _run([_tool("ffmpeg"), "-hide_banner", "-nostdin", "-v", "error", *args], timeout)


def _num(x: object) -> float | None:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _rate(s: object) -> float:
    num, _, den = str(s or "0/0").partition("/")
    n, d = _num(num), _num(den or "1")
    return n / d if n and d else 0.0


def _hms(s: object) -> float | None:  # matroska stream tag DURATION=00:00:30.003000000
    m = re.fullmatch(r"(\d+):(\d+):([\d.]+)", str(s or ""))
    return int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3]) if m else None


# --- probe ----------------------------------------------------------------------------------------
def probe(path: Path, settings: MediaSettings) -> MediaInfo:
    """What ffprobe says about `path`, once it is known to be a decodable video within limits.

    Raises EmptyFile, MediaTooLarge, NotAVideo, NoVideoStream, UnsupportedCodec, ZeroDuration,
    MediaTooLong or CorruptMedia, each with a message meant for the uploader; ToolMissing."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise EmptyFile("the file is empty (0 bytes)")
    if size > settings.max_bytes:
        limit = settings.max_bytes / 2**20
        raise MediaTooLarge(f"the file is {size / 2**20:,.0f} MiB; the limit is {limit:,.0f} MiB")
    rc, data, err = _ffprobe(path, "-show_format -show_streams")
    if rc != 0:
        raise _unreadable(path, err)
    fmt, streams = data.get("format", {}), data.get("streams", [])
    fmt_name = str(fmt.get("format_name", ""))
    # cover art in an audio file is a "video" stream of one picture: not a video
    videos = [s for s in streams if s.get("codec_type") == "video"]
    videos = [s for s in videos if not s.get("disposition", {}).get("attached_pic")]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    codec = str(videos[0].get("codec_name") or "unknown") if videos else ""
    if fmt_name in _TEXT_FORMATS or codec in _TEXT_CODECS:
        raise NotAVideo("this looks like a text file, not a video")
    one_picture = bool(videos) and str(videos[0].get("nb_frames")) == "1"
    if fmt_name == "image2" or fmt_name.endswith("_pipe") or one_picture:
        raise NoVideoStream(f"this is a still image ({codec or fmt_name}), not a video")
    if not videos and audios:
        raise NoVideoStream("the file holds only audio, no video")
    if not videos:  # e.g. a subtitle file renamed .mp4: ffmpeg reads it, as subtitles
        kinds = sorted({str(s.get("codec_type")) for s in streams}) or ["nothing"]
        raise NotAVideo(f"the file is not a video (it holds {', '.join(kinds)})")
    v = videos[0]
    if codec in settings.refused_codecs or codec == "unknown":
        tag = f" (fourcc {v['codec_tag_string']})" if v.get("codec_tag_string") else ""
        raise UnsupportedCodec(f"the video codec {codec!r}{tag} is not supported")
    # a file written without an index (a browser's MediaRecorder webm) states no duration
    duration = _num(fmt.get("duration")) or _num(v.get("duration")) or _scan_duration(path)
    if duration <= 0:
        raise ZeroDuration("the video has no duration: it holds no frames to index")
    if duration > settings.max_duration_s:
        limit = settings.max_duration_s / 60
        raise MediaTooLong(f"the video lasts {duration / 60:.1f} min; the limit is {limit:.0f} min")
    width, height = int(v.get("width") or 0), int(v.get("height") or 0)
    if width <= 0 or height <= 0:
        raise CorruptMedia("the video stream has no picture size; the file is damaged")
    start = _num(fmt.get("start_time")) or 0.0
    # where the picture ends (audio may run on): the stream's own duration where the container
    # keeps one (mp4, avi; a tag in matroska), else the file's
    v_end = _num(v.get("duration")) or _hms(v.get("tags", {}).get("DURATION")) or duration
    v_end += (_num(v.get("start_time")) or start) - start
    return MediaInfo(
        size_bytes=size,
        duration_s=round(duration, 3),
        container=_container(fmt_name, fmt, [s.get("codec_name") for s in streams]),
        video_codec=codec,
        width=width,
        height=height,
        fps=round(_rate(v.get("avg_frame_rate")) or _rate(v.get("r_frame_rate")), 3),
        has_audio=bool(audios),
        audio_codec=audios[0].get("codec_name") if audios else None,
        keyframes_per_min=_check_decodable(path, min(v_end, duration), duration),
    )


# "V" in stream specifiers: video streams other than attached pictures (cover art)
def _scan_duration(path: Path) -> float:
    """The video's duration read from its packets (no decoding); 0.0 when it has none."""
    _, data, _ = _ffprobe(
        path, "-select_streams V:0 -show_entries packet=pts_time,duration_time:format=start_time"
    )
    ends = [(_num(p.get("pts_time")) or 0) + (_num(p.get("duration_time")) or 0)
            for p in data.get("packets", [])]  # fmt: skip
    return max(ends, default=0.0) - (_num(data.get("format", {}).get("start_time")) or 0.0)


def _unreadable(path: Path, err: str) -> Exception:
    """ffprobe could not open the file: a damaged file of a known kind, or not media at all?
    Sniff its head through a pipe, where the bytes alone (not the file's name) pick a demuxer."""
    with path.open("rb") as f:
        head = f.read(1 << 20)
    _, _, sniff = _run([_tool("ffprobe"), "-v", "debug", "-i", "pipe:0"], 60.0, stdin=head)
    m = _PROBED.search(sniff)
    if m and int(m[2]) > 25:  # 25 is ffmpeg's "maybe"; a container's own signature scores >= 50
        reason = err.strip().splitlines()[-1].split(": ", 1)[-1] if err.strip() else "unreadable"
        kind = {"mov": "MP4/MOV", "matroska": "WebM/Matroska"}.get(m[1].split(",")[0], m[1])
        return CorruptMedia(f"the {kind} file is damaged or incomplete ({reason})")
    return NotAVideo("the file is not a video ffmpeg recognises")


def _container(fmt_name: str, fmt: dict[str, Any], codecs: list[Any]) -> str:
    if fmt_name.startswith("mov,"):
        return "mov" if str(fmt.get("tags", {}).get("major_brand", "")).strip() == "qt" else "mp4"
    if fmt_name == "matroska,webm":
        return "webm" if set(codecs) <= {"vp8", "vp9", "av1", "opus", "vorbis"} else "matroska"
    return fmt_name.split(",")[0]


def _check_decodable(path: Path, v_end: float, duration: float) -> float | None:
    """Read the packets of the first minute and of the last seconds (no decoding: a truncated
    upload's index points past the end of the file), then decode the first frame and the last
    keyframe. Returns keyframes per minute; raises CorruptMedia or UnsupportedCodec."""
    entries = "packet=pts_time,flags:format=start_time"
    tail = f"%+60,{max(0.0, v_end - 5.0):.3f}%"
    rc, data, err = _ffprobe(path, f"-select_streams V:0 -show_entries {entries}",
                             "-read_intervals", tail)  # fmt: skip
    start = _num(data.get("format", {}).get("start_time")) or 0.0
    packets = {(t - start, "K" in str(p.get("flags"))) for p in data.get("packets", [])
               if (t := _num(p.get("pts_time"))) is not None}  # fmt: skip
    last = max((t for t, _ in packets), default=0.0)
    if rc != 0 or "partial file" in err or last < v_end - max(2.0, 0.02 * v_end):
        raise CorruptMedia(
            f"the file is truncated: its video stops at {last:.1f} s of {v_end:.1f} s"
        )
    window = min(60.0, duration)
    keys = sorted(t for t, key in packets if key)
    per_min = round(sum(1 for t in keys if t <= window) * 60.0 / window, 2)
    last_key = keys[-1] if keys else 0.0
    # two outputs, as -frames ends a whole output; -noaccurate_seek starts output at the keyframe
    # itself so that one frame is all that gets decoded. The first output's lines end in a CRC
    # ("0x..."), the second's in an MD5.
    rc, out, err = _ffmpeg(
        "-threads", "1", "-i", str(path),
        "-threads", "1", "-noaccurate_seek", "-ss", f"{last_key + 0.001:.3f}", "-i", str(path),
        "-map", "0:V:0", "-frames:v", "1", "-f", "framecrc", "pipe:1",
        "-map", "1:V:0", "-frames:v", "1", "-f", "framemd5", "pipe:1",
    )  # fmt: skip
    if m := _NO_DECODER.search(err):
        raise UnsupportedCodec(f"the video codec {m[1] or m[2]!r} cannot be decoded here")
    sums = [ln.rsplit(",", 1)[-1].strip() for ln in out.decode().splitlines() if ln[:1] == "0"]
    first, end = any(x.startswith("0x") for x in sums), any(len(x) == 32 for x in sums)
    if not (first and end):
        where = "first frame" if not first else f"picture at {last_key:.1f} s"
        raise CorruptMedia(f"the video cannot be decoded: its {where} is damaged")
    return per_min


# --- frames ---------------------------------------------------------------------------------------
@cache
def _fps_mode_flag() -> str:
    m = re.search(r"version n?(\d+)\.(\d+)", _ffmpeg("-version")[1].decode())
    return "-vsync" if m and (int(m[1]), int(m[2])) < (5, 1) else "-fps_mode"


def _scale(small_side: int) -> str:
    # short side to small_side, never upscaled; display aspect kept (sar applied); even sizes
    s = f"min({small_side},min(iw*sar,ih))"
    return f"scale=w='2*trunc({s}*max(dar,1)/2)':h='2*trunc({s}*max(1/dar,1)/2)':flags=area"


class _Pipe:
    """One ffmpeg process streaming rgb24 frames of [t0, t1) to stdout; its `showinfo` lines on
    stderr give each frame's time and size, read by a thread so neither pipe can fill and block.
    Iterating yields SampledFrame; raises CorruptMedia if ffmpeg fails."""

    def __init__(self, path: Path, t0: float, t1: float | None, select: str, small_side: int,
                 skip: str | None = None, max_frames: int | None = None) -> None:  # fmt: skip
        args = [_tool("ffmpeg"), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"]
        # sparse decoding gains nothing from frame threads but pays their overhead (2x the CPU)
        args += ["-threads", "1", "-skip_frame", skip] if skip else []
        args += ["-ss", f"{t0:.6f}"]
        args += ["-t", f"{max(t1 - t0, 1e-3):.6f}"] if t1 is not None else []
        vf = f"select='{select}',{_scale(small_side)},setsar=1,format=rgb24,showinfo"
        args += ["-i", str(path), "-map", "0:V:0", "-vf", vf, _fps_mode_flag(), "passthrough"]
        args += ["-frames:v", str(max_frames)] if max_frames else []
        args += ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
        self.offset = t0  # without -copyts, ffmpeg's clock starts at the seek point
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.meta: queue.Queue[tuple[float, int, int, bool] | None] = queue.Queue()
        self.log: deque[str] = deque(maxlen=8)
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        tb = Fraction(1, 1000)  # replaced by the filter's own time base before any frame
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            if "Parsed_showinfo" not in line:
                self.log.append(line)
            elif m := _SHOWINFO.search(line):
                self.meta.put((float(int(m[1]) * tb), int(m[2]), int(m[3]), m[4] == "1"))
            elif m := _TIME_BASE.search(line):
                tb = Fraction(int(m[1]), int(m[2]))
        self.meta.put(None)

    def __iter__(self) -> Generator[SampledFrame, None, None]:
        assert self.proc.stdout is not None
        try:
            while (item := self.meta.get()) is not None:
                t, w, h, key = item
                data = self.proc.stdout.read(w * h * 3)
                if len(data) < w * h * 3:
                    break
                image = np.frombuffer(bytearray(data), np.uint8).reshape(h, w, 3)
                # 0.1 ms: finer than any frame interval, coarser than seek-offset rounding
                yield SampledFrame(round(t + self.offset, 4), image, key)
            leftover = self.proc.stdout.read(1)
            if self.proc.wait() != 0 or leftover:
                detail = "frame metadata out of step" if leftover else " / ".join(self.log)
                raise CorruptMedia(f"decoding failed: {detail[-600:]}")
        finally:
            if self.proc.poll() is None:  # the consumer stopped early
                self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()


def sample_frames(path: Path, t0: float, t1: float, settings: DecodeSettings
                  ) -> Iterator[SampledFrame]:  # fmt: skip
    """Frames of [t0, t1) in time order, short side `small_side` (never upscaled), at most one
    in each 1/fps of time from t0. "full" decodes every frame; "keyframes" decodes only keyframes,
    then fills each gap longer than `max_gap_s` (range edges included) by decoding
    from the keyframe before it, non-reference frames skipped. Raises CorruptMedia, ToolMissing."""
    path, t0 = Path(path), max(0.0, t0)
    if t1 <= t0:
        return
    # the first frame in each 1/fps of time from t0 (ffmpeg's t counts from the seek point):
    # frames keep their own times, unlike with the fps filter
    bucket = f"floor(%s*{settings.fps:.6f}+1e-3)"  # + 1e-3: k/fps itself lands in bucket k
    thin = f"isnan(prev_selected_t)+gt({bucket % 't'},{bucket % 'prev_selected_t'})"
    # nokey, not nointra: ffmpeg 5.1's h264 decoder mislabels times after the non-IDR I-frames
    # that nointra would add (off by the reorder delay), so only IDR frames count as keyframes
    skip = "nokey" if settings.strategy == "keyframes" else None
    frames = iter(_Pipe(path, t0, t1, thin, settings.small_side, skip=skip))
    prev, virtual = t0, True  # the range's start counts as a sample for the gap rule
    try:
        for f in frames:
            if not t0 <= f.t < t1:
                continue
            if skip and f.t - prev > settings.max_gap_s:
                yield from _fill(path, prev, f.t, virtual, settings)
            yield f
            prev, virtual = f.t, False
        if skip and t1 - prev > settings.max_gap_s:
            yield from _fill(path, prev, t1, virtual, settings)
    finally:
        frames.close()


def fill_points(a: float, b: float, max_gap: float, fps: float) -> list[float]:
    """Times to sample in the gap (a, b) so that no gap exceeds `max_gap`, decoding as little
    as possible: decoding runs from the keyframe at `a` to the last point, so that point goes
    as early as allowed (b - max_gap) and the others evenly before it, 1/fps apart or more when
    the gap allows. Slack absorbs the distance from a point to the next decodable frame."""
    gap, limit = b - a, max_gap - min(0.25, max_gap / 4)
    if gap <= max_gap:
        return []
    n = math.ceil(gap / limit - 1e-9) - 1
    step = max((gap - limit) / n, min(1.0 / fps, gap / (n + 1)))
    return [a + step * j for j in range(1, n + 1)]


def _fill(path: Path, a: float, b: float, virtual: bool, settings: DecodeSettings
          ) -> Iterator[SampledFrame]:  # fmt: skip
    points = fill_points(a, b, settings.max_gap_s, settings.fps)
    if not points:
        return
    step, n = points[0] - a, len(points)
    # seek just past the keyframe at `a` (already sampled) so decoding starts from it; select
    # the first decoded frame at or after each point
    start = a if virtual else a + 0.001
    c = f"min(floor((%s+{start - a:.6f})/{step:.6f}),{n})"
    select = f"gt({c % 't'},if(isnan(prev_selected_t),0,{c % 'prev_selected_t'}))"
    pipe = _Pipe(path, start, b, select, settings.small_side, skip="noref", max_frames=n)
    yield from (f for f in pipe if a < f.t < b)


# --- audio and stills -----------------------------------------------------------------------------
def extract_audio(path: Path, dest: Path, t0: float, t1: float, rate: int = 16000) -> bool:
    """Write [t0, t1) of the first audio stream to `dest` as mono s16 WAV at `rate` Hz,
    atomically. Returns False, writing nothing, when the file has no audio stream.
    Raises CorruptMedia when the audio cannot be decoded, ToolMissing."""
    _, data, _ = _ffprobe(Path(path), "-select_streams a -show_entries stream=index")
    if not data.get("streams"):
        return False
    with atomic_path(Path(dest)) as tmp:
        rc, _, err = _ffmpeg(
            "-y", "-ss", f"{max(0.0, t0):.6f}", "-i", str(path), "-t", f"{max(t1 - t0, 1e-3):.6f}",
            "-map", "0:a:0", "-ac", "1", "-ar", str(rate), "-c:a", "pcm_s16le", "-f", "wav",
            str(tmp), timeout=600.0,
        )  # fmt: skip
        if rc != 0:
            raise CorruptMedia(f"the audio cannot be decoded: {err.strip()[-300:]}")
    return True


def encode_jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    """JPEG bytes of an HxWx3 uint8 RGB image."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def thumbnail_jpeg(path: Path, t: float, small_side: int = 360) -> bytes:
    """JPEG of the first frame at or after second `t` (clamped into the video), short side
    `small_side`. Raises CorruptMedia when no frame decodes there, ToolMissing."""
    _, data, _ = _ffprobe(Path(path), "-show_entries format=duration")
    duration = _num(data.get("format", {}).get("duration")) or 0.0
    t = min(max(0.0, t), max(0.0, duration - 0.05))
    # the picture can end before the container does: step back until a frame decodes
    for at in (t, t - 1.0, t - 5.0):
        frames = iter(_Pipe(Path(path), max(0.0, at), None, "1", small_side, max_frames=1))
        first = next(frames, None)
        frames.close()
        if first is not None:
            return encode_jpeg(first.image)
    raise CorruptMedia(f"no frame of the video can be decoded near {t:.1f} s")
