"""Sentences for bench/speech_search.py: distinct spoken moments built from templates over
names, places and things (many of them words an ASR model rarely hears), each with queries a
viewer might type (content words of the sentence, never the whole sentence), plus fillers that
no query targets; and the real recordings with human transcripts from ../shared/testdata."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from pathlib import Path


def _words(text: str) -> list[str]:
    return text.split()


FILLER_COUNT = 80
NEEDLE_COUNT = 120

NAMES = _words("""
Gonzalez Dashwood Okonkwo Schmidt Nakamura Fitzgerald Castellano Abernathy Thibodeaux
Kowalski Marguerite Bartholomew Siobhan Ingrid Rasmussen Papadopoulos Oyelaran Lindqvist
Moreau Hargreaves Delacroix Petrovic Yamamoto Kaczmarek Ferreira Brannigan Whitcombe Anselm
Vukovic Oduya""")
PLACES = _words("""
Rotterdam Timbuktu Saskatchewan Valparaiso Edinburgh Reykjavik Marrakesh Ljubljana
Winnipeg Tallahassee Antwerp Guadalajara Kalamazoo Tromso Bratislava Albuquerque Mombasa
Innsbruck Cartagena Nottingham Thessaloniki Yokohama Zanzibar Galway""")
THINGS = _words("""umbrellas lanterns accordions typewriters pineapples bicycles telescopes violins
mattresses kettles saxophones wheelbarrows chandeliers surfboards harmonicas parachutes
compasses trombones microscopes hammocks""")
TOPICS = _words("""volcanoes glaciers mushrooms beetles tornadoes coral reefs earthquakes honeybees
submarines lighthouses asteroids penguins monsoons fossils orchids""")
JOBS = _words("""carpenter astronomer pharmacist locksmith veterinarian cartographer beekeeper
geologist blacksmith choreographer""")
DAYS = _words("Monday Tuesday Wednesday Thursday Friday Saturday Sunday")

TEMPLATES = [
    (
        "{name} from {place} ordered {n} {thing} for the festival",
        ["{name} {thing}", "{place} {thing}"],
    ),
    (
        "the train to {place} leaves from platform {n} on {day} morning",
        ["train {place}", "platform {n} {day}"],
    ),
    (
        "{name} said the {thing} were hidden in the basement",
        ["{name} hidden {thing}", "basement {thing}"],
    ),
    ("our guest today is {name}, a {job} who studies {topic}", ["{job} {topic}", "{name} {job}"]),
    (
        "a shipment of {thing} arrived in {place} last {day}",
        ["shipment {thing}", "{place} shipment"],
    ),
    (
        "{name} lost {n} {thing} while travelling through {place}",
        ["{name} lost {thing}", "{place} travelling"],
    ),
    (
        "scientists in {place} warned about {topic} near the coast",
        ["{place} {topic} warning", "{topic} coast"],
    ),
    (
        "the {job} repaired the {thing} in {place} for free",
        ["{job} repaired {thing}", "{job} {place}"],
    ),
]
FILLER = [
    "and then we talked for a while about nothing in particular",
    "thank you all for coming, please take your seats",
    "it was a long day and everyone was tired by the evening",
    "the weather stayed grey and cold for most of the week",
    "let us move on to the next item on the agenda",
    "I think we should wait until everyone has arrived",
    "she looked at the clock and decided to leave early",
    "there is coffee in the kitchen if anyone wants some",
]


@dataclass
class Spoken:
    text: str
    queries: list[str] = field(default_factory=list)


def sentences(seed: int = 1) -> list[Spoken]:
    """FILLER_COUNT fillers (no queries), then NEEDLE_COUNT distinct needles with queries."""
    rng = random.Random(seed)
    out = [Spoken(f"{rng.choice(FILLER)}, {rng.choice(FILLER)}") for _ in range(FILLER_COUNT)]
    seen: set[str] = set()
    while len(out) < FILLER_COUNT + NEEDLE_COUNT:
        text, qs = rng.choice(TEMPLATES)
        slots = {
            "name": rng.choice(NAMES),
            "place": rng.choice(PLACES),
            "thing": rng.choice(THINGS),
            "topic": rng.choice(TOPICS),
            "job": rng.choice(JOBS),
            "day": rng.choice(DAYS),
            "n": str(rng.randint(2, 99)),
        }
        sentence = text.format(**slots)
        if sentence in seen:
            continue
        seen.add(sentence)
        out.append(Spoken(sentence, [q.format(**slots) for q in qs]))
    return out


STOP = set(_words("the a an and of to in on at for is was were he she it his her had have be been"))


def _content_queries(text: str) -> list[str]:
    words = [w.strip(".,;:!?\"'").lower() for w in text.split()]
    content = sorted({w for w in words if w and w not in STOP and len(w) > 3}, key=len)[::-1]
    return [" ".join(content[:2]), " ".join(content[2:4])] if len(content) >= 4 else []


def real_utterances(testdata: Path) -> list[tuple[str, Path, list[str]]]:
    """(human transcript, wav, queries) of the LibriVox and LJSpeech recordings, if present."""
    out: list[tuple[str, Path, list[str]]] = []
    libri = testdata / "speech" / "pocketsphinx_librivox"
    if (libri / "transcription").exists():
        for line in (libri / "transcription").read_text().splitlines():
            if "(" not in line:
                continue
            text, name = line.rsplit("(", 1)
            wav = libri / f"{name.strip(' )')}.wav"
            if wav.exists():
                text = text.replace("<s>", "").replace("</s>", "").strip()
                out.append((text, wav, _content_queries(text)))
    lj = testdata / "speech" / "ljspeech_coqui"
    if (lj / "metadata.csv").exists():
        with (lj / "metadata.csv").open() as f:
            for row in csv.reader(f, delimiter="|"):
                wav = lj / "wavs" / f"{row[0]}.wav"
                if not wav.exists():
                    wav = lj / f"{row[0]}.wav"
                if wav.exists():
                    out.append((row[-1], wav, _content_queries(row[-1])))
    return [(t, _as_16k(w), q) for t, w, q in out if q]


def _as_16k(wav: Path) -> Path:
    """A 16 kHz mono copy (the ASR backends' input), cached beside the transcripts."""
    import subprocess

    dest = Path.home() / ".cache" / "vidrag-bench" / "speech_16k" / wav.name
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-ac", "1", "-ar", "16000", str(dest)],
            check=True,
        )
    return dest
