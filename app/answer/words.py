"""Words of questions and evidence as the extractive answer compares them: folded (case and
accents), weighted by how rare they are in English, and matched fuzzily, because the evidence is
machine-made (speech recognition mishears "Hailsham" as "hail sham", OCR glues "WELCOMETO").

`similarity(term, word)` is 1 for the same word, 0.95 for the same English stem ("leaking",
"leak"), 0.8 for the question's word inside a longer evidence word (a glued or compound form:
"card" in "savercard"), and for words of 5 letters or more the character-sequence ratio scaled
by 0.9 when it is at least 0.8 (a misheard or misread word: "dashwood"/"dashwod"); 0 otherwise.
Spelled and written numbers match ("seven" = "7")."""

from __future__ import annotations

import difflib
import functools
import math
import re
import unicodedata
from dataclasses import dataclass

import Stemmer

from indexer.search.question_words import MEDIUM

_TOKEN = re.compile(r"[^\W_]+(?:[-'’.,/:][^\W_]+)*", re.UNICODE)
_FUNCTION_WORDS = (
    "a about above after again against all also am an and any are as at be because been before "
    "being below between both but by can could did do does doing down during each even ever few "
    "for from further had has have having he her here hers herself him himself his how i if in "
    "into is it its itself just me might more most must my myself no nor not now of off on once "
    "only or other our ours out over own same shall she should so some such than that the their "
    "theirs them themselves then there these they this those through to too under until up upon "
    "us very was we were what whatever when where whether which while who whom whose why will "
    "with would yes yet you your yours yourself"
)
# questions in French, German and Spanish, accents folded (English look-alikes left out: "son")
_OTHER_FUNCTION_WORDS = (
    "le la les un une des du de et est sont ou que qui quoi quel quelle dans sur pour par avec "
    "ce cette ces il elle ils elles nous vous je au aux pas ne "
    "der das ein eine einen und ist sind wo wer wie im auf fur mit dem zu von nicht "
    "el los las una y es donde quien como en con por para del al"
)
STOP = frozenset(_FUNCTION_WORDS.split() + _OTHER_FUNCTION_WORDS.split())
MEDIUM_WEIGHT = 0.3
RARE_RANK = 20000  # an English word this rare (or rarer, or a name or code) weighs 1
MIN_WEIGHT = 0.2
FUZZY_MIN = 5  # shorter words are too often another word one letter away
FUZZY_RATIO = 0.8
_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
)
_NUMBERS = _NUMBER_WORDS.split(" ")
NUMBER_FORMS = {
    **{w: str(i) for i, w in enumerate(_NUMBERS)},
    **{str(i): w for i, w in enumerate(_NUMBERS)},
}


def fold(word: str) -> str:
    """Casefolded, accents removed, apostrophes dropped: "Förster" → "forster"."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return (
        "".join(c for c in decomposed if not unicodedata.combining(c))
        .replace("'", "")
        .replace("’", "")
    )


def tokens(text: str) -> list[str]:
    """The folded words of `text` in order; "BA-4022" → "ba4022", "03/09/2009" stays one."""
    out = []
    for m in _TOKEN.finditer(text):
        word = fold(m.group(0))
        out.append(re.sub(r"[-]", "", word))
    return out


@functools.lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return str(_stemmer().stemWord(word))


@functools.lru_cache(maxsize=1)
def _english_ranks() -> dict[str, int]:
    import wordninja  # its model lists English words by frequency

    costs = wordninja.DEFAULT_LANGUAGE_MODEL._wordcost
    return {w: i for i, w in enumerate(sorted(costs, key=costs.__getitem__))}


def rarity_weight(word: str) -> float:
    """How much finding `word` says: log of its English frequency rank, scaled so that the
    commonest words weigh `MIN_WEIGHT` and words past `RARE_RANK` (or unknown: names, codes,
    other languages) weigh 1."""
    if any(c.isdigit() for c in word):
        return 1.0
    rank = _english_ranks().get(word)
    if rank is None:
        return 1.0
    return max(MIN_WEIGHT, min(1.0, math.log(rank + 2) / math.log(RARE_RANK)))


@dataclass(frozen=True)
class Term:
    """A content word of the question and its weight."""

    text: str
    stem: str
    weight: float


def question_terms(question: str) -> list[Term]:
    """The question's content words (function words and one-letter words dropped), each once."""
    seen: set[str] = set()
    out = []
    for word in tokens(question):
        if word in STOP or word in seen or (len(word) < 2 and not word.isdigit()):
            continue
        seen.add(word)
        weight = MEDIUM_WEIGHT if word in MEDIUM else rarity_weight(word)
        out.append(Term(word, stem(word), weight))
    return out


@functools.lru_cache(maxsize=262144)
def similarity(term: str, word: str) -> float:
    """How surely evidence `word` is question word `term` (see the module docstring)."""
    if term == word or NUMBER_FORMS.get(term) == word:
        return 1.0
    short, long_ = sorted((term, word), key=len)
    if len(short) < 3:
        return 0.0
    if stem(term) == stem(word):
        return 0.95
    # a question word inside a longer evidence word: glued OCR or a compound ("savercard");
    # the other way round only when the evidence word is most of it ("house" is not "lighthouse")
    if len(term) >= 4 and term in word:
        return 0.8
    if len(word) >= 4 and word in term and len(word) >= 0.7 * len(term):
        return 0.8
    if len(short) < FUZZY_MIN or len(long_) - len(short) > 3:
        return 0.0
    matcher = difflib.SequenceMatcher(None, term, word, autojunk=False)
    if matcher.real_quick_ratio() < FUZZY_RATIO or matcher.quick_ratio() < FUZZY_RATIO:
        return 0.0
    ratio = matcher.ratio()
    if ratio < FUZZY_RATIO:
        return 0.0
    return round(0.9 * ratio, 3)


def best_match(term: Term, words: list[str]) -> tuple[float, int]:
    """The best similarity of `term` to a word of `words`, or to two neighbours written
    together ("hail sham" for "hailsham"), and the position of that word (-1 for none)."""
    best, where = 0.0, -1
    for i, word in enumerate(words):
        s = similarity(term.text, word)
        if s > best:
            best, where = s, i
        if len(term.text) >= 6 and i + 1 < len(words):
            joined = word + words[i + 1]
            s = similarity(term.text, joined) if abs(len(joined) - len(term.text)) <= 2 else 0.0
            if s > best:
                best, where = s, i
        if best == 1.0:
            break
    return best, where
