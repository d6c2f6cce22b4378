"""A query as the keyword index is asked it: groups of alternative terms per query word (its stem
in the query's language, its stems in the other languages of the library, the detector labels
it means), and, apart, the sub-word forms of its words for the misheard-speech ranking."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from indexer.search.bm25 import Group
from indexer.search.language import COMMON_WORDS, UND, detect_language
from indexer.search.question_words import MEDIUM, QUESTION
from indexer.search.tokens import (
    analyze,
    common_words,
    fold,
    stemmer_for,
    subword_forms,
    surface_words,
    tokenize,
)

LABEL_WEIGHT = 1.0  # a label a word means counts as the word itself (the best of the two counts)
# a word about the asking ("say", "reader", "written", see question_words.py) counts this much
MEDIUM_WEIGHT = 0.3


@dataclass
class KeywordQuery:
    """`words`: one group of weighted alternatives per distinct query word; `subwords`: the
    trigram forms, each its own group; `labels`: query phrase -> labels it was mapped to."""

    words: list[Group]
    subwords: list[Group]
    labels: dict[str, tuple[str, ...]]


LabelMatcher = Callable[[Sequence[str]], dict[str, tuple[str, ...]]]


def build_query(
    text: str,
    languages: Iterable[str] = (),
    match_labels: LabelMatcher | None = None,
) -> KeywordQuery:
    lang = detect_language(text)
    analysis = analyze(text, lang)
    common = common_words(lang)
    surface = surface_words(text, split_glued=lang in ("en", UND))
    others = [x for x in dict.fromkeys(languages) if x not in (lang, UND)]
    groups: dict[str, dict[str, float]] = {}
    for word, stem in zip(surface, analysis.words, strict=True):
        weight = MEDIUM_WEIGHT if fold(word) in MEDIUM else 1.0
        alts = groups.setdefault(stem, {stem: weight})
        for other in others:  # a document in another language stems its words by its rules
            stemmer = stemmer_for(other)
            if stemmer is not None:
                alts.setdefault(fold(stemmer.stemWord(word)), weight)
        alts.setdefault(fold(word), weight)
    labels: dict[str, tuple[str, ...]] = {}
    if match_labels is not None:
        phrases = label_phrases(surface)
        labels = match_labels(phrases) if phrases else {}
        for phrase, mapped in labels.items():
            key = tokenize(phrase.split()[-1], lang)[0]  # a phrase's head is its last word
            alts = groups.setdefault(key, {key: 1.0})
            for label in mapped:
                for term in tokenize(label, "en"):
                    alts.setdefault(term, LABEL_WEIGHT)
    words = [tuple(alts.items()) for alts in groups.values()]
    # misheard forms of the words that carry the question, not of how it is asked
    content = [w for w in surface if fold(w) not in MEDIUM]
    subwords: list[Group] = [((t, 1.0),) for t in dict.fromkeys(subword_forms(content, common))]
    return KeywordQuery(words, subwords, labels)


def label_phrases(surface: Sequence[str]) -> list[str]:
    """Content words of a query, and adjacent pairs of them ("sports ball", "cell phone")."""
    content = [w for w in surface if len(w) > 2 and w.isalpha() and w not in QUESTION]
    content = [w for w in content if w not in COMMON_WORDS["en"]]
    pairs = [f"{a} {b}" for a, b in pairwise(content)]
    return list(dict.fromkeys(content + pairs))
