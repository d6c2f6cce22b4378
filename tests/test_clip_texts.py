"""The texts a clip is embedded as (indexer/clip_texts.py)."""

from __future__ import annotations

from indexer.clip_texts import (
    SPEECH_STRIDE,
    SPEECH_WINDOW,
    clip_texts,
    objects_phrase,
    plural,
    speech_windows,
)
from indexer.types import Clip, ClipDoc, Evidence


def doc(index: int, **texts: str) -> ClipDoc:
    start = index * 10.0
    ev = [Evidence(modality=m, text=t, start_s=start, end_s=start + 10) for m, t in texts.items()]
    return ClipDoc(clip=Clip(index=index, start_s=start, end_s=start + 10), evidence=ev)


def test_long_speech_is_embedded_in_overlapping_windows() -> None:
    words = [f"w{i}" for i in range(40)]
    windows = speech_windows(" ".join(words))
    assert windows[0].split() == words[:SPEECH_WINDOW]
    assert windows[1].split()[0] == words[SPEECH_STRIDE]
    assert windows[-1].split()[-1] == words[-1]  # the end of the transcript is in a window
    assert speech_windows(" ".join(words[:SPEECH_WINDOW])) == []  # short enough as it is


def test_each_clip_gets_its_whole_evidence_its_modalities_and_speech_windows() -> None:
    long_talk = " ".join(f"word{i}" for i in range(30))
    texts, owners = clip_texts(
        [
            doc(0, speech=long_talk, ocr="NOLITTER here"),
            doc(1, speech="the spare key is under the pot", objects="1 potted plant (left)"),
            doc(2),  # nothing seen or heard: no vector
            doc(3, ocr="EXIT"),
        ]
    )
    first = [t for t, o in zip(texts, owners, strict=True) if o == 0]
    assert first[0] == f"speech: {long_talk}\nA sign reads: no litter here"  # OCR words unglued
    assert f"speech: {long_talk}" not in first  # its windows stand for the long speech
    assert [t for t in first if t.startswith("word")] == speech_windows(long_talk)
    assert "A sign reads: no litter here" in first
    second = [t for t, o in zip(texts, owners, strict=True) if o == 1]
    assert second[1:] == [
        "speech: the spare key is under the pot",
        "Seen: a potted plant",
    ]
    assert 2 not in owners
    assert [t for t, o in zip(texts, owners, strict=True) if o == 3] == ["A sign reads: EXIT"]


def test_what_is_seen_gets_a_vector_of_its_own_beside_the_talk() -> None:
    texts, _ = clip_texts(
        [
            doc(
                0,
                speech="we drove home",
                ocr="Yuyuan Rd.",
                objects="2 person (left), 1 bus (center)",
            )
        ]
    )
    assert texts[0] == "speech: we drove home\nA sign reads: Yuyuan Rd.\nSeen: 2 people, a bus"
    assert texts[-1] == "A sign reads: Yuyuan Rd.\nSeen: 2 people, a bus"  # without the talk
    assert len(texts) == 5  # whole, speech, sign, objects, what is seen


def test_detections_read_as_counted_words() -> None:
    described = "7 person (center, right, top right), 3 orange (left), 1 sports ball (top)"
    assert objects_phrase(described) == "7 people, 3 oranges, a sports ball"
    assert objects_phrase("2 wine glass (left), 2 bus (center), 2 skis (bottom)") == (
        "2 wine glasses, 2 buses, 2 skis"
    )
    assert objects_phrase("a red kite over the beach") == "a red kite over the beach"  # free text
    assert plural("knife") == "knives" and plural("dining table") == "dining tables"
