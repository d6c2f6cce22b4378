"""The ffmpeg command-line tools, run as subprocesses, and the parsing of what they print."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from indexer.errors import DecodeStalled, ToolMissing


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolMissing(f"{name} is not installed; install ffmpeg (e.g. apt-get install ffmpeg)")
    return path


def run(args: list[str], timeout: float, stdin: bytes | None = None) -> tuple[int, bytes, str]:
    try:
        p = subprocess.run(args, input=stdin, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        name = Path(args[0]).name
        raise DecodeStalled(f"{name} gave up on the file after {timeout:.0f} s") from e
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def ffprobe(path: Path, flags: str, *more: str) -> tuple[int, dict[str, Any], str]:
    """ffprobe's JSON about `path`; `flags` is split on spaces, `more` passed as they are."""
    args = [tool("ffprobe"), "-v", "error", "-of", "json", *flags.split(), *more, str(path)]
    rc, out, err = run(args, timeout=120.0)
    return rc, json.loads(out or b"{}"), err


def ffmpeg(*args: str, timeout: float = 120.0) -> tuple[int, bytes, str]:
    return run([tool("ffmpeg"), "-hide_banner", "-nostdin", "-v", "error", *args], timeout)


def num(x: object) -> float | None:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def rate(s: object) -> float:
    numerator, _, den = str(s or "0/0").partition("/")
    n, d = num(numerator), num(den or "1")
    return n / d if n and d else 0.0


def hms(s: object) -> float | None:  # matroska stream tag DURATION=00:00:30.003000000
    m = re.fullmatch(r"(\d+):(\d+):([\d.]+)", str(s or ""))
    return int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3]) if m else None


@cache
def fps_mode_flag() -> str:
    """ffmpeg's option that keeps frames' own times: -vsync before 5.1, -fps_mode after."""
    m = re.search(r"version n?(\d+)\.(\d+)", ffmpeg("-version")[1].decode())
    return "-vsync" if m and (int(m[1]), int(m[2])) < (5, 1) else "-fps_mode"
