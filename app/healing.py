"""Damaged indexes heal without a person: a `ready` video whose index on disk cannot be loaded
(a truncated file, garbage in the clip table, a half-written meta.json) is re-indexed from its
stored source by the gateway's sweep, and searches over the rest of the library go on meanwhile
(the search engine fails one video, never the library: `indexer.search`).

A video whose index still cannot be loaded after `jobs.heal_attempts` re-indexes by this
gateway is marked failed (`index_unloadable`) instead of being re-indexed forever; a source
that is itself damaged fails its re-index with the media error, which also ends the loop. Two
gateways may both notice the same video: the second re-index finds the job queued again and
starts it over, which costs one extra run, not a wrong result."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from app.jobs import reindex
from indexer.catalog import READY, Outcome

if TYPE_CHECKING:
    from app.deps import Services

log = logging.getLogger("vidrag.gateway")
UNLOADABLE = "index_unloadable"


class IndexHealer:
    """Remembers how often this gateway re-indexed each video to repair it."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.tries: dict[str, int] = {}

    def run(self) -> dict[str, list[str]]:
        """One pass over the videos the search engine could not load; returns what it did."""
        s = self.services
        if "searcher" not in s.__dict__ or not s.searcher.loaded:
            return {"reindexed": [], "failed": []}  # nothing loaded yet: nothing known broken
        states = s.searcher.video_states()
        broken = [vid for vid, st in states.items() if st.state == "failed"]
        # an index rewritten since it failed (a re-index that finished) is loaded next, not
        # re-indexed again
        fresh = set(s.searcher.watcher.pending(broken))
        done: dict[str, list[str]] = {"reindexed": [], "failed": []}
        for vid in broken:
            video = s.catalog.get(vid)
            if vid in fresh or video is None or video.status != READY:
                continue  # deleted, being indexed, or already failed
            reason = states[vid].reason
            if self.tries.get(vid, 0) >= s.settings.jobs.heal_attempts:
                message = f"the index could not be loaded after re-indexing: {reason}"
                if s.catalog.fail_ready(vid, UNLOADABLE, message):
                    log.error("video %s: %s", vid, message)
                    done["failed"].append(vid)
                continue
            outcome = reindex(s.catalog, s.dispatcher, s.library, s.settings, vid)
            if outcome is Outcome.DONE:
                self.tries[vid] = self.tries.get(vid, 0) + 1
                log.warning("video %s: index unloadable (%s); re-indexing", vid, reason)
                done["reindexed"].append(vid)
        return done
