"""Keyword search: BM25 over term postings held in plain numpy arrays (saved without pickle),
searchable as several segments that score as one collection.

A document's terms are its words and their sub-word forms (`tokens.analyze`); its length, for
BM25, counts its words only. A query is a list of groups of alternative terms with weights
(a word, its stem in another language, a detector label it means): a document scores, for each
group, its best alternative, so alternatives widen a match without counting it twice (the
scoring: bm25.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexer.search.bm25 import Group, bm25_search
from indexer.search.tokens import Analysis, analyze
from indexer.store import atomic_path

_KW_ARRAYS = ("indptr", "doc", "tf", "ids", "doc_len")


class KeywordIndex:
    """Term postings of documents with int64 ids, scored by BM25 (Lucene's idf, k1=1.2, b=0.75).

    `search` returns `[(id, score)]`, best first, only documents sharing a term with the query.
    Weights are computed per query from tf and length, so several indexes can be searched as
    one collection with shared statistics (`bm25_search`) and merged without rescoring."""

    def __init__(
        self,
        terms: list[str],
        indptr: np.ndarray,
        doc: np.ndarray,
        tf: np.ndarray,
        ids: np.ndarray,
        doc_len: np.ndarray,
        vocab: dict[str, int] | None = None,
    ) -> None:
        self.terms = terms  # posting list t is doc[indptr[t]:indptr[t+1]] (document positions)
        self.indptr, self.doc, self.tf = indptr, doc, tf
        self.ids, self.doc_len = ids, doc_len
        self._vocab = vocab
        self._posting: tuple[np.ndarray, np.ndarray] | None = None
        self._positional: KeywordIndex | None = None

    @property
    def vocab(self) -> dict[str, int]:
        if self._vocab is None:
            self._vocab = {t: i for i, t in enumerate(self.terms)}
        return self._vocab

    @property
    def posting_ids_lens(self) -> tuple[np.ndarray, np.ndarray]:
        """Each posting's document id and length, in posting order: a query term then reads
        contiguous slices instead of gathering by document."""
        if self._posting is None:
            ids = self.ids.astype(np.int32) if self.n_docs and self.ids.max() < 2**31 else self.ids
            self._posting = (ids[self.doc], self.doc_len[self.doc])
        return self._posting

    def prepare_search(self) -> KeywordIndex:
        """Build the lookup structures now rather than in the first search; returns self."""
        _ = self.vocab, self.posting_ids_lens
        return self

    @property
    def n_docs(self) -> int:
        return len(self.ids)

    @property
    def avg_len(self) -> float:
        return max(float(self.doc_len.mean()), 1e-9) if self.n_docs else 1.0

    def with_ids(self, ids: np.ndarray) -> KeywordIndex:
        """The same postings with documents renamed (arrays shared, not copied)."""
        if len(ids) != self.n_docs:
            raise ValueError(f"{len(ids)} ids for {self.n_docs} documents")
        ids = np.asarray(ids, np.int64)
        return KeywordIndex(
            self.terms, self.indptr, self.doc, self.tf, ids, self.doc_len, self._vocab
        )

    @classmethod
    def build(cls, texts: Sequence[str], ids: Sequence[int] | np.ndarray) -> KeywordIndex:
        """One document per text, each analysed in the language detected in it."""
        return cls.build_analyzed([[analyze(t)] for t in texts], ids)

    @classmethod
    def build_analyzed(
        cls, docs: Sequence[Sequence[Analysis]], ids: Sequence[int] | np.ndarray
    ) -> KeywordIndex:
        """One document per list of analysed texts (e.g. a clip's evidence, each in its own
        language)."""
        if len(docs) != len(ids):
            raise ValueError(f"{len(docs)} documents but {len(ids)} ids")
        vocab: dict[str, int] = {}
        rows: list[tuple[int, int, int]] = []
        lengths = []
        for pos, parts in enumerate(docs):
            terms: Counter[str] = Counter()
            for a in parts:
                terms.update(a.words)
                terms.update(a.subwords)
            lengths.append(sum(len(a.words) for a in parts))
            rows.extend((vocab.setdefault(t, len(vocab)), pos, c) for t, c in terms.items())
        arr = np.array(rows, dtype=np.int64).reshape(-1, 3)
        ids_a, lens = np.asarray(ids, np.int64), np.asarray(lengths, np.float32)
        return cls._from_postings(list(vocab), arr[:, 0], arr[:, 1], arr[:, 2], ids_a, lens)

    @classmethod
    def merge(cls, parts: Sequence[KeywordIndex], live: np.ndarray | None = None) -> KeywordIndex:
        """One index over the documents of all parts (keeping their ids, which must be distinct);
        with `live`, a bool mask indexed by id, only the documents it marks are kept."""
        vocab: dict[str, int] = {}
        terms, docs, tfs, ids, lens = [], [], [], [], []
        offset = 0
        for part in parts:
            gmap = np.fromiter(
                (vocab.setdefault(t, len(vocab)) for t in part.terms), np.int64, len(part.terms)
            )
            keep = live[part.ids] if live is not None else np.ones(part.n_docs, bool)
            new_pos = np.cumsum(keep) - 1 + offset
            on = keep[part.doc]
            terms.append(np.repeat(gmap, np.diff(part.indptr))[on])
            docs.append(new_pos[part.doc[on]])
            tfs.append(part.tf[on])
            ids.append(part.ids[keep])
            lens.append(part.doc_len[keep])
            offset += int(keep.sum())
        term = np.concatenate([np.zeros(0, np.int64), *terms])
        used = np.bincount(term, minlength=len(vocab)) > 0  # drop terms left without documents
        renum = np.cumsum(used) - 1
        words = [t for t, u in zip(vocab, used.tolist(), strict=True) if u]
        return cls._from_postings(
            words,
            renum[term],
            np.concatenate([np.zeros(0, np.int64), *docs]),
            np.concatenate([np.zeros(0, np.float32), *tfs]),
            np.concatenate([np.zeros(0, np.int64), *ids]),
            np.concatenate([np.zeros(0, np.float32), *lens]),
        )

    @classmethod
    def _from_postings(
        cls,
        terms: list[str],
        term: np.ndarray,
        doc: np.ndarray,
        tf: np.ndarray,
        ids: np.ndarray,
        doc_len: np.ndarray,
    ) -> KeywordIndex:
        order = np.argsort(term, kind="stable")  # term-major, documents ascending within a term
        indptr = np.zeros(len(terms) + 1, np.int64)
        np.cumsum(np.bincount(term, minlength=len(terms)), out=indptr[1:])
        return cls(
            terms,
            indptr,
            doc[order].astype(np.int32),
            tf[order].astype(np.float32),
            ids,
            doc_len.astype(np.float32),
        )

    def search(
        self, query: str | Sequence[Group], k: int, *, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """`allowed`: a bool mask indexed by id (covering every id); other documents are skipped."""
        if self._positional is None:
            self._positional = self.with_ids(np.arange(self.n_docs)).prepare_search()
        hits = bm25_search(
            [self._positional],
            query,
            k,
            n_docs=self.n_docs,
            avg_len=self.avg_len,
            n_ids=self.n_docs,
            allowed=None if allowed is None else allowed[self.ids],
        )
        return [(int(self.ids[p]), s) for p, s in hits]

    # --- storage: plain arrays, no pickle --------------------------------------------------------
    def arrays(self, prefix: str = "") -> dict[str, Any]:
        blob = np.frombuffer("\n".join(self.terms).encode(), dtype=np.uint8)
        out = {f"{prefix}{n}": getattr(self, n) for n in _KW_ARRAYS}
        return {**out, f"{prefix}terms": blob, f"{prefix}n_terms": np.int64(len(self.terms))}

    @classmethod
    def from_arrays(cls, z: Any, prefix: str = "") -> KeywordIndex:
        n_terms = int(z[f"{prefix}n_terms"])
        terms = z[f"{prefix}terms"].tobytes().decode().split("\n") if n_terms else []
        return cls(terms, *(z[f"{prefix}{n}"] for n in _KW_ARRAYS))

    def save(self, path: Path) -> None:
        with atomic_path(Path(path)) as tmp, tmp.open("wb") as f:
            np.savez(f, **self.arrays())

    @classmethod
    def load(cls, path: Path) -> KeywordIndex:
        with np.load(path, allow_pickle=False) as z:
            return cls.from_arrays(z)
