"""Accepting or refusing an upload: what ffprobe says about it, checked for the faults users'
files really have (empty, not a video, a still, audio only, an unknown codec, truncated, damaged),
each refused with a specific `MediaError` whose message is meant for the uploader."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from indexer.errors import (
    CorruptMedia,
    EmptyFile,
    MediaTooLarge,
    MediaTooLong,
    NotAVideo,
    NoVideoStream,
    UnsupportedCodec,
    ZeroDuration,
)
from indexer.media.tools import ffmpeg, ffprobe, hms, num, rate, run, tool
from indexer.settings import MediaSettings
from indexer.types import MediaInfo

# demuxers that take text files by their extension and "decode" them as pictures of characters
_TEXT_FORMATS = {"tty", "bin", "adf", "idf", "xbin"}
_TEXT_CODECS = {"ansi", "bintext", "xbin", "idf"}
_PROBED = re.compile(r"Format (\S+) probed with size=\d+ and score=(\d+)")
_NO_DECODER = re.compile(r"Decoder \(codec (\S+)\) not found|no decoder found for: (\S+)")


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
    rc, data, err = ffprobe(path, "-show_format -show_streams")
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
    duration = num(fmt.get("duration")) or num(v.get("duration")) or _scan_duration(path)
    if duration <= 0:
        raise ZeroDuration("the video has no duration: it holds no frames to index")
    if duration > settings.max_duration_s:
        limit = settings.max_duration_s / 60
        raise MediaTooLong(f"the video lasts {duration / 60:.1f} min; the limit is {limit:.0f} min")
    width, height = int(v.get("width") or 0), int(v.get("height") or 0)
    if width <= 0 or height <= 0:
        raise CorruptMedia("the video stream has no picture size; the file is damaged")
    start = num(fmt.get("start_time")) or 0.0
    # where the picture ends (audio may run on): the stream's own duration where the container
    # keeps one (mp4, avi; a tag in matroska), else the file's
    v_end = num(v.get("duration")) or hms(v.get("tags", {}).get("DURATION")) or duration
    v_end += (num(v.get("start_time")) or start) - start
    return MediaInfo(
        size_bytes=size,
        duration_s=round(duration, 3),
        container=_container(fmt_name, fmt, [s.get("codec_name") for s in streams]),
        video_codec=codec,
        width=width,
        height=height,
        fps=round(rate(v.get("avg_frame_rate")) or rate(v.get("r_frame_rate")), 3),
        has_audio=bool(audios),
        audio_codec=audios[0].get("codec_name") if audios else None,
        keyframes_per_min=_check_decodable(path, min(v_end, duration), duration),
    )


# "V" in stream specifiers: video streams other than attached pictures (cover art)
def _scan_duration(path: Path) -> float:
    """The video's duration read from its packets (no decoding); 0.0 when it has none."""
    _, data, _ = ffprobe(
        path, "-select_streams V:0 -show_entries packet=pts_time,duration_time:format=start_time"
    )
    ends = [(num(p.get("pts_time")) or 0) + (num(p.get("duration_time")) or 0)
            for p in data.get("packets", [])]  # fmt: skip
    return max(ends, default=0.0) - (num(data.get("format", {}).get("start_time")) or 0.0)


def _unreadable(path: Path, err: str) -> Exception:
    """ffprobe could not open the file: a damaged file of a known kind, or not media at all?
    Sniff its head through a pipe, where the bytes alone (not the file's name) pick a demuxer."""
    with path.open("rb") as f:
        head = f.read(1 << 20)
    _, _, sniff = run([tool("ffprobe"), "-v", "debug", "-i", "pipe:0"], 60.0, stdin=head)
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
    rc, data, err = ffprobe(path, f"-select_streams V:0 -show_entries {entries}",
                             "-read_intervals", tail)  # fmt: skip
    start = num(data.get("format", {}).get("start_time")) or 0.0
    packets = {(t - start, "K" in str(p.get("flags"))) for p in data.get("packets", [])
               if (t := num(p.get("pts_time"))) is not None}  # fmt: skip
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
    rc, out, err = ffmpeg(
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
