"""The picture of a realistic haystack, rendered and encoded in one pass.

The timeline is cut at every shot and needle boundary; each piece is one ffmpeg process that
writes exactly its frames (raw yuv420p) into the stdin of a single x264 encoder, which also muxes
the sound track. Pieces of one shot continue its footage (the seek offset carries on), and an
overlay that spans a cut carries on drifting, so the pieces leave no trace in the picture."""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.realistic_audio import run

BORDER = 4  # px of light frame around a sign or photo shown inside footage


def _fit(w: int, h: int, pad_color: str = "black") -> str:
    return (
        f"scale={w}:{h}:force_original_aspect_ratio=decrease,"
        f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:{pad_color},setsar=1"
    )


def piece_command(
    shot: Any, f0: int, f1: int, event: Any | None, size: tuple[int, int], fps: int,
    path_of: Callable[[str], Path],
) -> list[str]:  # fmt: skip
    """ffmpeg arguments that write frames [f0, f1) of the haystack as raw video to stdout."""
    w, h = size
    frames = f1 - f0
    footage = path_of(shot.source)
    seek = shot.offset_s + (f0 - shot.a) / fps
    foot_in = ["-ss", f"{seek:.3f}", "-stream_loop", "-1", "-i", str(footage)]
    foot = f"fps={fps},setpts=N/{fps}/TB,{_fit(w, h)}"
    t0 = (f0 - event.a) / fps if event else 0.0  # time into the needle when this piece starts
    if event is None:
        args, graph = foot_in, f"[0:v]{foot}[o]"
    elif event.spec.show == "overlay":
        b = event.box
        image = ["-loop", "1", "-framerate", str(fps), "-i", str(path_of(event.spec.source[0]))]
        args = foot_in + image
        graph = (
            f"[0:v]{foot}[bg];[1:v]scale={int(b['w'])}:{int(b['h'])},"
            f"pad=iw+{2 * BORDER}:ih+{2 * BORDER}:{BORDER}:{BORDER}:0xEEEEEE,format=rgba[ov];"
            f"[bg][ov]overlay=x='{b['x0']}+{b['vx']}*(t+{t0:.3f})':y={b['y0']}:eval=frame[o]"
        )
    elif event.spec.show in ("still", "slide"):
        image = ["-loop", "1", "-framerate", str(fps), "-i", str(path_of(event.spec.source[0]))]
        args = image
        if event.spec.show == "slide":
            graph = f"[0:v]{_fit(w, h, '0x202020')}[o]"
        else:  # a slow pan across a slightly larger copy, as a documentary shows a photo
            big_w, big_h = 2 * round(w * 1.08 / 2), 2 * round(h * 1.08 / 2)
            length = (event.b - event.a) / fps
            graph = (
                f"[0:v]{_fit(big_w, big_h)},crop={w}:{h}:"
                f"x='(iw-ow)*min(1,(t+{t0:.3f})/{length:.3f})':y='(ih-oh)/2'[o]"
            )
    elif event.spec.show == "clip":
        args = ["-ss", f"{t0:.3f}", "-i", str(path_of(event.spec.source[0]))]
        graph = f"[0:v]{foot}[o]"
    else:
        raise ValueError(f"unknown show {event.spec.show!r}")
    graph += ";[o]format=yuv420p,tpad=stop=-1:stop_mode=clone[v]"  # exactly `frames` frames
    return [
        "ffmpeg", "-v", "error", "-nostdin", *args, "-filter_complex", graph, "-map", "[v]",
        "-frames:v", str(frames), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-",
    ]  # fmt: skip


def pieces(cuts: list[Any], events: list[Any]) -> list[tuple[Any, int, int, Any | None]]:
    """(shot, f0, f1, event or None) covering the timeline, cut at every boundary."""
    bounds = sorted({0, cuts[-1].b, *(s.a for s in cuts), *(e.a for e in events),
                     *(e.b for e in events)})  # fmt: skip
    out = []
    si = 0
    for f0, f1 in itertools.pairwise(bounds):
        while cuts[si].b <= f0:
            si += 1
        event = next((e for e in events if e.a <= f0 < e.b), None)
        out.append((cuts[si], f0, f1, event))
    return out


def render_video(
    dest: Path, cuts: list[Any], events: list[Any], wav: Path, size: tuple[int, int], fps: int,
    path_of: Callable[[str], Path],
) -> int:  # fmt: skip
    """Encode the whole timeline and `wav` into `dest` with one libx264 pass; returns the
    number of pieces rendered."""
    w, h = size
    # x264 defaults for GOP and scene cuts: keyframes fall where a real encode puts them
    x264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"]
    raw_in = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}", "-r", str(fps)]
    cmd = ["ffmpeg", "-v", "error", "-y", *raw_in, "-i", "pipe:0", "-i", str(wav), "-map", "0:v",
           "-map", "1:a", *x264, "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart",
           str(dest)]  # fmt: skip
    encoder = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert encoder.stdin is not None
    todo = pieces(cuts, events)
    try:
        for shot, f0, f1, event in todo:
            cmd = piece_command(shot, f0, f1, event, size, fps, path_of)
            p = subprocess.run(cmd, stdout=encoder.stdin, stderr=subprocess.PIPE, check=False)
            if p.returncode != 0:
                raise RuntimeError(f"frames {f0}-{f1}: {p.stderr.decode(errors='replace')[-600:]}")
    finally:
        encoder.stdin.close()
        err = encoder.stderr.read().decode(errors="replace") if encoder.stderr else ""
        if encoder.wait() != 0:
            raise RuntimeError(f"x264 encode of {dest.name} failed: {err[-600:]}")
    return len(todo)


def keyframe_times(video: Path) -> list[float]:
    """Presentation times of the video's keyframes (decodes keyframes only)."""
    out = run(["ffprobe", "-v", "error", "-select_streams", "v", "-skip_frame", "nokey",
               "-show_entries", "frame=pts_time", "-of", "csv=p=0", str(video)])  # fmt: skip
    return [float(x.strip(",")) for x in out.decode().split() if x.strip(",")]
