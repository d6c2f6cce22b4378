"""Issue 2, must-hold 3: killing `vidrag index` mid-way and running it again finishes from the
completed stages; finished stages are not recomputed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.weights import detect_env

pytestmark = pytest.mark.slow


def _env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        VIDRAG_DATA_DIR=str(data_dir),
        VIDRAG_HF_OFFLINE="true",
        **detect_env(),
        VIDRAG_SEGMENT__PART_S="30",  # several parts, so a kill lands between finished ones
    )
    return env


def _markers(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("stages/*.json")}


def test_killed_index_run_resumes_without_recomputing(tmp_path):
    from tests.haystacks import needle_haystack

    video = needle_haystack("resume", 75, seed=2).path
    env = _env(tmp_path)
    cmd = [sys.executable, "-m", "app.cli", "index", str(video), "--jobs", "1"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # wait until the first part is fully done, then kill the run in the middle of the next ones
    deadline = time.monotonic() + 300
    first_part_done = None
    while time.monotonic() < deadline and proc.poll() is None:
        first_part_done = next(tmp_path.rglob("parts/0000/stages/frames.json"), None)
        if first_part_done:
            break
        time.sleep(0.2)
    assert first_part_done, "first part never finished"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    video_dir = first_part_done.parents[3]
    before = _markers(video_dir)
    assert not (video_dir / "stages" / "index.json").exists(), "the run was not interrupted"

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    after = _markers(video_dir)
    # every stage finished before the kill kept its marker untouched: it was not run again
    assert {k: after[k] for k in before} == before
    assert (video_dir / "stages" / "index.json").exists()
    assert len(after) > len(before)
    # the frames on disk are exactly the ones the parts recorded: none lost, none extra
    recorded = sum(len(p.read_text().splitlines()) for p in video_dir.glob("parts/*/frames.jsonl"))
    assert recorded == len(list((video_dir / "frames").glob("*.jpg")))
    assert not list(video_dir.rglob("*.tmp")), "temp files left behind"


def test_a_rerun_part_removes_the_temp_files_its_killed_run_left(tmp_path: Path) -> None:
    """What a SIGKILL mid-write leaves (`.name.XXXX.tmp`) is removed when the part is decoded
    again: its own directory's, and its frames' in the shared `frames/`, not another part's."""
    from indexer.part_stages import _remove_stale_temps
    from indexer.store import ArtifactStore

    store = ArtifactStore(tmp_path / "video")
    part = store.part(1)
    (part.root / "stages").mkdir(parents=True)
    mine = [part.root / ".audio.wav.ab12.tmp", part.root / "stages" / ".frames.json.cd34.tmp"]
    frames = store.path("frames")
    frames.mkdir()
    mine.append(frames / ".0000034000.jpg.ef56.tmp")  # 34 s: inside part 1's [30, 60)
    other = frames / ".0000061000.jpg.gh78.tmp"  # part 2's, being written now
    for f in [*mine, other]:
        f.write_bytes(b"half")
    _remove_stale_temps(store, part, 30.0, 60.0)
    assert [f for f in mine if f.exists()] == [] and other.exists()
