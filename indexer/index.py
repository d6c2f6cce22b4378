"""Former home of the index code, now in `indexer.search`: kept so existing imports work."""

from indexer.search.bm25 import bm25_search
from indexer.search.keyword import KeywordIndex
from indexer.search.tokens import tokenize, unglue
from indexer.search.vectors import FLAT, IVF, IVF_SQ8, VectorIndex
from indexer.search.video_index import VideoIndex, write_video_index

__all__ = [
    "FLAT",
    "IVF",
    "IVF_SQ8",
    "KeywordIndex",
    "VectorIndex",
    "VideoIndex",
    "bm25_search",
    "tokenize",
    "unglue",
    "write_video_index",
]
