"""The second hearing of speech Whisper dropped or garbled (indexer/extractors/asr/dropped.py):
which stretches are heard again and what replaces what. The real-model case is in
tests/test_whisper_packaged.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from indexer.extractors.asr import dropped
from indexer.types import SpeechSegment, Word


def seg(a: float, b: float, text: str, prob: float = 0.9) -> SpeechSegment:
    words = text.split()
    step = (b - a) / len(words)
    return SpeechSegment(
        start_s=a,
        end_s=b,
        text=text,
        words=[
            Word(word=w, start_s=a + i * step, end_s=a + (i + 1) * step, prob=prob)
            for i, w in enumerate(words)
        ],
    )


def test_uncovered_keeps_speech_no_segment_covers() -> None:
    regions = [(0.0, 10.0), (12.0, 13.5), (20.0, 20.5)]
    covered = [(0.5, 4.0), (6.5, 10.2)]
    assert dropped.uncovered(regions, covered) == [(4.0, 6.5), (12.0, 13.5)]
    assert dropped.uncovered([(0.0, 3.0)], [(0.2, 2.5)]) == []  # edges under a second


@pytest.fixture
def vad(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, float]]:
    regions: list[tuple[float, float]] = []
    monkeypatch.setattr(dropped, "speech_regions", lambda samples: regions)
    return regions


def test_a_gap_is_heard_again_and_a_doubtful_segment_replaced_only_by_another_language(
    vad: list[tuple[float, float]],
) -> None:
    samples = np.zeros(30 * dropped.SAMPLE_RATE, dtype=np.float32)
    vad += [(0.0, 4.0), (5.0, 9.0), (10.0, 14.0), (15.0, 19.0)]
    segments = [
        seg(100.0, 104.0, "the weather stays mild"),
        seg(110.0, 114.0, "moujou natus moufremme lopital", prob=0.3),  # garbled French
        seg(115.0, 119.0, "quiet talk under the music", prob=0.3),  # just hard to hear
    ]
    asked: list[float] = []

    def alone(piece: Any) -> tuple[str | None, list[SpeechSegment]]:
        asked.append(len(piece) / dropped.SAMPLE_RATE)
        if len(asked) == 1:  # the gap at 5-9 s: a German sentence Whisper dropped
            return "de", [seg(0.3, 4.2, "unsere Mannschaft hat gewonnen")]
        if len(asked) == 2:
            return "fr", [seg(0.2, 4.1, "mon frère est médecin")]
        return "en", [seg(0.2, 4.1, "quiet talk under the music")]

    out = dropped.heard_again(samples, segments, 100.0, "en", alone)
    assert [s.text for s in out] == [
        "the weather stays mild",
        "unsere Mannschaft hat gewonnen",
        "mon frère est médecin",
        "quiet talk under the music",
    ]
    assert asked == pytest.approx([4.5, 4.5, 4.5])  # each stretch with 0.25 s either side
    german = out[1]
    assert german.start_s == pytest.approx(100.0 + 4.75 + 0.3)
    assert german.words[0].start_s == pytest.approx(german.start_s)
    assert out[3] is segments[2]  # heard in the same language: kept as it was


def test_nothing_to_hear_again(vad: list[tuple[float, float]]) -> None:
    samples = np.zeros(10 * dropped.SAMPLE_RATE, dtype=np.float32)
    vad += [(1.0, 4.0)]
    segments = [seg(1.0, 4.0, "all of it heard well")]

    def alone(piece: Any) -> tuple[str | None, list[SpeechSegment]]:
        raise AssertionError("nothing should be heard again")

    assert dropped.heard_again(samples, segments, 0.0, "en", alone) == segments
