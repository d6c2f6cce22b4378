"""`vidrag` command line: one library with the service — the same data directory and database as
`vidrag serve`, so a video indexed here is listed, searched, played and answered by the service.

vidrag index lecture.mp4          # one bar per stage, then a summary
vidrag list
vidrag search lecture.mp4 "the secret code"
vidrag ask lecture.mp4 "What is the secret code?"
vidrag delete lecture.mp4
vidrag serve                      # the HTTP API and a worker (app/serve.py)
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.answer.extractive import hms
from app.cli_common import fail, find_video, load_settings, open_catalog, say
from indexer.errors import VideoNotReady, VidragError

if TYPE_CHECKING:
    from app.settings import AppSettings

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="library root (default: $VIDRAG_DATA_DIR)")
]
Video = Annotated[str, typer.Argument(help="video id, the path of an indexed file, or its title")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"vidrag {version('vidrag')}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print version")
    ] = False,
) -> None:
    """Index long videos and ask them questions."""
    # the model libraries' own download/loading bars would garble the stage bars
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@app.command()
def index(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="video file")],
    title: Annotated[str | None, typer.Option(help="title shown in answers")] = None,
    jobs: Annotated[int, typer.Option(help="parts indexed in parallel (processes)")] = 0,
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the manifest as JSON")] = False,
) -> None:
    """Index a video file into the library (resumes a run that was interrupted)."""
    from app.cli_index import IndexRun, Interrupted
    from app.cli_report import print_summary
    from indexer.catalog.progress import StepLost

    settings = load_settings(data_dir)
    catalog = open_catalog(settings)
    run = IndexRun(settings, catalog, jobs=jobs, bars=not as_json)
    try:
        manifest, vid = run.run(path, title)
    except VidragError as e:
        raise fail(e) from e
    except StepLost as e:
        say(f"stopped: {e}", err=True)
        raise typer.Exit(1) from None
    except Interrupted as e:
        resume = ["vidrag", "index", str(path.resolve())]
        resume += ["--data-dir", str(settings.data_dir.resolve())]
        resume += ["--title", title] if title else []
        resume += ["--jobs", str(jobs)] if jobs else []
        say(f"\ninterrupted: {e} is kept with its finished stages; resume with:", err=True)
        say(f"  {shlex.join(resume)}", err=True)
        raise typer.Exit(130) from None
    if manifest is None:
        if as_json:
            print_summary(run.indexer.manifest(run.library.store(vid)), as_json=True)
            return
        state = catalog.get(vid)
        say(f"already indexed: {vid}  {state.title if state else ''}")
        return
    print_summary(manifest, as_json=as_json)


@app.command("list")
def list_videos(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """The videos of the library, newest first, with their status."""
    catalog = open_catalog(load_settings(data_dir))
    states, total = catalog.list_videos(limit=1_000_000)
    if as_json:
        say(json.dumps([s.model_dump(mode="json") for s in states], indent=1))
        return
    for s in states:
        status = s.status if s.status != "processing" else f"{s.stage} {s.percent:.0f}%"
        say(f"{s.id}  {status:<14} {hms(s.duration_s)}  {s.clip_count:>5} clips  {s.title}")
    say(f"{total} video(s)")


@app.command()
def search(
    video: Video,
    query: Annotated[str, typer.Argument(help="what to look for")],
    top_k: Annotated[int, typer.Option("--top-k", "-k")] = 5,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Find the moments of a video that match a query."""
    from indexer.extractors import Extractors
    from indexer.retrieve import Searcher
    from indexer.store import Library

    settings = load_settings(data_dir)
    try:
        vid = _ready(settings, video)
        library = Library(settings.videos_dir)
        hits = Searcher(library, Extractors(settings), settings).search(query, [vid], top_k)
    except VidragError as e:
        raise fail(e) from e
    if as_json:
        say(json.dumps([h.model_dump(mode="json") for h in hits], indent=1))
        return
    for h in hits:
        typer.secho(f"{hms(h.start_s)}–{hms(h.end_s)}  score {h.score:.3f}", bold=True)
        for ev in h.evidence:
            say(f"   {ev.modality:>7}  {ev.text[:100]}")


@app.command()
def ask(
    video: Video,
    question: Annotated[str, typer.Argument(help="the question")],
    top_k: Annotated[int | None, typer.Option("--top-k", "-k", help="clips to answer from")] = None,
    data_dir: DataDir = None,
) -> None:
    """Answer a question about a video, citing times (the same answers as `POST /v1/ask`)."""
    from app.cli_report import stream_answer

    settings = load_settings(data_dir)
    try:
        vid = _ready(settings, video)
        asyncio.run(stream_answer(settings, vid, question, top_k))
    except VidragError as e:
        raise fail(e) from e


@app.command()
def delete(video: Video, data_dir: DataDir = None) -> None:
    """Remove a video, its artifacts and its index from the library."""
    from indexer.store import Library

    settings = load_settings(data_dir)
    catalog = open_catalog(settings)
    try:
        state = find_video(catalog, video)
    except VidragError as e:
        raise fail(e) from e
    # the row first: searches stop seeing it, and a worker still on it finds no job and stops
    catalog.delete(state.id)
    Library(settings.videos_dir).delete(state.id)
    say(f"deleted {state.id}  {state.title}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="default: $VIDRAG_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="default: $VIDRAG_PORT or 8000")] = None,
    worker: Annotated[
        bool, typer.Option(help="also run an indexing worker (--no-worker: gateway only)")
    ] = True,
    concurrency: Annotated[int | None, typer.Option(help="worker processes")] = None,
) -> None:
    """Run the HTTP API and an indexing worker on this machine (no Redis needed; with
    VIDRAG_BROKER_URL=redis://... the worker joins the distributed queue)."""
    from app.serve import serve as run_service

    run_service(host=host, port=port, worker=worker, concurrency=concurrency)


def _ready(settings: AppSettings, video: str) -> str:
    """The id of `video`, which must be indexed (ready)."""
    state = find_video(open_catalog(settings), video)
    if state.status != "ready":
        raise VideoNotReady(f"video {state.id} is {state.status}, not ready")
    return state.id


if __name__ == "__main__":
    app()
