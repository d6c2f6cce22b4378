"""Audio of the realistic haystack: decoding real recordings to one rate, levels, the voiced
span of an utterance, espeak-ng voices, and mixing into one long track (float32, mono).

Levels are set on the loudness of the voiced part (20 ms frames within 30 dB of the loudest), so
a quiet recording with long pauses is not boosted into clipping and a needle's level does not
depend on how much silence its file carries."""

from __future__ import annotations

import tempfile
import wave
from pathlib import Path

import numpy as np

from bench.haystack_media import duration_of, run

RATE = 22050
_FRAME = RATE // 50  # 20 ms


# the command runner and duration probe of the test haystack builder serve here too
probe_duration = duration_of


def decode(path: Path, start: float = 0.0, seconds: float | None = None) -> np.ndarray:
    """Mono float32 samples at RATE of `path` from `start` (the whole file by default); empty
    when the file has no audio stream."""
    args = ["ffmpeg", "-v", "error", "-ss", f"{start:.3f}"]
    if seconds is not None:
        args += ["-t", f"{seconds:.3f}"]
    args += ["-i", str(path), "-vn", "-ac", "1", "-ar", str(RATE), "-f", "f32le", "-"]
    try:
        return np.frombuffer(run(args), dtype=np.float32).copy()
    except RuntimeError as e:
        if "does not contain any stream" in str(e) or "matches no streams" in str(e):
            return np.zeros(0, np.float32)
        raise


def _frame_db(x: np.ndarray) -> np.ndarray:
    n = len(x) // _FRAME
    if n == 0:
        return np.full(1, -120.0)
    frames = x[: n * _FRAME].reshape(n, _FRAME).astype(np.float64)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)


def active_db(x: np.ndarray) -> float:
    """Loudness of the voiced part: mean power of the frames within 30 dB of the loudest."""
    db = _frame_db(x)
    loud = db[db > db.max() - 30]
    return float(10 * np.log10(np.mean(10 ** (loud / 10)) + 1e-12))


def at_level(x: np.ndarray, target_db: float) -> np.ndarray:
    """`x` scaled so that its voiced part is at `target_db` dBFS (silence stays silence)."""
    if len(x) == 0 or active_db(x) < -70:
        return x
    return (x * 10 ** ((target_db - active_db(x)) / 20)).astype(np.float32)


def voiced_span(x: np.ndarray, below_peak_db: float = 35.0) -> tuple[float, float]:
    """(start, end) in seconds of the part of `x` louder than `below_peak_db` under its loudest
    20 ms frame: the utterance without the leading and trailing silence of its file."""
    db = _frame_db(x)
    on = np.flatnonzero(db > db.max() - below_peak_db)
    if len(on) == 0:
        return 0.0, len(x) / RATE
    return on[0] * _FRAME / RATE, min(len(x), (on[-1] + 1) * _FRAME) / RATE


def espeak(voice: str, text: str) -> np.ndarray:
    """`text` spoken by espeak-ng's `voice` (e.g. "fr", "de+m3"), at RATE."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "say.wav"
        run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text])
        return decode(wav)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), np.float32)


def mix(track: np.ndarray, x: np.ndarray, at_s: float, gain: float = 1.0) -> None:
    """Add `x` * `gain` into `track` from `at_s` seconds (clipped at the track's end)."""
    a = round(at_s * RATE)
    if a >= len(track) or len(x) == 0:
        return
    n = min(len(x), len(track) - a)
    track[a : a + n] += x[:n] * gain


def loop_excerpt(bank: np.ndarray, offset_s: float, seconds: float) -> np.ndarray:
    """`seconds` of `bank` from `offset_s`, wrapping around its end."""
    n = round(seconds * RATE)
    start = round(offset_s * RATE) % len(bank)
    reps = (start + n) // len(bank) + 1
    return np.tile(bank, reps)[start : start + n]


def write_wav(path: Path, track: np.ndarray) -> None:
    """16-bit mono WAV; a peak over full scale is brought down rather than clipped."""
    peak = float(np.max(np.abs(track))) if len(track) else 0.0
    scaled = track / peak * 0.98 if peak > 0.98 else track
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((scaled * 32767).astype(np.int16).tobytes())


def duck(track: np.ndarray, start_s: float, end_s: float, gain: float, ramp_s: float = 0.1) -> None:
    """Scale `track` by `gain` over [start_s, end_s], with linear ramps outside it (no clicks)."""
    env = np.ones(len(track), np.float32)
    a, b = max(0, round(start_s * RATE)), min(len(track), round(end_s * RATE))
    r = round(ramp_s * RATE)
    env[a:b] = gain
    ramp = np.linspace(1, gain, r, dtype=np.float32)
    lo, hi = max(0, a - r), min(len(track), b + r)
    env[lo:a] = ramp[r - (a - lo) :]
    env[b:hi] = ramp[::-1][: hi - b]
    track[lo:hi] *= env[lo:hi]
