"""Retrieval as the API sees it: check the request, decide which videos to search (the database
says which exist and are ready), run the indexer's Searcher, and shape its hits."""

from __future__ import annotations

from app.deps import Services, current_tenant, valid_video_id
from app.errors import InvalidTopK
from app.schemas import EvidencePublic, HitPublic, clip_urls, is_blank
from indexer.catalog import READY
from indexer.errors import InvalidQuery, VideoNotFound, VideoNotReady
from indexer.types import Hit


def check_top_k(services: Services, top_k: int | None) -> int:
    cfg = services.settings.index
    if top_k is None:
        return cfg.default_top_k
    if not 1 <= top_k <= cfg.max_top_k:
        raise InvalidTopK(f"top_k must be between 1 and {cfg.max_top_k}, not {top_k}")
    return top_k


def scope(services: Services, video_ids: list[str] | None) -> list[str]:
    """The ready videos to search: all of them, or the requested ones after checking that each
    exists (404) and is ready (409). Deleted videos are gone from the database first, so they
    are never searched even while their files are being removed."""
    tenant = current_tenant()
    if video_ids is None:
        return services.catalog.ids_with_status(READY, tenant=tenant)
    if not video_ids:
        raise InvalidQuery("video_ids is empty: leave it out to search every video")
    wanted = list(dict.fromkeys(valid_video_id(v) for v in video_ids))
    status = services.catalog.statuses(wanted, tenant=tenant)  # another's is as if absent
    missing = [v for v in wanted if v not in status]
    if missing:
        raise VideoNotFound(f"no video {missing[0]!r}")
    pending = [v for v in wanted if status[v] != READY]
    if pending:
        raise VideoNotReady(f"video {pending[0]!r} is {status[pending[0]]}, not ready")
    return wanted


def retrieve(
    services: Services, query: str, video_ids: list[str] | None, top_k: int | None
) -> list[Hit]:
    """Raises InvalidQuery, InvalidTopK, VideoNotFound, VideoNotReady. A library-wide search
    (no `video_ids`) searches every ready video whose index loads and skips the others (their
    state: `search_states`); naming a video whose index cannot be searched is an error."""
    if is_blank(query):
        raise InvalidQuery("the query is empty")
    k = check_top_k(services, top_k)
    ids = scope(services, video_ids)
    if not ids:
        return []
    return services.searcher.search(query.strip(), ids, k, skip_unavailable=video_ids is None)


def search_states(services: Services) -> dict[str, dict[str, str]]:
    """Per video with an index on disk: {"state": "loaded" | "loading" | "failed", "reason"},
    for the API to show (e.g. in GET /v1/videos/{id} or /readyz)."""
    return {
        vid: {"state": s.state, "reason": s.reason}
        for vid, s in services.searcher.video_states().items()
    }


def search_state(services: Services, video_id: str) -> dict[str, str]:
    """This gateway's view of one video's index (`absent` before the library was first loaded,
    so a status request never loads the whole library)."""
    if "searcher" not in services.__dict__:
        return {"state": "absent", "reason": ""}
    found = services.searcher.video_states().get(video_id)
    return {"state": found.state, "reason": found.reason} if found else {"state": "absent"}


def public_hits(services: Services, hits: list[Hit]) -> list[HitPublic]:
    titles = services.catalog.titles(list(dict.fromkeys(h.video_id for h in hits)))
    return [
        HitPublic(
            video_id=h.video_id,
            title=titles.get(h.video_id, h.video_id),
            clip_index=h.clip_index,
            start_s=round(h.start_s, 3),
            end_s=round(h.end_s, 3),
            score=float(h.score),
            evidence=[EvidencePublic(**e.model_dump()) for e in h.evidence],
            **clip_urls(h.video_id, h.start_s, h.end_s),
        )
        for h in hits
    ]
