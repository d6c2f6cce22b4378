"""Cheap language identification for keyword analysis: the script a text is written in, and for
Latin and Cyrillic text the language whose most common words it uses. Good enough to decide
whether English stemming and English word splitting may touch a text (they must not touch
French or German), not a general language identifier: short texts without common words are
"und" (undetermined), and callers treat those as they treat English."""

from __future__ import annotations

import re
from collections import Counter

UND = "und"
# scripts written without spaces between words: keyword analysis cuts them into characters
UNSEGMENTED = re.compile(
    r"[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"  # Thai, Lao, Myanmar, Khmer
    r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"  # kana, Han, Hangul
)
_SCRIPTS = {
    "ja": re.compile(r"[\u3040-\u30ff]"),
    "ko": re.compile(r"[\uac00-\ud7af]"),
    "zh": re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"),
    "th": re.compile(r"[\u0e00-\u0e7f]"),
    "ar": re.compile(r"[\u0600-\u06ff]"),
    "he": re.compile(r"[\u0590-\u05ff]"),
    "el": re.compile(r"[\u0370-\u03ff]"),
    "hi": re.compile(r"[\u0900-\u097f]"),
    "cyrl": re.compile(r"[\u0400-\u04ff]"),
}
# a few of each language's commonest words that the others rarely use
_COMMON = {
    "en": "the and of to is that it was for with are this have you not they what which would",
    "fr": "le les des est une dans pour qui pas sur avec sont du au aux cette nous vous je ils",
    "de": "der die das und ist nicht ein eine mit den dem sich auf für von zu auch wir ich",
    "es": "el los las del una por con para está como pero sus al lo muy también yo",
    "it": "il gli della che di è una per non con sono alla nel questo anche io molto",
    "pt": "os não uma com para do da em são ao pelo mais também eu você muito",
    "nl": "het een van en is niet dat op te met zijn voor ook maar wij ik",
    "ru": "и в не на что я с он как это по но они мы вы",
}
COMMON_WORDS = {lang: frozenset(words.split()) for lang, words in _COMMON.items()}
_WORD = re.compile(r"[^\W\d_]+")
# Snowball stemmer of each language detected here (PyStemmer's algorithm names)
SNOWBALL = {
    "en": "english",
    "fr": "french",
    "de": "german",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "nl": "dutch",
    "ru": "russian",
}


def detect_language(text: str) -> str:
    """An ISO 639-1 code ("en", "fr", "ja", ...) or "und"."""
    letters = sum(1 for c in text if c.isalpha())
    if not letters:
        return UND
    for lang, pattern in _SCRIPTS.items():
        # a script other than Latin on a third of the letters decides (Japanese before Han)
        if len(pattern.findall(text)) * 3 >= letters:
            return _by_common_words(text, ("ru",)) if lang == "cyrl" else lang
    return _by_common_words(text, tuple(lang for lang in _COMMON if lang != "ru"))


def _by_common_words(text: str, langs: tuple[str, ...]) -> str:
    words = _WORD.findall(text.casefold())
    hits = Counter({lang: sum(w in COMMON_WORDS[lang] for w in words) for lang in langs})
    ranked = hits.most_common(2)
    best, n = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0
    # at least two common words, and clearly more than any other language's
    return best if n >= 2 and n > 1.5 * runner_up else UND
