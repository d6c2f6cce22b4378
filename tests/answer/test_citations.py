"""Cited times are mapped to the clips the model was shown; invented ones are dropped."""

from __future__ import annotations

from app.answer.citations import find_times, parse_clock, resolve_citations
from app.answer.prompt import PromptClip

LATE = PromptClip(0, "aaaa", "Lecture one", 75, 750.4, 760.6, 2)
BOARD = PromptClip(1, "bbbb", "Board meeting", 1, 10.0, 20.0, 2)
EARLY = PromptClip(2, "aaaa", "Lecture one", 1, 10.0, 20.0, 1)
CLIPS = [EARLY, LATE, BOARD]


def cite(c: PromptClip) -> dict:
    return {"video_id": c.video_id, "start_s": c.start_s, "end_s": c.end_s}


def test_one_inside_one_invented() -> None:
    r = resolve_citations("The code is 742 [00:12:35]. It was changed at [01:30:00].", CLIPS)
    assert r.citations == [cite(LATE)]
    assert r.dropped == 1


def test_forms_point_range_and_label() -> None:
    answer = (
        "Said at [12:31] and shown at [00:12:30–00:12:40]; the exit sign [00:00:15 - 00:00:18]; "
        "again [0:12:33—0:12:36]; see [Lecture one · 00:12:30–00:12:41]; footnote [1] [sic]."
    )
    r = resolve_citations(answer, [LATE, EARLY])
    assert r.citations == [cite(LATE), cite(EARLY)]  # deduplicated, in order of first mention
    assert r.dropped == 0


def test_label_edges_count_as_inside() -> None:
    # the label shows 00:12:30–00:12:41 for 750.4–760.6 s: both ends as shown are accepted
    assert resolve_citations("[00:12:30] [00:12:41]", [LATE]).dropped == 0
    assert resolve_citations("[00:12:29] [00:12:42]", [LATE]).dropped == 2


def test_ranges_need_an_end_inside() -> None:
    r = resolve_citations("[00:12:20–00:12:35] [00:12:55–00:13:10] [00:00:00–01:00:00]", [LATE])
    assert r.citations == [cite(LATE)]
    assert r.dropped == 2


def test_malformed_times_are_dropped() -> None:
    r = resolve_citations("[00:75:00] [12:99] [00:12:40–00:12:31] [00:12:3x]", [LATE])
    assert r.citations == [] and r.dropped == 4


def test_lists_in_one_bracket() -> None:
    r = resolve_citations("[00:00:12, 00:12:34; 02:00:00]", CLIPS)
    assert r.citations == [cite(BOARD), cite(LATE)] and r.dropped == 1  # BOARD: best rank


def test_several_videos_contain_the_time() -> None:
    # 00:00:15 lies in clips of both videos
    assert resolve_citations("It opens [00:00:15].", CLIPS).citations == [cite(BOARD)]  # rank
    named = "In the Lecture one video the exit is shown [00:00:15]."
    assert resolve_citations(named, CLIPS).citations == [cite(EARLY)]  # title mentioned before
    label = "[Board meeting · 00:00:15] and [Lecture one · 00:00:15]"
    assert resolve_citations(label, CLIPS).citations == [cite(BOARD), cite(EARLY)]
    grouped = "The code appears [00:12:35] and the exit [00:00:15]."
    assert resolve_citations(grouped, CLIPS).citations == [cite(LATE), cite(EARLY)]  # previous


def test_parsers() -> None:
    assert parse_clock("01:02:03") == 3723
    assert parse_clock("2:03") == 123
    assert parse_clock("00:60:00") is None
    times, bad = find_times("x [00:00:01] y [a · 1:02:03–1:02:09] z [10:00 - 9:00]")
    assert [(t.start_s, t.end_s, t.title_hint) for t in times] == [(1, 1, None), (3723, 3729, "a")]
    assert bad == 1
