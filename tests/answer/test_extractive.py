"""The extractive answer: quotes that reach past the matched words to the answer, only clips that
support an answer, and a plain "nothing relevant found" with no quote and no citation."""

from __future__ import annotations

import os
from pathlib import Path

from app.answer import extractive
from app.answer.neighbours import NeighbourSpeech
from indexer.store import Library
from indexer.types import Clip, ClipDoc, Evidence, Hit
from tests.answer.fakes import make_hit

KEY_SPEECH = (
    "okay so I have to run now but listen carefully when you get to the house the spare key is "
    "under the blue flowerpot by the door and please water the plants in the kitchen they look "
    "very dry and the cat food is in the cupboard above the sink and the bins go out on tuesday "
    "thanks a lot bye"
)


def trip() -> list[Hit]:
    """A trip video's retrieved clips, best first: what a search for travel questions returns."""
    return [
        make_hit("v", 10, 100.0, 110.0, 0.050, ocr="DEPARTURES", objects="3 person (center)"),
        make_hit("v", 11, 110.0, 120.0, 0.049, ocr="FLIGHT BA 4022 | GATE A34"),
        make_hit(
            "v",
            30,
            300.0,
            310.0,
            0.048,
            speech="so we talked about the weather and then we drove to the airport",
        ),
        make_hit("v", 40, 400.0, 410.0, 0.047, speech=KEY_SPEECH),
        make_hit("v", 50, 500.0, 510.0, 0.046, objects="2 car (left, right)"),
    ]


def test_card_answers_which_gate() -> None:
    a = extractive.answer("Which gate does flight BA 4022 leave from?", trip(), {"v": "Trip"})
    first = a.answer.split("\n")[0]
    assert "A34" in first and first.startswith("on screen: “")  # the quote first, then when
    assert first.endswith("[00:01:50–00:02:00]")
    assert [h.clip_index for h in a.cited] == [11]
    assert a.answer.endswith(extractive.NOTE)


def test_a_sign_read_as_two_lines_is_quoted_whole() -> None:
    hits = [
        make_hit("v", 1, 0.0, 10.0, 0.05, speech="welcome aboard"),
        Hit(
            video_id="v",
            clip_index=2,
            start_s=10.0,
            end_s=20.0,
            score=0.04,
            evidence=[
                {"modality": "ocr", "text": "FLIGHT BA 4022", "start_s": 10, "end_s": 20},
                {"modality": "ocr", "text": "GATE A34", "start_s": 10, "end_s": 20},
                {"modality": "ocr", "text": "BOARDING 14:25", "start_s": 10, "end_s": 20},
            ],
        ),
    ]
    a = extractive.answer("Which gate does flight BA 4022 leave from?", hits)
    assert "FLIGHT BA 4022" in a.answer and "GATE A34" in a.answer
    assert [h.clip_index for h in a.cited] == [2]


def test_speech_quote_reaches_past_the_match() -> None:
    a = extractive.answer("where is the spare key?", trip())
    first = a.answer.split("\n")[0]
    assert "the spare key is under the blue flowerpot by the door" in first
    assert first.startswith("said: “… ")  # cut before: a window, not the whole transcript
    assert "bins go out" not in first and len(first) < len(KEY_SPEECH)
    assert [h.clip_index for h in a.cited] == [40]


def test_absent_topic_gets_nothing_relevant() -> None:
    for question in ("zebra spaceship volcano", "What is the password of the office wifi?"):
        a = extractive.answer(question, trip(), {"v": "Trip"})
        assert a.answer.startswith("Nothing relevant found"), a.answer
        assert "“zebra”" in a.answer or "“password”" in a.answer
        assert a.cited == [] and "[" not in a.answer  # no quote, no time, no citation


def test_only_supporting_clips_are_cited() -> None:
    hits = [
        make_hit("v", 1, 0.0, 10.0, 0.05, objects="2 person (center, left)"),
        make_hit("v", 2, 10.0, 20.0, 0.04, speech="the museum is closed on mondays"),
        make_hit("v", 3, 20.0, 30.0, 0.03, speech="and the museum is closed on holidays too"),
        make_hit("v", 5, 20.0, 30.0, 0.025, speech="the museum opens at ten every other day"),
        make_hit("v", 4, 30.0, 40.0, 0.02, speech="we had lunch by the river"),
    ]
    a = extractive.answer("When is the museum closed?", hits)
    assert [h.clip_index for h in a.cited] == [2, 3]
    lines = a.answer.split("\n")
    assert "closed on mondays" in lines[0] and "closed on holidays" in lines[1]
    # the clip that names only the museum is too weak beside them; the others share nothing
    assert "opens" not in a.answer and "lunch" not in a.answer and "person" not in a.answer


def test_misheard_words_still_match() -> None:
    hits = [
        make_hit("v", 1, 0.0, 10.0, 0.05, speech="the weather will be fine tomorrow"),
        make_hit("v", 2, 10.0, 20.0, 0.04, speech="and mister robert hail sham had the leisure"),
        make_hit("v", 3, 20.0, 30.0, 0.03, ocr="WELCOMETO THE ANNUAL SAFETY BRIEFING"),
    ]
    a = extractive.answer("What did Robert Hailsham have?", hits)
    assert [h.clip_index for h in a.cited] == [2]
    b = extractive.answer("Where is the welcome briefing?", hits)
    assert [h.clip_index for h in b.cited] == [3]


def test_several_videos_are_named() -> None:
    hits = [
        make_hit("a", 1, 0.0, 10.0, 0.05, speech="the launch code is seven four two"),
        make_hit("b", 1, 10.0, 20.0, 0.04, speech="the launch code changed to nine"),
    ]
    a = extractive.answer("What is the launch code?", hits, {"a": "Lecture", "b": "Meeting"})
    assert "[Lecture · 00:00:00–00:00:10]" in a.answer
    assert "[Meeting · 00:00:10–00:00:20]" in a.answer


def test_no_hits_and_vague_questions() -> None:
    assert extractive.answer("anything?", []).answer == extractive.NO_HITS
    a = extractive.answer("What did he say?", trip())  # no content word to weigh
    assert [h.clip_index for h in a.cited] == [10]
    assert "".join(extractive.chunks(a.answer)) == a.answer


def _clip_doc(i: int, speech: str) -> ClipDoc:
    a, b = 10.0 * i, 10.0 * i + 10
    return ClipDoc(
        clip=Clip(index=i, start_s=a, end_s=b),
        evidence=[Evidence(modality="speech", text=speech, start_s=a, end_s=b)] if speech else [],
    )


def test_quotes_run_on_into_the_neighbouring_clips(tmp_path: Path) -> None:
    said = [
        "so that was the weather and now the news from town",
        "and mister robert hailsham had then",
        "leisure to consider how much he could spare for his sisters",
        "okay when you get to the house the spare key is under the",
        "blue flowerpot by the back door and please feed the cat twice a day with the dry food",
    ]
    library = Library(tmp_path / "videos")
    library.store("v").write_jsonl("clips.jsonl", [_clip_doc(i, t) for i, t in enumerate(said)])
    neighbours = NeighbourSpeech(library)
    hits = [
        make_hit("v", i, 10.0 * i, 10.0 * i + 10, 0.05 - i / 100, speech=said[i]) for i in (3, 2)
    ]

    a = extractive.answer("where is the spare key?", hits, {}, neighbours)
    first = a.answer.split("\n")[0]
    assert "the spare key is under the blue flowerpot by the" in first  # runs on into clip 4
    assert first.endswith("…” [00:00:30–00:00:50]")  # the span of both clips
    assert [h.clip_index for h in a.cited] == [3, 4]

    b = extractive.answer(
        "Who had the leisure to consider how much he could spare?", hits, {}, neighbours
    )
    assert "robert hailsham had then leisure to consider" in b.answer  # begins in clip 1
    # and, the match being near its end, runs on into clip 3: every quoted clip is cited
    assert "sisters okay when you get" in b.answer
    assert [h.clip_index for h in b.cited] == [1, 2, 3]
    # without the clips' speech the quote stays inside the clip
    c = extractive.answer("where is the spare key?", hits)
    assert "flowerpot" not in c.answer and [h.clip_index for h in c.cited] == [3]


def test_neighbour_speech_is_read_again_when_the_video_changes(tmp_path: Path) -> None:
    library = Library(tmp_path / "videos")
    store = library.store("v")
    store.write_jsonl("clips.jsonl", [_clip_doc(0, "first words"), _clip_doc(1, "")])
    neighbours = NeighbourSpeech(library)
    got = neighbours("v", 0)
    assert got is not None and (got.text, got.start_s, got.end_s) == ("first words", 0.0, 10.0)
    assert neighbours("v", 1) is None and neighbours("v", 7) is None  # silent, absent
    assert neighbours("nope", 0) is None
    store.write_jsonl("clips.jsonl", [_clip_doc(0, "indexed again")])
    os.utime(store.path("clips.jsonl"), ns=(1, 1))  # a different mtime, however fast the disk
    got = neighbours("v", 0)
    assert got is not None and got.text == "indexed again"


def test_a_page_is_quoted_in_reading_order_from_the_matched_line() -> None:
    """The line below the one the question matches often holds the answer (a sentence that
    goes on); lines above come after, while room is left."""
    page = [
        "technical details are too complex to cover in the book itself.",
        "In teaching our courses, we have found it useful for the students to attempt a number of",
        "small implementation projects, which often build on one another, in",
        "these projects even turn into conference papers!) The exercises at the end",
    ]
    hit = Hit(
        video_id="v",
        clip_index=3,
        start_s=30.0,
        end_s=40.0,
        score=0.05,
        evidence=[{"modality": "ocr", "text": t, "start_s": 30, "end_s": 40} for t in page],
    )
    a = extractive.answer("In their courses, what do the students attempt a number of?", [hit])
    quoted = a.answer.split("“")[1].split("”")[0]
    assert quoted.startswith(page[1] + " | " + page[2])
