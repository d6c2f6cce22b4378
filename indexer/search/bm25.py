"""BM25 over the term postings of several KeywordIndex segments scored as one collection
(Lucene's idf, k1=1.2, b=0.75), and how much of the query the best document covers (the
search weighs a lexical ranking by it, see searcher.py).

A query is a list of groups of alternative terms with weights (a word, its stem in another
language, a detector label it means): a document scores, for each group, its best
alternative, so alternatives widen a match without counting it twice."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from indexer.search.tokens import tokenize

if TYPE_CHECKING:
    from indexer.search.keyword import KeywordIndex

K1, B = 1.2, 0.75
Group = tuple[tuple[str, float], ...]  # alternative terms of one query word, with weights


def word_groups(query: str) -> list[Group]:
    """Each distinct word of `query` as a group of one."""
    return [((t, 1.0),) for t in dict.fromkeys(tokenize(query))]


def bm25_search(
    segments: Sequence[KeywordIndex],
    query: str | Sequence[Group],
    k: int,
    *,
    n_docs: int,
    avg_len: float,
    n_ids: int,
    live: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
) -> list[tuple[int, float]]:
    """BM25 over several indexes taken as one collection of `n_docs` documents of average
    length `avg_len`, whose ids are distinct and below `n_ids`. `live` (bool by id) hides removed
    documents, also from document frequencies; `allowed` (bool by id) filters the results only.
    `query`: text (each word a group) or groups of weighted alternative terms."""
    found, _ = bm25_search_covered(
        segments, query, k, n_docs=n_docs, avg_len=avg_len, n_ids=n_ids, live=live, allowed=allowed
    )
    return found


def bm25_search_covered(
    segments: Sequence[KeywordIndex],
    query: str | Sequence[Group],
    k: int,
    *,
    n_docs: int,
    avg_len: float,
    n_ids: int,
    live: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
) -> tuple[list[tuple[int, float]], float]:
    """`bm25_search`, and how much of the query its best document covers (0..1): the share of
    the query's groups it holds, each group weighing its best contribution to any document (so
    rare words weigh more). A group no document holds weighs as much as the weightiest group
    some document holds (a word the library lacks is rare): a best match on the question's
    incidental words covers little, a code or a name the document holds covers all."""
    groups = word_groups(query) if isinstance(query, str) else query
    keys, weights = [], []
    for group in groups if k > 0 else ():
        scored = [_term_scores(segments, t, n_docs, avg_len, live) for t, _ in group]
        found = [(ids, w * x) for (ids, x), (_, w) in zip(scored, group, strict=True) if len(ids)]
        if len(found) == 1:
            keys.append(found[0][0])
            weights.append(found[0][1])
        elif found:  # a document counts its best alternative only
            ids = np.concatenate([i for i, _ in found])
            x = np.concatenate([x for _, x in found])
            order = np.lexsort((-x, ids))
            ids, x = ids[order], x[order]
            first = np.ones(len(ids), bool)
            first[1:] = ids[1:] != ids[:-1]
            keys.append(ids[first])
            weights.append(x[first])
    if not keys:
        return [], 0.0
    ids, w = np.concatenate(keys), np.concatenate(weights)
    if len(ids) * 8 < n_ids:  # few postings: sum per distinct id, not over every id there is
        cand, inverse = np.unique(ids, return_inverse=True)
        summed = np.bincount(inverse, weights=w)
    else:
        scores = np.bincount(ids, weights=w, minlength=n_ids)
        cand = np.flatnonzero(scores > 0)
        summed = scores[cand]
    if allowed is not None:
        on = allowed[cand]
        cand, summed = cand[on], summed[on]
    if len(cand) > k:
        top = np.argpartition(-summed, k - 1)[:k]
        cand, summed = cand[top], summed[top]
    order = np.lexsort((cand, -summed))  # ties: lower id first
    ranked = [(int(c), float(x)) for c, x in zip(cand[order], summed[order], strict=True)]
    if not ranked:
        return [], 0.0
    # a group weighs its best contribution to any document (rarer words weigh more)
    weight = [float(x.max()) for x in weights]
    held = sum(w for w, g in zip(weight, keys, strict=True) if bool(np.any(g == ranked[0][0])))
    return ranked, held / (sum(weight) + (len(groups) - len(keys)) * max(weight))


_EMPTY = (np.zeros(0, np.int64), np.zeros(0, np.float64))


def _term_scores(
    segments: Sequence[KeywordIndex],
    term: str,
    n_docs: int,
    avg_len: float,
    live: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, BM25 contribution) of every live document holding `term`."""
    found = [(s, s.vocab[term]) for s in segments if term in s.vocab]
    if not found:
        return _EMPTY
    spans = [(s.posting_ids_lens, s.tf, s.indptr[t], s.indptr[t + 1]) for s, t in found]
    ids = np.concatenate([p[0][a:z] for p, _, a, z in spans])
    dl = np.concatenate([p[1][a:z] for p, _, a, z in spans])
    tf = np.concatenate([tf[a:z] for _, tf, a, z in spans])
    if live is not None:
        on = live[ids]
        ids, tf, dl = ids[on], tf[on], dl[on]
    if not len(ids):
        return _EMPTY
    idf = math.log1p((n_docs - len(ids) + 0.5) / (len(ids) + 0.5))
    return ids, idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * dl / avg_len))
