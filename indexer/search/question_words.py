"""Words of a question that say how it is asked rather than what it is about.

Users ask about a video in sentences ("What does the reader say he might have become?",
"What name is written on the badge?"), and the keyword index would otherwise look for "reader",
"say" and "written" as hard as for "become" and "badge". Such words rarely stand in the evidence
and, where they do ("Saying the sentence of ..." on a slide), they find the wrong clip: the
query gives them little weight, and the extractive answer counts them little (app/answer)."""

from __future__ import annotations

# words of a question that never name a thing in the picture
_QUESTION_WORDS = (
    "who whom whose what when where which why how is are was were do does did can could show find "
    "there any some someone something anyone a an the this that these those in on at of to with "
    "for from by about into"
)
QUESTION = frozenset(_QUESTION_WORDS.split())
# words that describe the recording or the asking rather than what is in it
_MEDIUM_WORDS = (
    "video videos clip clips film footage recording recorded audio audiobook book novel story "
    "narrator reader speaker announcer voice man men woman women guy lady someone somebody person "
    "people say says said saying tell tells told mention mentions mentioned according talk talks "
    "talking speech spoken shown show shows appear appears seen see written printed screen sign "
    "poster banner slide page name named called word words kind sort exactly moment time part"
)
MEDIUM = frozenset(_MEDIUM_WORDS.split())
