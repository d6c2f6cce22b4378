"""Keyword tokens: how text is cut into the terms the keyword index stores and queries look up."""

from __future__ import annotations

import functools
import re

import Stemmer  # PyStemmer: Snowball stemmers in C

_COMPOUND = re.compile(r"[^\W_]+(?:[-_./:'’+#][^\W_]+)*")
_PART = re.compile(r"[^\W_]+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_STEMMER = Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    """Lowercased alphanumeric tokens. A compound such as "A-113" or "3.14" yields its joined
    form and its parts ("a113", "a", "113"), so codes match however they were written; CJK runs,
    which have no spaces, yield their characters and character bigrams. Words are reduced to
    their Snowball stems so "oranges" finds "orange" and "considered" finds "consider"."""
    return _STEMMER.stemWords(raw_tokens(text))


def raw_tokens(text: str) -> list[str]:
    out: list[str] = []
    for m in _COMPOUND.finditer(text.casefold()):
        parts = _PART.findall(m.group())
        if len(parts) > 1:
            out.append("".join(parts))
        for p in parts:
            if _CJK.search(p):
                out.extend(p)
                out.extend(p[i : i + 2] for i in range(len(p) - 1))
            else:
                out.append(p)
                out.extend(glued_words(p))
    return out


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
    """`text` with glued words spaced out, for embedders that see whole strings."""
    return _PART.sub(lambda m: " ".join(glued_words(m.group().casefold())) or m.group(), text)
