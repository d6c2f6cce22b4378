"""The catalog calls a `vidrag index` run needs beyond a worker's, on SQLite: an interrupted run
gives its steps back (the next runner takes them at once, without waiting for a stale
heartbeat), the owners of running steps can be read (to find a killed run's), and a failed job
is reopened with its finished steps kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.catalog import FAILED, QUEUED, Catalog, Claim, part_step
from indexer.service_settings import ServiceSettings
from tests.service.test_catalog import FakeManifest

STALE_S = 3600.0  # a held step never goes stale during these tests


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    cat = Catalog(ServiceSettings(data_dir=tmp_path).db_url())
    cat.create_all()
    yield cat
    cat.dispose()


def _job_with_parts(catalog: Catalog, vid: str, parts: int) -> int:
    state, _ = catalog.add_video(FakeManifest(vid))
    assert catalog.start_job(state.job_id)
    catalog.set_parts(state.job_id, parts)
    return state.job_id


def test_released_steps_are_taken_at_once(catalog: Catalog) -> None:
    job = _job_with_parts(catalog, "aaaa000000000000", 3)
    run = "cli:host:123:abcd"
    for k in range(3):
        assert catalog.claim_step(job, part_step(k), run, STALE_S)[0] is Claim.CLAIMED
    assert catalog.step_done(job, part_step(0), run)
    assert catalog.running_owners(job) == {run}
    assert catalog.claim_step(job, part_step(1), "next-run", STALE_S)[0] is Claim.BUSY

    assert catalog.release(job, "someone-else") == 0
    assert catalog.release(job, run) == 2  # the two running steps, not the done one
    assert catalog.running_owners(job) == set()
    assert catalog.claim_step(job, part_step(0), "next-run", STALE_S)[0] is Claim.DONE
    assert catalog.claim_step(job, part_step(1), "next-run", STALE_S)[0] is Claim.CLAIMED
    assert catalog.running_owners(job) == {"next-run"}
    # the released run can no longer write its old steps
    assert not catalog.report(job, part_step(1), run, "speech", 0.5)
    assert not catalog.step_done(job, part_step(2), run)


def test_a_failed_job_is_reopened_with_its_done_steps(catalog: Catalog) -> None:
    job = _job_with_parts(catalog, "bbbb000000000000", 2)
    assert catalog.claim_step(job, part_step(0), "t1", STALE_S)[0] is Claim.CLAIMED
    assert catalog.step_done(job, part_step(0), "t1")
    assert catalog.claim_step(job, part_step(1), "t2", STALE_S)[0] is Claim.CLAIMED
    assert catalog.mark_failed(job, "corrupt_media", "part 1 cannot be decoded")
    failed = catalog.get("bbbb000000000000")
    assert failed is not None and failed.status == FAILED and failed.error_type == "corrupt_media"

    assert catalog.reopen(job)
    assert not catalog.reopen(job)  # only a failed job
    state = catalog.get("bbbb000000000000")
    assert state is not None and state.status == QUEUED and state.error_type is None
    assert state.finished_at is None and state.parts_done == 1
    assert catalog.start_job(job)
    assert catalog.set_parts(job, 2) == [1]
    assert catalog.claim_step(job, part_step(1), "t3", STALE_S)[0] is Claim.CLAIMED
