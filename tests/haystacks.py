"""Needle haystacks for the tests, made only of media the tests generate (tests/synth.py):

- filler: ffmpeg lavfi footage (mandelbrot, life, cellauto, gradients, colour bars) with
  unrelated espeak-ng speech in English, French and German over it;
- speech needles: espeak-ng sentences (the en-us+f2 voice, which pocketsphinx hears best);
- text needles: Pillow-rendered departure boards and notices;
- the object needle: Ultralytics' bus photo (a bus, people beside it).

Questions are phrased without their answer words: the answer words are what the needle's own
evidence (transcript, on-screen text, object labels) must contain. Built videos are cached under
the test cache, keyed by everything they are built from (bench/haystack.py)."""

from __future__ import annotations

from bench.haystack import KINDS, Haystack, Material, NeedleSpec, build_haystack
from tests import synth

NEEDLE_VOICE = {"voice": "en-us+f2", "speed": 145}

# (what is said, the question, words the transcript must hold): pocketsphinx hears "friday",
# Whisper base "friday" and "tournament" (it hears "chess tournament" as "chest ornament")
SPEECH_NEEDLES = [
    (
        "The library closes early on Friday, because the chess club holds its yearly tournament "
        "there.",
        "When does the library close early, and why?",
        ("friday", "chess", "tournament"),
    ),
]
# (the card's lines, the question, words the on-screen text must hold); mixed case, as RapidOCR
# drops the spaces between words set in capitals
TEXT_NEEDLES = [
    (
        ["Gate B17", "Flight SK 1467 to Oslo", "Boarding at 14:35"],
        "Which city does the flight from gate B17 go to?",
        ("oslo",),
    ),
]
OBJECT_NEEDLE_QUESTION = "When do we see people next to a bus?"  # the detector says "person"

# unrelated talk under the filler: other topics, other voices and languages, pauses between
UNRELATED = [
    ("en-us", "The weather stays mild this week, with light rain in the north and sunshine "
              "along the coast."),
    ("en-gb", "Add two cups of flour and a pinch of salt, then stir slowly until smooth."),
    ("fr-fr", "Le marché ouvre à huit heures et les légumes frais arrivent de la campagne."),
    ("en-gb-scotland", "The garden needs watering every evening while the tomatoes are young."),
    ("en-us+m3", "Our team scored twice in the second half and won the match three to one."),
    ("de", "Der Zug nach München fährt heute zehn Minuten später ab."),
    ("en-us", "Traffic on the ring road is slow this morning after a lorry lost its load of "
              "apples."),
    ("es", "Mañana por la tarde habrá un concierto de guitarra en la plaza mayor."),
    ("en-gb", "Scientists counted more than four hundred birds nesting on the cliffs this spring."),
    ("en-us+m3", "Remember to switch off the lights and lock the windows before the holidays."),
]  # fmt: skip
FILLER_SOURCES = ["mandelbrot", "life", "cellauto", "gradients", "bars"]
FILLER_S = 30.0


def _speech_bank() -> tuple[str, ...]:
    pause = synth.CACHE / "speech" / "pause-1500ms.wav"
    if not pause.exists():
        import numpy as np

        synth.write_wav(pause, np.zeros(int(1.5 * synth.RATE), dtype=np.int16))
    out: list[str] = []
    for voice, text in UNRELATED:
        out += [str(synth.speech_wav(text, voice=voice)), str(pause)]
    return tuple(out)


def material() -> Material:
    """The generated needles, filler and unrelated speech (built once, then cached)."""
    needles = [
        NeedleSpec("speech", str(synth.speech_wav(said, **NEEDLE_VOICE)), q, a)  # type: ignore[arg-type]
        for said, q, a in SPEECH_NEEDLES
    ]
    needles += [
        NeedleSpec("text", str(synth.save_png(synth.text_card(lines), "needle-card")), q, a)
        for lines, q, a in TEXT_NEEDLES
    ]
    bus = str(synth.ultralytics_asset("bus.jpg"))
    needles.append(NeedleSpec("object", bus, OBJECT_NEEDLE_QUESTION, ("person",)))
    filler = tuple(
        (str(synth.lavfi_clip(s, FILLER_S, tone_hz=None)), False) for s in FILLER_SOURCES
    )
    return Material(tuple(needles), filler, _speech_bank())


def needle_haystack(
    name: str, seconds: float, seed: int, kinds: tuple[str, ...] = KINDS
) -> Haystack:
    """A haystack of `seconds` with one needle of each of `kinds`, cached under `name`."""
    dest = synth.CACHE / "haystacks" / f"{name}-{seconds:g}s-seed{seed}.mp4"
    return build_haystack(dest, seconds, seed, material=material(), kinds=kinds)
