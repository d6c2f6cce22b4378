"""What `vidrag index` and `vidrag ask` print: the summary of an indexed video, and an answer
streamed to the terminal as it is written, with its citations at the end."""

from __future__ import annotations

import sys

import typer

from app.answer.extractive import hms
from app.cli_common import say
from app.settings import AppSettings
from indexer.manifest import VideoManifest


def print_summary(manifest: VideoManifest, *, as_json: bool) -> None:
    """Stage times against the video's length, what ran (capabilities) and what was found."""
    if as_json:
        say(manifest.model_dump_json(indent=1))
        return
    duration = manifest.media.duration_s
    say(f"\n{'stage':<10}{'seconds':>9}{'x realtime':>12}")
    for stage, secs in manifest.stage_seconds.items():
        say(f"{stage:<10}{secs:>9.1f}{duration / secs if secs else float('inf'):>12.1f}")
    say(
        "\ncapabilities: "
        + ", ".join(
            f"{k}={c.backend or 'off'}" + ("" if c.ok else f" ({c.reason[:60]})")
            for k, c in manifest.capabilities.items()
        )
    )
    say(
        "found: "
        + ", ".join(f"{v} {k}" for k, v in manifest.counts.items())
        + f", {manifest.clip_count} clips"
    )
    say(f"ready: {manifest.id}  {manifest.title}")


async def stream_answer(
    settings: AppSettings, video_id: str, question: str, top_k: int | None
) -> None:
    """Retrieve the clips of `video_id` that matter and answer from them with the gateway's
    Answerer (the LMM when configured, else extractive), printing the text as it arrives."""
    import asyncio

    from app.answer.service import Answerer
    from indexer.catalog import Catalog
    from indexer.errors import InvalidQuery
    from indexer.extractors import Extractors
    from indexer.retrieve import Searcher
    from indexer.store import Library

    if not question.strip():
        raise InvalidQuery("the question is empty")
    library = Library(settings.videos_dir)
    state = Catalog(settings.db_url()).get(video_id)
    titles = {video_id: state.title if state else video_id}
    searcher = Searcher(library, Extractors(settings), settings)
    k = top_k or settings.index.default_top_k
    # embedding and FAISS are CPU work: off the event loop, as in the gateway
    hits = await asyncio.to_thread(searcher.search, question.strip(), [video_id], k)
    answerer = Answerer(settings.lmm, library)
    async for ev in answerer.stream(question.strip(), hits, titles):
        if ev.event == "delta":
            sys.stdout.write(ev.data["text"])
            sys.stdout.flush()
        elif ev.event == "reset":
            say(f"\n[the LMM failed ({ev.data['reason']}); answering from the evidence]")
        elif ev.event == "done":
            say()
            citations = ev.data["citations"]
            if citations:
                say("\ncitations:")
            for c in citations:
                title = titles.get(c["video_id"], c["video_id"])
                say(f"  [{hms(c['start_s'])}–{hms(c['end_s'])}] {title}")
            note = f" (degraded: {ev.data['degraded']})" if ev.data.get("degraded") else ""
            typer.secho(f"model: {ev.data['model']}{note}", dim=True)
