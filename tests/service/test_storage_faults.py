"""Issue 13: a full data disk (a real 24 MiB tmpfs) with a real gateway, Celery worker and Redis.
An upload larger than the free space is refused as `insufficient_storage` (507) and leaves no
partial file; an ingest that runs out of space fails as `insufficient_storage` (not as bad
media), and once space returns the gateway's sweep queues it again and it becomes ready —
without a restart by hand. Skipped where tmpfs cannot be mounted (not root)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.conftest import Gateway, is_ready, service_env, upload, wait_until, worker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
SIZE_MB = 24


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip() or r.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _fill(path: Path, leave_bytes: int) -> None:
    """A ballast file that leaves about `leave_bytes` free on the disk of `path`."""
    free = os.statvfs(path).f_bavail * os.statvfs(path).f_frsize
    with (path / "ballast").open("wb") as f:
        f.truncate(0)
        chunk = b"\0" * 2**20
        todo = max(0, free - leave_bytes)
        while todo > 0:
            todo -= f.write(chunk[: min(len(chunk), todo)])


def test_a_full_disk_is_typed_cleaned_up_and_healed(
    small_disk: Path, tmp_path: Path, redis_url: str, small_video: Path
) -> None:
    data = small_disk / "data"
    env = service_env(
        data,
        VIDRAG_BROKER_URL=redis_url,
        # the catalog lives elsewhere: what fills up here is the data directory
        VIDRAG_DATABASE_URL=f"sqlite:///{tmp_path / 'catalog.db'}",
        VIDRAG_JOBS__MAX_RETRIES="1",
        VIDRAG_JOBS__RETRY_BACKOFF_S="0.5",
        VIDRAG_JOBS__RESEND_AFTER_S="2",
        VIDRAG_JOBS__MIN_FREE_MB="8",
    )
    big = tmp_path / "big.mp4"
    big.write_bytes(small_video.read_bytes() + os.urandom((SIZE_MB + 8) * 2**20))
    gw = Gateway(env).start()
    w = worker(env).start()
    try:
        with gw.client() as client:
            before = _files(data)
            r = upload(client, big)
            assert r.status_code == 507, r.text
            assert r.json()["error"]["type"] == "insufficient_storage", r.text
            assert _files(data) == before  # the partial upload is gone
            assert client.get("/healthz").status_code == 200

            # room for the upload, not for what indexing writes (frames, audio)
            _fill(small_disk, leave_bytes=small_video.stat().st_size + 96 * 1024)
            r = upload(client, small_video, title="no room to index")
            assert r.status_code == 202, r.text
            vid = r.json()["id"]
            failed = wait_until(client, vid, lambda b: b["status"] == "failed", 300, (gw, w))
            assert failed["error"]["type"] == "insufficient_storage", failed
            assert not [f for f in _files(data) if f.endswith(".tmp") or ".part" in f]
            assert "low" in client.get("/readyz").json()["checks"]["disk"]

            (small_disk / "ballast").unlink()  # space returns: the sweep queues it again
            deadline = time.monotonic() + 60
            while client.get(f"/v1/videos/{vid}").json()["status"] == "failed":
                assert time.monotonic() < deadline, gw.tail()
                time.sleep(0.5)
            done = wait_until(client, vid, is_ready, 300, (gw, w))
            assert done["clip_count"] > 0 and done["error"] is None
    finally:
        w.stop()
        gw.stop()
