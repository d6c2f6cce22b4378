"""The honest needle benchmark's own rules: the catalog (no answer word in its question, every
needle distinct), the plan (random, separated, stratified), the scoring (answer hits that the
service's decorations cannot fake), the append-only record, and a one-pass render."""

from __future__ import annotations

import itertools
import random
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from bench import realistic_audio as au
from bench.needle_catalog import ABSENT_QUESTIONS, NEEDLES
from bench.needle_report import append_run, read_runs, summarize_runs
from bench.needle_score import absent_ok, contains_answer, rank_of, summarize, uniform_frames
from bench.realistic_plan import choose, overlay_box, place
from bench.realistic_render import pieces, render_video
from tests.synth import lavfi_clip, ultralytics_asset


def test_no_answer_word_stands_in_its_question() -> None:
    for n in NEEDLES:
        for word in n.answer_words:
            assert word.casefold() not in n.question.casefold(), (n.id, word)


def test_needles_are_distinct_and_synthetic_speech_is_labelled() -> None:
    assert len({n.id for n in NEEDLES}) == len(NEEDLES)
    assert len({n.source for n in NEEDLES}) == len(NEEDLES)
    assert len({n.question for n in NEEDLES}) == len(NEEDLES)
    for n in NEEDLES:
        assert n.synthetic == any(s.startswith("espeak:") for s in n.source), n.id
        assert n.synthetic == (n.language != "en"), n.id
    assert {n.kind for n in NEEDLES} == {"speech", "text", "object"}
    assert "zebra spaceship volcano" in ABSENT_QUESTIONS


@pytest.mark.parametrize("minutes", [10, 60])
def test_choose_is_stratified_and_uses_each_needle_once(minutes: int) -> None:
    picked = choose(minutes, random.Random(3))
    assert len({n.id for n in picked}) == len(picked)
    groups = {(n.kind, n.synthetic) for n in picked}
    assert groups == {("speech", False), ("speech", True), ("text", False), ("object", False)}
    if minutes == 60:
        assert len(picked) == len(NEEDLES)


def test_place_keeps_needles_apart_and_off_any_grid() -> None:
    needles = choose(10, random.Random(1))
    lengths = {n.id: 3.3 if n.kind == "speech" else 6.0 for n in needles}
    placed = place(needles, lengths, 600.0, 25, random.Random(1))
    starts = [t for _, t in placed]
    assert starts == sorted(starts) and starts[0] >= 12 and starts[-1] + 6 <= 600 - 12
    for (a, ta), (_, tb) in itertools.pairwise(placed):
        assert tb - (ta + lengths[a.id]) >= 20 - 1e-6
    pictures = [t for n, t in placed if n.kind != "speech"]
    assert all(abs(t * 25 - round(t * 25)) < 1e-6 for t in pictures)  # on a frame...
    assert len({round(t % 2, 2) for t in starts}) > 3  # ...but on no regular grid
    assert placed == place(needles, lengths, 600.0, 25, random.Random(1))  # seeded


def test_overlay_stays_inside_the_frame_while_it_drifts() -> None:
    rng = random.Random(5)
    for _ in range(200):
        box = overlay_box(rng.randint(20, 1500), rng.randint(20, 900), rng.uniform(0.05, 0.7),
                          rng.uniform(4, 9), (1280, 720), rng)  # fmt: skip
        for t in (0.0, box["travel"] / abs(box["vx"]) if box["vx"] else 0.0):
            x = box["x0"] + box["vx"] * t
            assert x >= 0 and x + box["w"] <= 1280 and 0 <= box["y0"] <= 720 - box["h"]


def test_answer_hit_ignores_timestamps_positions_and_counts() -> None:
    answer = (
        "The best matching moments:\n[00:07:41–00:07:52] said: “he left at 7”; "
        "seen: “7 person (center, top right), 1 sports ball (left)”\n"
        "[00:00:58–00:01:07] on screen: “03/09/2009 愚园路 Save 7% now”"
    )
    assert contains_answer(answer, ["ball"]) and contains_answer(answer, ["2009"])
    assert contains_answer(answer, ["愚园路"]) and contains_answer(answer, ["7%"])
    assert not contains_answer(answer, ["center"]) and not contains_answer(answer, ["41"])
    assert not contains_answer("seen: “7 person”", ["7"])
    assert contains_answer("said: “rather cold-hearted”", ["cold hearted"])
    assert not contains_answer("said: “the queens”", ["queen"])  # whole words
    refusal = "Nothing relevant found in the indexed videos: no clip mentions “railing”."
    assert not contains_answer(refusal, ["nothing"]) and contains_answer("“NOTHING?”", ["nothing"])


def test_ranks_groups_and_absent_check() -> None:
    needle = {"id": "a", "kind": "speech", "synthetic": False, "start_s": 10.0, "end_s": 14.0}
    hits = [
        {"video_id": "v", "start_s": 0, "end_s": 10},
        {"video_id": "v", "start_s": 9, "end_s": 11},
    ]
    assert rank_of(hits, needle, "v") == 2 and rank_of(hits, needle, "w") is None
    miss = {"rank": None, "answer_hit": False, "citation_hit": False}
    rows = [
        {**needle, "rank": 2, "answer_hit": True, "citation_hit": False},
        {**needle, **miss, "id": "b", "synthetic": True},
    ]
    s = summarize(rows)
    assert s["speech"]["recall@5"] == 0.5 and s["speech_real"]["mrr"] == 0.5
    assert s["all_real"]["needles"] == 1 and s["speech_synthetic"]["recall@1"] == 0
    assert absent_ok({"answer": "Nothing relevant was found.", "citations": []})
    assert not absent_ok({"answer": "Nothing relevant, but: ...", "citations": [{"start_s": 1}]})
    assert not absent_ok({"answer": "The best matching moments: ...", "citations": []})
    brief = {**needle, "id": "b", "start_s": 40.5, "end_s": 40.9}
    frames = uniform_frames(64.0, [needle, brief], 32)
    assert frames["all"] == 0.5  # centres fall at 1, 3, 5, ...: 11 and 13 inside, none in 40.5-40.9


def test_runs_are_appended_and_summarised_as_medians(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    for r5, x in ((0.5, 8.0), (0.7, 6.0), (0.6, 7.0)):
        run = {
            "minutes": 10, "seed": 1, "answer_mode": "extractive", "asr": "a", "text_embedder": "t",
            "summary": {"all": {"needles": 14, "recall@5": r5}}, "absent": [{"ok": True}],
            "ingest": {"x_realtime": x}, "load": {"during_ingest": {"mean": 1.0}},
            "library": {"hours": 0.17}, "code": {"commit": "abc"},
        }  # fmt: skip
        append_run(path, run)
    assert len(read_runs(path)) == 3
    (row,) = summarize_runs(read_runs(path))
    assert row["runs"] == 3 and row["r@5"] == 0.6 and row["x realtime"] == 7.0


def test_audio_levels_spans_and_ducking() -> None:
    tone = np.sin(np.arange(au.RATE) * 2 * np.pi * 220 / au.RATE).astype(np.float32) * 0.5
    x = np.concatenate([au.silence(0.5), tone, au.silence(0.7)])
    start, end = au.voiced_span(x)
    assert abs(start - 0.5) < 0.03 and abs(end - 1.5) < 0.03
    assert abs(au.active_db(au.at_level(x, -20.0)) + 20.0) < 0.1
    track = np.ones(au.RATE * 2, np.float32)
    au.duck(track, 0.5, 1.0, 0.0)
    assert track[round(0.75 * au.RATE)] == 0 and track[0] == 1 and track[-1] == 1
    assert len(au.loop_excerpt(tone, 0.9, 2.5)) == round(2.5 * au.RATE)


def test_one_pass_render_writes_every_frame(tmp_path: Path) -> None:
    fps, size = 25, (320, 180)
    footage = lavfi_clip("testsrc2", 6.0, size=size, fps=fps)
    cuts = [SimpleNamespace(source="a", audio="none", offset_s=0.0, a=0, b=60),
            SimpleNamespace(source="a", audio="none", offset_s=1.0, a=60, b=120)]  # fmt: skip
    bus = SimpleNamespace(spec=SimpleNamespace(show="overlay", source=("bus",)), a=37, b=80,
                          box={"w": 80, "h": 100, "x0": 20.0, "y0": 30.0, "vx": 5.0})  # fmt: skip
    still = SimpleNamespace(spec=SimpleNamespace(show="still", source=("zidane",)), a=100, b=113)
    assert [(p[1], p[2]) for p in pieces(cuts, [bus, still])] == [
        (0, 37), (37, 60), (60, 80), (80, 100), (100, 113), (113, 120)
    ]  # fmt: skip
    photos = {name: ultralytics_asset(f"{name}.jpg") for name in ("bus", "zidane")}
    paths = {"a": footage, **photos}
    wav = tmp_path / "sound.wav"
    au.write_wav(wav, au.silence(120 / fps))
    dest = tmp_path / "out.mp4"
    render_video(dest, cuts, [bus, still], wav, size, fps, lambda s: paths[s])
    count = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v", "-show_entries",
         "stream=nb_read_frames", "-of", "csv=p=0", str(dest)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert int(count.strip().strip(",")) == 120
