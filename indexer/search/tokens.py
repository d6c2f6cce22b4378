"""Keyword analysis: how text is cut into the terms the keyword index stores and queries look up.

- Words are casefolded; a compound such as "A-113" or "3.14" yields its joined form and its
  parts ("a113", "a", "113"), so codes match however they were written.
- Scripts without spaces (Han, kana, Hangul, Thai, ...) yield characters and character bigrams.
- Stemming follows the text's language (Snowball for the languages `language.py` detects; none
  for others), so French is never cut by English rules; accents are folded after stemming.
- English or undetermined Latin text also yields the words of tokens that lost their spaces
  ("nolitter" → "no", "litter"), which OCR produces; other languages are not split.
- Sub-word forms: character trigrams of the less common words ("#<go", "#gon", ...), which a
  misheard or misread word still shares in part with the right one.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import NamedTuple

import Stemmer  # PyStemmer: Snowball stemmers in C

from indexer.search.language import SNOWBALL, UND, UNSEGMENTED, detect_language

_COMPOUND = re.compile(r"[^\W_]+(?:[-_./:'’+#][^\W_]+)*")
_PART = re.compile(r"[^\W_]+")
_UNSEGMENTED_RUN = re.compile(f"{UNSEGMENTED.pattern}+")
_LATIN_EXTENDED = re.compile(r"[\u00c0-\u024f]")
SUBWORD_PREFIX = "#"  # marks sub-word forms in the vocabulary (words are alphanumeric)
SUBWORD_MIN = 4  # shorter words have too few trigrams to tell apart
COMMON_WORDS = 1000  # the commonest English words get no sub-word forms: heard right, no signal


class Analysis(NamedTuple):
    words: list[str]
    subwords: list[str]
    language: str


@functools.lru_cache(maxsize=16)
def stemmer_for(language: str) -> Stemmer.Stemmer | None:
    name = SNOWBALL.get("en" if language == UND else language)
    return Stemmer.Stemmer(name) if name else None


def analyze(text: str, language: str | None = None) -> Analysis:
    """Words (stemmed, for lookup) and sub-word forms of `text`, in the given language or the
    one detected."""
    lang = language or detect_language(text)
    surface = surface_words(text, split_glued=lang in ("en", UND))
    stemmer = stemmer_for(lang)
    words = stemmer.stemWords(surface) if stemmer else surface
    return Analysis([fold(w) for w in words], subword_forms(surface, common_words(lang)), lang)


def common_words(language: str) -> frozenset[str]:
    """The words of `language` too common to get sub-word forms (English only, for now)."""
    return _common_english() if language in ("en", UND) else frozenset()


def tokenize(text: str, language: str | None = None) -> list[str]:
    """The words of `analyze`: what BM25 counts."""
    return analyze(text, language).words


def raw_tokens(text: str) -> list[str]:
    """Casefolded words before stemming (glued words split), for callers that want words."""
    return surface_words(text, split_glued=True)


def surface_words(text: str, *, split_glued: bool) -> list[str]:
    out: list[str] = []
    text = text.casefold()
    for run in _UNSEGMENTED_RUN.findall(text):  # with their vowel signs, which \w leaves out
        out.extend(c for c in run if unicodedata.category(c) != "Mn")  # not a lone vowel sign
        out.extend(run[i : i + 2] for i in range(len(run) - 1))
    for m in _COMPOUND.finditer(_UNSEGMENTED_RUN.sub(" ", text)):
        parts = _PART.findall(m.group())
        if len(parts) > 1:
            out.append("".join(parts))
        for p in parts:
            out.append(p)
            if split_glued:
                out.extend(glued_words(p))
    return out


def fold(word: str) -> str:
    """Latin letters without their accents ("café" → "cafe"): queries are often typed bare."""
    if not _LATIN_EXTENDED.search(word):
        return word
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def subword_forms(words: list[str], common: frozenset[str] = frozenset()) -> list[str]:
    """Character trigrams, with word boundaries, of words of SUBWORD_MIN+ letters not in
    `common` (digits and unsegmented scripts excluded: they have their own forms)."""
    out: list[str] = []
    for w in words:
        if len(w) < SUBWORD_MIN or w in common or not w.isalpha() or UNSEGMENTED.search(w):
            continue
        padded = f"<{fold(w)}>"
        out.extend(SUBWORD_PREFIX + padded[i : i + 3] for i in range(len(padded) - 2))
    return out


@functools.lru_cache(maxsize=1)
def _common_english() -> frozenset[str]:
    import wordninja  # its model is English words by frequency: the cost grows with the rank

    costs = wordninja.DEFAULT_LANGUAGE_MODEL._wordcost
    return frozenset(sorted(costs, key=costs.__getitem__)[:COMMON_WORDS])


_GLUED_MIN = 8  # shorter tokens are almost always one word


@functools.lru_cache(maxsize=65536)
def _split_glued(token: str) -> tuple[str, ...]:
    import wordninja  # English unigram word splitter

    parts = tuple(wordninja.split(token))
    return parts if len(parts) > 1 and all(len(w) > 1 for w in parts) else ()


def glued_words(token: str) -> tuple[str, ...]:
    """The words of a token that lost its spaces ("nolitter" → "no", "litter"): OCR models
    often drop the spaces of Latin text, and a question never writes words glued together.
    Empty for ordinary words."""
    if len(token) < _GLUED_MIN or not token.isascii() or not token.isalpha():
        return ()
    return _split_glued(token)


def unglue(text: str) -> str:
    """`text` with glued words spaced out, for embedders that see whole strings (English or
    undetermined text only: other languages are not cut by an English word list)."""
    if detect_language(text) not in ("en", UND):
        return text
    return _PART.sub(lambda m: " ".join(glued_words(m.group().casefold())) or m.group(), text)
