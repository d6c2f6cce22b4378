"""Rank fusion: several rankings of the same keys (best first) merged into one."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from indexer.settings import IndexSettings

K = TypeVar("K", bound=Hashable)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[K]], k: int = 60, weights: Sequence[float] | None = None
) -> list[tuple[K, float]]:
    """Fuse rankings (best first) by sum of weight / (k + rank); returns (key, score) best first,
    ties in order of first appearance. A key repeated within one ranking counts at its best rank."""
    if k < 0:
        raise ValueError("k must be >= 0")
    weights = [1.0] * len(rankings) if weights is None else list(weights)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    scores: dict[K, float] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        seen: set[K] = set()
        for rank, key in enumerate(ranking, start=1):
            if key not in seen:
                seen.add(key)
                scores[key] = scores.get(key, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def ranking_weights(settings: IndexSettings, covered: Mapping[str, float]) -> dict[str, float]:
    """Each ranking's fusion weight (IndexSettings.weight_<ranking>); with `lexical_trust` a
    lexical ranking's is scaled by how much of the query its best clip covers (`covered`)."""
    names = ("keyword", "subword", "text", "frames")
    trust = covered if settings.lexical_trust else {}
    return {n: float(getattr(settings, f"weight_{n}")) * trust.get(n, 1.0) for n in names}
