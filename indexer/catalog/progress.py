"""Progress of a step, from the indexer's `Progress` callback into the step's row — the one way
it is written, by a Celery task and by `vidrag index` alike. It also notices when the step is no
longer this runner's (the video was deleted, or the step was given up for dead and taken by
another worker) and stops the work."""

from __future__ import annotations

import time
from collections.abc import Sequence

from indexer.catalog.steps import JobSteps


class StepLost(Exception):
    """The step's row no longer belongs to this runner: stop without touching anything else."""


class StepReporter:
    """`Progress` for one step: (stage, fraction of that stage) → fraction of the step,
    written at most every `interval_s` (stage starts and ends always)."""

    def __init__(
        self,
        catalog: JobSteps,
        job_id: int,
        step: str,
        owner: str,
        stages: Sequence[str],
        interval_s: float,
    ) -> None:
        self.catalog = catalog
        self.job_id = job_id
        self.step = step
        self.owner = owner
        self.stages = list(stages)
        self.interval_s = interval_s
        self._last = 0.0

    def __call__(self, stage: str, fraction: float) -> None:
        now = time.monotonic()
        edge = fraction <= 0.0 or fraction >= 1.0
        if not edge and now - self._last < self.interval_s:
            return
        self._last = now
        i = self.stages.index(stage) if stage in self.stages else 0
        overall = (i + max(0.0, min(1.0, fraction))) / max(1, len(self.stages))
        if not self.catalog.report(self.job_id, self.step, self.owner, stage, overall):
            raise StepLost(f"job {self.job_id} step {self.step} is no longer ours")
