"""Former home of the Searcher, now in `indexer.search`: kept so existing imports work."""

from indexer.search.fusion import reciprocal_rank_fusion
from indexer.search.searcher import Searcher

__all__ = ["Searcher", "reciprocal_rank_fusion"]
