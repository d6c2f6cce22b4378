"""`vidrag index`'s progress on the terminal: one bar per stage, measured in seconds of video, so a
short video (one part) and a long one (many parts in parallel) read the same way. A part's stage
adds the part's length to its bar when it ends; a finishing stage covers the whole video. Each
bar's clock starts when its stage first starts. Where stderr is not a terminal (a log, a pipe),
each advance is one plain line instead."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tqdm import tqdm

BAR_FORMAT = "{desc:>8} {percentage:3.0f}%|{bar:30}| {n:.0f}/{total:.0f} s of video [{elapsed}]"


class StageBars:
    """The bars of one run; every update is idempotent (a stage counts once per part)."""

    def __init__(
        self,
        parts: Sequence[tuple[float, float]],
        part_stages: Sequence[str],
        finish_stages: Sequence[str],
        *,
        enabled: bool = True,
        terminal: bool | None = None,
    ) -> None:
        self.parts = list(parts)
        self.part_stages = list(part_stages)
        self.finish_stages = list(finish_stages)
        self.duration = max((b for _, b in self.parts), default=0.0)
        self._counted: set[tuple[int, str]] = set()
        self._started: set[str] = set()
        self._done = dict.fromkeys([*part_stages, *finish_stages], 0.0)
        self.enabled = enabled
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self.bars = {
            stage: tqdm(
                total=round(self.duration, 1),
                desc=stage,
                bar_format=BAR_FORMAT,
                position=i,
                leave=True,
                disable=not (enabled and self.terminal),
            )
            for i, stage in enumerate(self.part_stages + self.finish_stages)
        }

    def part(self, k: int, stage: str, fraction: float) -> None:
        """A pool process's report: part `k` is `fraction` through `stage`."""
        self._start(stage)
        if fraction >= 1.0 and stage in self.part_stages:
            self._add(k, stage, self.parts[k][1] - self.parts[k][0])

    def part_done(self, k: int) -> None:
        """Part `k` finished (here or by another runner): all its stages count."""
        for stage in self.part_stages:
            self._add(k, stage, self.parts[k][1] - self.parts[k][0])

    def finish(self, stage: str, fraction: float) -> None:
        self._start(stage)
        if fraction >= 1.0 and stage in self.finish_stages:
            self._add(-1, stage, self.duration)

    def _add(self, k: int, stage: str, seconds: float) -> None:
        if (k, stage) in self._counted:
            return
        self._counted.add((k, stage))
        # counted here, not read back from tqdm: a disabled bar counts nothing
        total = round(self.duration, 1)
        # the last piece lands exactly on the total (part lengths are rounded floats)
        step = min(round(seconds, 1), total - self._done[stage])
        self._done[stage] += step
        self.bars[stage].update(step)
        if self.enabled and not self.terminal:
            line = f"{stage:>8} {self._done[stage]:.0f}/{total:.0f} s of video"
            print(line, file=sys.stderr, flush=True)

    def _start(self, stage: str) -> None:
        if stage in self._started or stage not in self.bars:
            return
        self._started.add(stage)
        bar = self.bars[stage]
        # the clock shows this stage's time, not the whole run's
        if self._done[stage] == 0 and not bar.disable:
            bar.reset(total=bar.total)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
