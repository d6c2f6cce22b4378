"""YOLO weights for the tests, from wherever they can be had: `VIDRAG_DETECT__MODEL` when set,
else the YOLO11n checkpoint of `$VIDRAG_SHARED_DIR/models` (by default the `shared` folder beside
the clone, as on CI) when present, else Ultralytics' `yolo11n.pt` downloaded once into the test
cache. Where none can be had, detection is off: detection tests skip with the reason, and the
tests that index videos run without detection and expect it reported off."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from indexer.settings import DetectSettings
from tests.synth import CACHE

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIDRAG_SHARED_DIR", REPO.parent / "shared"))
SHARED_YOLO = SHARED / "models" / "yolo11n" / "yolo11n_ovint8_rebuilt.pt"
DOWNLOADED_YOLO = CACHE / "models" / "yolo11n.pt"


@functools.cache
def _resolve() -> tuple[Path | None, str]:
    configured = os.environ.get("VIDRAG_DETECT__MODEL")
    if configured:
        path = Path(configured).expanduser()
        return (path, "") if path.exists() else (None, f"VIDRAG_DETECT__MODEL={path} not found")
    if SHARED_YOLO.is_file():
        return SHARED_YOLO, ""
    if DOWNLOADED_YOLO.is_file():
        return DOWNLOADED_YOLO, ""
    from indexer.extractors.hub import reachable

    if not reachable("github.com"):
        return None, (
            f"no YOLO weights: VIDRAG_DETECT__MODEL is not set, {SHARED_YOLO} is missing and "
            "github.com (Ultralytics' yolo11n.pt) is unreachable"
        )
    try:
        from ultralytics.utils.downloads import attempt_download_asset

        DOWNLOADED_YOLO.parent.mkdir(parents=True, exist_ok=True)
        attempt_download_asset(str(DOWNLOADED_YOLO))
    except Exception as e:  # network and file errors come in many types
        return None, f"no YOLO weights: downloading yolo11n.pt failed ({type(e).__name__}: {e})"
    if not DOWNLOADED_YOLO.is_file():
        return None, "no YOLO weights: the yolo11n.pt download left no file"
    return DOWNLOADED_YOLO, ""


def yolo_weights() -> Path | None:
    """The YOLO weights the tests use, or None when none can be had here."""
    return _resolve()[0]


def no_yolo_reason() -> str:
    """Why there are no weights ("" when there are)."""
    return _resolve()[1]


def require_yolo() -> Path:
    """The weights, or a skip of the calling (detection) test saying why there are none."""
    path = yolo_weights()
    if path is None:
        pytest.skip(no_yolo_reason())
    return path


def detect_settings(**overrides: object) -> DetectSettings:
    """Detection with the tests' weights, or switched off when there are none."""
    path = yolo_weights()
    if path is None:
        return DetectSettings(backend="none", **overrides)  # type: ignore[arg-type]
    return DetectSettings(model=str(path), **overrides)  # type: ignore[arg-type]


def detect_env() -> dict[str, str]:
    """The same, as the environment of a service process."""
    path = yolo_weights()
    if path is None:
        return {"VIDRAG_DETECT__BACKEND": "none"}
    return {"VIDRAG_DETECT__MODEL": str(path)}
