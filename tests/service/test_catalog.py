"""The catalog's job bookkeeping, on SQLite and on PostgreSQL: one job per video, steps claimed
by one owner at a time, dead owners taken over, progress that never moves back, and every write
of a step guarded by its owner."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from indexer.catalog import (
    FAILED,
    FINISH,
    PROCESSING,
    QUEUED,
    READY,
    Catalog,
    Claim,
    ServiceSettings,
    part_step,
)
from indexer.types import MediaInfo


class FakeManifest:
    """The fields of `manifest.VideoManifest` that the catalog reads."""

    def __init__(self, vid: str, title: str = "t") -> None:
        self.id, self.sha256, self.title, self.filename = vid, vid * 4, title, f"{title}.mp4"
        self.media = MediaInfo(
            size_bytes=1000,
            duration_s=75.0,
            container="mp4",
            video_codec="h264",
            width=640,
            height=360,
            fps=25.0,
            has_audio=True,
        )


@pytest.fixture(params=["sqlite", "postgres"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    if request.param == "sqlite":
        url = ServiceSettings(data_dir=tmp_path).db_url()
    else:
        url = ServiceSettings(database_url=request.getfixturevalue("postgres_url")).db_url()
    cat = Catalog(url)
    cat.create_all()
    cat.create_all()  # idempotent: gateway and workers both call it at start
    yield cat
    cat.dispose()


def test_add_video_is_deduplicated_and_listed_newest_first(catalog: Catalog) -> None:
    a, created = catalog.add_video(FakeManifest("aaaa000000000000", "first"), language="en")
    assert created and a.status == QUEUED and a.language == "en" and a.percent == 0
    again, created = catalog.add_video(FakeManifest("aaaa000000000000", "other title"))
    assert not created and again.job_id == a.job_id and again.title == "first"
    time.sleep(0.01)
    catalog.add_video(FakeManifest("bbbb000000000000", "second"))
    videos, total = catalog.list_videos()
    assert total == 2 and [v.id for v in videos] == ["bbbb000000000000", "aaaa000000000000"]
    assert catalog.unfinished_jobs() == [(v.id, v.job_id) for v in reversed(videos)]
    assert catalog.undispatched_jobs() == catalog.unfinished_jobs()
    catalog.mark_enqueued(a.job_id)
    assert [v for v, _ in catalog.undispatched_jobs()] == ["bbbb000000000000"]


def test_a_job_runs_its_steps_to_ready(catalog: Catalog) -> None:
    v, _ = catalog.add_video(FakeManifest("cccc000000000000"))
    job = v.job_id
    assert catalog.start_job(job)
    assert catalog.get(v.id).status == PROCESSING  # type: ignore[union-attr]
    assert catalog.set_parts(job, 2) == [0, 1]
    assert catalog.set_parts(job, 2) == [0, 1]  # planning again changes nothing

    assert catalog.claim_step(job, part_step(0), "task-a", stale_s=60)[0] is Claim.CLAIMED
    assert catalog.claim_step(job, part_step(0), "task-b", stale_s=60)[0] is Claim.BUSY
    # a redelivered message has the same task id and takes its step back at once
    assert catalog.claim_step(job, part_step(0), "task-a", stale_s=60)[0] is Claim.CLAIMED
    assert catalog.report(job, part_step(0), "task-a", "speech", 0.5)
    assert not catalog.report(job, part_step(0), "task-b", "speech", 0.9)  # not its step
    mid = catalog.get(v.id)
    assert mid is not None and mid.stage == "speech" and 2 < mid.percent < 50

    assert catalog.step_done(job, part_step(0), "task-a")
    assert catalog.claim_step(job, part_step(0), "task-c", stale_s=60)[0] is Claim.DONE
    assert catalog.set_parts(job, 2) == [1]
    assert catalog.claim_step(job, part_step(1), "task-d", stale_s=60)[0] is Claim.CLAIMED
    assert catalog.step_done(job, part_step(1), "task-d")
    assert catalog.claim_step(job, FINISH, "task-e", stale_s=60)[0] is Claim.CLAIMED
    assert not catalog.mark_ready(job, "task-x", {"clip_count": 3})  # only the owner may
    assert catalog.mark_ready(
        job,
        "task-e",
        {
            "clip_count": 8,
            "capabilities": {
                "asr": {"ok": True, "backend": "pocketsphinx", "model": "en-us", "reason": ""}
            },
        },
    )
    done = catalog.get(v.id)
    assert done is not None and done.status == READY and done.percent == 100
    assert done.clip_count == 8 and done.parts_done == 2 and done.parts_total == 2
    assert done.capabilities["asr"]["backend"] == "pocketsphinx"
    assert catalog.claim_step(job, FINISH, "task-f", stale_s=60)[0] is Claim.GONE
    assert catalog.unfinished_jobs() == []
    assert not catalog.start_job(job)  # a late duplicate prepare does not reopen it


def test_progress_never_moves_back(catalog: Catalog) -> None:
    v, _ = catalog.add_video(FakeManifest("dddd000000000000"))
    catalog.start_job(v.job_id)
    catalog.set_parts(v.job_id, 1)
    catalog.claim_step(v.job_id, part_step(0), "t1", stale_s=60)
    catalog.report(v.job_id, part_step(0), "t1", "ocr", 0.6)
    high = catalog.get(v.id).percent  # type: ignore[union-attr]
    catalog.report(v.job_id, part_step(0), "t1", "decode", 0.1)  # a retried stage restarts
    assert catalog.get(v.id).percent == high  # type: ignore[union-attr]


def test_dead_owners_are_reclaimed_once(catalog: Catalog) -> None:
    v, _ = catalog.add_video(FakeManifest("eeee000000000000"))
    catalog.start_job(v.job_id)
    catalog.set_parts(v.job_id, 2)
    assert catalog.claim_step(v.job_id, part_step(0), "dead", stale_s=60)[0] is Claim.CLAIMED
    assert catalog.reclaim_stale(stale_s=60) == []  # it beat just now
    time.sleep(1.2)
    catalog.heartbeat(["nobody"])  # beats only touch the beating owner's steps
    # the step is stale: a new task may take it even before the sweep resets it
    assert catalog.claim_step(v.job_id, part_step(0), "other", stale_s=1)[0] is Claim.CLAIMED
    time.sleep(1.2)
    assert catalog.reclaim_stale(stale_s=1) == [(v.id, v.job_id)]
    # whoever takes the step next learns whom it took it from (to close that task's chord)
    assert catalog.claim_step(v.job_id, part_step(0), "third", stale_s=60) == (
        Claim.CLAIMED,
        "other",
    )
    assert catalog.reclaim_stale(stale_s=1) == []  # compare-and-set: a second sweep finds none
    assert not catalog.report(v.job_id, part_step(0), "other", "ocr", 0.5)  # no longer its step


def test_silent_jobs_are_stranded_only_when_nothing_runs(catalog: Catalog) -> None:
    never, _ = catalog.add_video(FakeManifest("gggg000000000000"))
    running, _ = catalog.add_video(FakeManifest("hhhh000000000000"))
    unsent, _ = catalog.add_video(FakeManifest("iiii000000000000"))
    catalog.mark_enqueued(never.job_id)
    catalog.mark_enqueued(running.job_id)
    catalog.start_job(running.job_id)
    catalog.set_parts(running.job_id, 1)
    catalog.claim_step(running.job_id, part_step(0), "alive", stale_s=60)
    assert catalog.stranded_jobs(idle_s=60) == []  # all young
    time.sleep(1.2)
    # the one sent and never started is stranded; the one whose step runs is not, nor the one
    # never sent (the sweep's undispatched path sends that)
    assert catalog.stranded_jobs(idle_s=1) == [(never.id, never.job_id)]
    catalog.step_done(running.job_id, part_step(0), "alive")
    time.sleep(1.2)
    # its part is done and nothing followed (the finish message was lost): stranded too
    assert catalog.stranded_jobs(idle_s=1) == [
        (never.id, never.job_id),
        (running.id, running.job_id),
    ]
    catalog.mark_enqueued(never.job_id)  # sent again: its clock restarts
    assert catalog.stranded_jobs(idle_s=1) == [(running.id, running.job_id)]
    catalog.mark_failed(running.job_id, "cancelled", "by the test")
    assert catalog.stranded_jobs(idle_s=1) == []
    assert unsent.job_id not in [j for _, j in catalog.stranded_jobs(idle_s=0)]


def test_failure_and_delete(catalog: Catalog) -> None:
    v, _ = catalog.add_video(FakeManifest("ffff000000000000"))
    catalog.start_job(v.job_id)
    catalog.set_parts(v.job_id, 1)
    catalog.claim_step(v.job_id, part_step(0), "t", stale_s=60)
    assert catalog.mark_failed(v.job_id, "corrupt_media", "index_part: bad packet")
    failed = catalog.get(v.id)
    assert failed is not None and failed.status == FAILED
    assert (failed.error_type, failed.error_message) == ("corrupt_media", "index_part: bad packet")
    assert not catalog.mark_failed(v.job_id, "other", "only the first failure counts")
    assert isinstance(failed.finished_at, datetime)
    assert catalog.delete(v.id)
    assert catalog.get(v.id) is None and not catalog.delete(v.id)
    assert catalog.claim_step(v.job_id, part_step(0), "t", stale_s=60)[0] is Claim.GONE
    assert not catalog.job_alive(v.job_id)
