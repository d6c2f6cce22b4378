"""indexer.media on real files (built here with ffmpeg, espeak-ng and Pillow): what probe accepts
and rejects, frame times checked against the frame numbers written into the picture, gap
filling, audio, thumbnails."""

from __future__ import annotations

import io
import math
import os
import wave
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from indexer import errors, media
from indexer.media import (
    encode_jpeg,
    extract_audio,
    fill_points,
    probe,
    sample_frames,
    thumbnail_jpeg,
)
from indexer.settings import DecodeSettings, MediaSettings
from tests import synth
from tests.media_helpers import (
    CUTS,
    DURATION,
    SEGMENTS,
    ffmpeg,
    frame_number,
    segment_of,
    strip_video,
    true_time,
)

LONG_GOP = "keyint=1000:min-keyint=1000:scenecut=0"  # one keyframe, at 0
LIMITS = MediaSettings()
# videos in the containers and codecs users upload: (name, container, video codec, duration,
# size, audio codec or None) as probe must report them, and the ffmpeg arguments that make them
SAMPLES = [
    ("h264_mp3.mp4", "mp4", "h264", 6.0, (640, 360), "mp3",
     ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "libmp3lame"]),
    ("vp8_vorbis.webm", "webm", "vp8", 5.0, (480, 270), "vorbis",
     ["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "500k",
      "-c:a", "libvorbis"]),
    ("msmpeg4.avi", "avi", "msmpeg4v3", 8.0, (768, 576), None, ["-an", "-c:v", "msmpeg4"]),
    ("mpeg2.mpg", "mpeg", "mpeg2video", 7.6, (720, 404), None,
     ["-an", "-c:v", "mpeg2video", "-f", "mpeg"]),
]  # fmt: skip


@pytest.fixture(scope="session")
def samples() -> Path:
    """One short testsrc2 video per entry of SAMPLES, in a folder of their own."""
    d = synth.cache_path("containers", SAMPLES)
    for name, _, _, seconds, (w, h), audio, codec_args in SAMPLES:
        if (d / name).exists():
            continue
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f".{os.getpid()}.{name}"
        tone = ["-f", "lavfi", "-i", f"sine=f=330:d={seconds}"] if audio else []
        ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={w}x{h}:rate=25", *tone, "-t", str(seconds),
               *codec_args, str(tmp))  # fmt: skip
        tmp.replace(d / name)
    return d


@pytest.fixture(scope="session")
def strip() -> Path:
    return strip_video()


@pytest.fixture(scope="session")
def long_gop() -> Path:
    return strip_video(LONG_GOP)


@pytest.fixture(scope="session")
def bad(tmp_path_factory: pytest.TempPathFactory, strip: Path, samples: Path) -> Path:
    """A folder of files probe must reject, made from real media."""
    d = tmp_path_factory.mktemp("bad")
    (d / "empty.mp4").write_bytes(b"")
    (d / "random.mp4").write_bytes(np.random.default_rng(0).bytes(200_000))
    (d / "text.mp4").write_text("Dear all, the minutes of Monday's meeting follow.\n" * 50)
    (d / "subtitles.mp4").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nnot a video\n")
    (d / "text.bin").write_text("just some words in a text file\n" * 50)
    for name, faststart in (("trunc.mp4", False), ("trunc_faststart.mp4", True)):
        full = d / f"full_{name}"
        flags = ["-movflags", "+faststart"] if faststart else []
        ffmpeg("-i", str(strip), "-c", "copy", *flags, str(full))
        data = full.read_bytes()
        (d / name).write_bytes(data[: len(data) * 6 // 10])
    webm = (samples / "vp8_vorbis.webm").read_bytes()
    (d / "trunc.webm").write_bytes(webm[: len(webm) * 6 // 10])
    speech = synth.speech_wav("Front centre. This file has a voice and no picture.")
    (d / "speech.wav").write_bytes(speech.read_bytes())
    ffmpeg("-i", str(speech), "-c:a", "aac", str(d / "speech.m4a"))
    photo = synth.ultralytics_asset("bus.jpg")
    ffmpeg("-i", str(speech), "-i", str(photo), "-map", "0:a", "-map", "1:v", "-c:a", "aac",
           "-c:v", "copy", "-disposition:v", "attached_pic", str(d / "cover_art.m4a"))  # fmt: skip
    (d / "photo.jpg").write_bytes(photo.read_bytes())
    card = synth.text_card(["A picture", "not a video"], size=(320, 240), text_size=32)
    (d / "photo.png").write_bytes(synth.save_png(card, "photo").read_bytes())
    ffmpeg("-i", str(strip), "-frames:v", "1", "-an", str(d / "one_frame.mp4"))
    ffmpeg("-f", "lavfi", "-i", "testsrc=s=64x64:r=5", "-frames:v", "0", "-c:v", "mpeg4",
           str(d / "no_frames.avi"))  # fmt: skip
    # an AVI whose video fourcc no decoder knows
    ffmpeg("-i", str(strip), "-t", "2", "-an", "-c:v", "mpeg4", "-vtag", "XVID",
           str(d / "xvid.avi"))  # fmt: skip
    (d / "unknown_codec.avi").write_bytes((d / "xvid.avi").read_bytes().replace(b"XVID", b"QZQZ"))
    return d


# --- probe ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("empty.mp4", errors.EmptyFile),
        ("random.mp4", errors.NotAVideo),
        ("text.mp4", errors.NotAVideo),
        ("subtitles.mp4", errors.NotAVideo),
        ("text.bin", errors.NotAVideo),
        ("trunc.mp4", errors.CorruptMedia),
        ("trunc_faststart.mp4", errors.CorruptMedia),
        ("trunc.webm", errors.CorruptMedia),
        ("speech.wav", errors.NoVideoStream),
        ("speech.m4a", errors.NoVideoStream),
        ("cover_art.m4a", errors.NoVideoStream),
        ("photo.jpg", errors.NoVideoStream),
        ("photo.png", errors.NoVideoStream),
        ("one_frame.mp4", errors.NoVideoStream),
        ("no_frames.avi", errors.ZeroDuration),
        ("unknown_codec.avi", errors.UnsupportedCodec),
    ],
)
def test_probe_rejects_with_the_specific_error(bad: Path, name: str, error: type) -> None:
    with pytest.raises(error) as caught:
        probe(bad / name, LIMITS)
    assert type(caught.value) is error  # not a parent or sibling class
    assert caught.value.message and "Traceback" not in caught.value.message


def test_probe_limits(strip: Path) -> None:
    size = strip.stat().st_size
    with pytest.raises(errors.MediaTooLarge, match="MiB"):
        probe(strip, MediaSettings(max_bytes=size - 1))
    with pytest.raises(errors.MediaTooLong, match="min"):
        probe(strip, MediaSettings(max_duration_s=DURATION - 1))
    with pytest.raises(errors.UnsupportedCodec, match="h264"):
        probe(strip, MediaSettings(refused_codecs=["h264"]))
    assert (
        probe(strip, MediaSettings(max_bytes=size, max_duration_s=DURATION + 1)).size_bytes == size
    )


@pytest.mark.parametrize(
    ("name", "container", "codec", "duration", "size", "audio"), [x[:6] for x in SAMPLES]
)
def test_probe_good_files(samples, name, container, codec, duration, size, audio) -> None:
    info = probe(samples / name, LIMITS)
    assert (info.container, info.video_codec, (info.width, info.height)) == (container, codec, size)
    assert info.duration_s == pytest.approx(duration, abs=0.05)
    assert info.size_bytes == (samples / name).stat().st_size
    assert (info.has_audio, info.audio_codec) == (audio is not None, audio)
    assert info.fps > 0 and info.keyframes_per_min and info.keyframes_per_min > 0


def test_probe_counts_keyframes(strip: Path, long_gop: Path) -> None:
    # x264 puts an IDR at the start and at (most) scene cuts; the long-GOP encode has only one
    assert probe(strip, LIMITS).keyframes_per_min >= 3 * 60 / DURATION
    assert probe(long_gop, LIMITS).keyframes_per_min == pytest.approx(60 / DURATION)


def test_tools_missing(strip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(errors.ToolMissing, match="ffprobe"):
        probe(strip, LIMITS)
    with pytest.raises(errors.ToolMissing, match="ffmpeg"):
        next(iter(sample_frames(strip, 0, 1, DecodeSettings())))


# --- frames ---------------------------------------------------------------------------------------
def _check_times(frames: list[media.SampledFrame], t0: float, t1: float, start: float = 0.0
                 ) -> list[float]:  # fmt: skip
    """Times are increasing, in range, and the pictures' own: `start` is when the video stream
    starts on the file's clock."""
    times = [f.t for f in frames]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert all(t0 <= t < t1 for t in times)
    for f in frames:
        assert f.t == pytest.approx(start + true_time(f.image), abs=1e-3)
        assert f.image.dtype == np.uint8 and f.image.ndim == 3 and f.image.shape[2] == 3
    return times


def test_full_strategy_times_and_size(strip: Path) -> None:
    frames = list(sample_frames(strip, 0, DURATION, DecodeSettings(strategy="full", fps=2,
                                                                    small_side=180)))  # fmt: skip
    times = _check_times(frames, 0, DURATION)
    # the first frame in each half second (frames are 0.04 s apart)
    assert times == pytest.approx([math.ceil(k * 12.5) / 25 for k in range(32)], abs=1e-3)
    assert all(f.image.shape == (180, 320, 3) for f in frames)
    assert frames[0].keyframe and not frames[1].keyframe
    # never upscaled: 360p stays 360p
    big = next(iter(sample_frames(strip, 0, 1, DecodeSettings(strategy="full", small_side=720))))
    assert big.image.shape == (360, 640, 3)


@pytest.mark.parametrize("strategy", ["full", "keyframes"])
def test_every_segment_gets_a_frame(strip: Path, strategy: str) -> None:
    frames = list(sample_frames(strip, 0, DURATION, DecodeSettings(strategy=strategy)))
    times = _check_times(frames, 0, DURATION)
    assert {segment_of(t) for t in times} == set(range(len(SEGMENTS)))


def test_keyframes_alone_are_keyframes(strip: Path) -> None:
    settings = DecodeSettings(strategy="keyframes", max_gap_s=1e9)
    frames = list(sample_frames(strip, 0, DURATION, settings))
    _check_times(frames, 0, DURATION)
    assert frames and all(f.keyframe for f in frames)
    # x264 put IDR frames at the first two cuts: the new scenes are seen from their first frame
    assert {round(f.t, 3) for f in frames} >= {0.0, *CUTS[:2]}


@pytest.mark.parametrize("max_gap", [1.0, 2.0, 3.5])
@pytest.mark.parametrize(("t0", "t1"), [(0.0, DURATION), (5.3, 13.7), (12.2, DURATION)])
def test_gap_filling_bounds_every_gap(long_gop: Path, max_gap: float, t0: float, t1: float) -> None:
    settings = DecodeSettings(strategy="keyframes", max_gap_s=max_gap, fps=1)
    times = _check_times(list(sample_frames(long_gop, t0, t1, settings)), t0, t1)
    gaps = [b - a for a, b in pairwise([t0, *times, t1])]
    assert max(gaps) <= max_gap
    # not many more frames than needed (fill points keep up to 0.25 s of slack)
    assert len(times) <= (t1 - t0) / (0.75 * max_gap) + 2


@pytest.mark.parametrize("strategy", ["full", "keyframes"])
def test_ranges_give_absolute_times(strip: Path, strategy: str) -> None:
    settings = DecodeSettings(strategy=strategy, fps=1, small_side=180)
    whole = {f.t for f in sample_frames(strip, 0, DURATION, settings.model_copy(
        update={"fps": 25, "strategy": "full"}))}  # fmt: skip
    part = list(sample_frames(strip, 6.5, 11.0, settings))
    times = _check_times(part, 6.5, 11.0)
    assert times and all(any(abs(t - w) < 1e-3 for w in whole) for t in times)


@pytest.mark.xfail(
    strict=True,
    reason="indexer.media mislabels MPEG-PS frames after a seek: 'full' dates some frames 20 ms "
    "late (ffmpeg's seek offset without -copyts), 'keyframes' (skip_frame nokey) some a GOP late",
)
def test_mpeg_times_count_from_the_file_start() -> None:
    mpg = strip_video(ext="mpg")
    streams = media._ffprobe(mpg, "-show_entries format=start_time:stream=codec_type,start_time")[1]
    start = float(streams["format"]["start_time"])
    video = next(float(s["start_time"]) for s in streams["streams"] if s["codec_type"] == "video")
    assert start > 0.3  # the premise: MPEG-PS timestamps do not start at 0
    for strategy in ("full", "keyframes"):
        frames = list(sample_frames(mpg, 3.0, 9.0, DecodeSettings(strategy=strategy)))
        assert len(_check_times(frames, 3.0, 9.0, start=video - start)) >= 5


def _children() -> set[str]:
    pid = os.getpid()
    return {c for t in Path(f"/proc/{pid}/task").iterdir()
            for c in (t / "children").read_text().split()}  # fmt: skip


def test_stopping_early_ends_ffmpeg(strip: Path) -> None:
    before = _children()
    frames = sample_frames(strip, 0, DURATION, DecodeSettings(strategy="full", fps=25))
    first = next(frames)
    assert len(_children() - before) == 1  # one ffmpeg process, streaming
    frames.close()  # type: ignore[attr-defined]
    assert frame_number(first.image) == 0
    assert _children() == before


def test_a_hung_decoder_is_killed(tmp_path: Path) -> None:
    """ffmpeg reading a FIFO that nobody writes to decodes nothing, forever: after `stall_s`
    without a frame it is killed and the error says so (the part is then retried once)."""
    fifo = tmp_path / "never.mp4"
    os.mkfifo(fifo)
    before = _children()
    frames = sample_frames(fifo, 0, 10, DecodeSettings(stall_s=1.5))
    with pytest.raises(errors.DecodeStalled, match="no frame for 2 s"):
        next(frames)
    assert _children() == before  # killed and reaped


@pytest.mark.parametrize(
    ("a", "b", "gap", "fps", "expected"),
    [
        (0, 8.33, 8, 1, [1.0]),  # x264's 8.33 s GOP: one frame early in it, little to decode
        (0, 8.33, 2, 1, [1.645, 3.29, 4.935, 6.58]),  # last point at b - (gap - slack)
        (3, 4.9, 1.5, 1, [3.95]),  # short gap: the middle, not 0.35 s after a
        (0, 8.0, 8.0, 1, []),  # no gap longer than max_gap
    ],
)
def test_fill_points(a: float, b: float, gap: float, fps: float, expected: list[float]) -> None:
    points = fill_points(a, b, gap, fps)
    assert points == pytest.approx(expected)
    assert max(y - x for x, y in pairwise([a, *points, b])) <= gap


# --- audio and stills -----------------------------------------------------------------------------
def test_extract_audio(strip: Path, tmp_path: Path) -> None:
    dest = tmp_path / "a" / "audio.wav"
    assert extract_audio(strip, dest, 2.0, 7.5) is True
    with wave.open(str(dest)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        assert w.getnframes() == pytest.approx(5.5 * 16000, abs=160)
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32)
    spectrum = np.abs(np.fft.rfft(pcm))
    assert np.argmax(spectrum) * 16000 / len(pcm) == pytest.approx(440, abs=5)  # the test tone
    assert [p.name for p in dest.parent.iterdir()] == ["audio.wav"]  # no temp files left


def test_extract_audio_without_audio(samples: Path, tmp_path: Path) -> None:
    dest = tmp_path / "audio.wav"
    assert extract_audio(samples / "msmpeg4.avi", dest, 0, 10) is False
    assert not dest.exists() and list(tmp_path.iterdir()) == []


def test_jpegs(strip: Path) -> None:
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, 30:] = (200, 30, 90)
    back = np.asarray(Image.open(io.BytesIO(encode_jpeg(image, 95))))
    assert back.shape == image.shape and np.abs(back.astype(int) - image).mean() < 3

    for t, expected in ((5.0, 5.0), (-3.0, 0.0), (1e6, DURATION - 1 / 25)):
        jpeg = thumbnail_jpeg(strip, t, small_side=180)
        assert jpeg[:2] == b"\xff\xd8"
        picture = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
        assert picture.shape == (180, 320, 3)
        assert true_time(picture) == pytest.approx(expected, abs=0.1)
