"""`vidrag` command line: index a video, search it, serve the HTTP API.

vidrag index lecture.mp4            # progress per stage, then a summary
vidrag search lecture.mp4 "the secret code"
vidrag serve                        # gateway + embedded worker (see app/serve.py)
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from tqdm import tqdm

from indexer.errors import VidragError
from indexer.settings import Settings
from indexer.store import Library, sha256_file, video_id_for

if TYPE_CHECKING:
    from indexer.pipeline import Indexer

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="library root (default: $VIDRAG_DATA_DIR)")
]


def _settings(data_dir: Path | None) -> Settings:
    s = Settings()
    return s.model_copy(update={"data_dir": data_dir}) if data_dir else s


def _fail(e: VidragError) -> typer.Exit:
    typer.secho(f"error [{e.type}]: {e.message}", fg="red", err=True)
    return typer.Exit(2)


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


# --- parallel parts: each worker process loads its own models once --------------------------
_worker: Any = None


def _init_worker(settings_json: str, threads: int) -> None:
    # set before any model library is imported in this fresh process, so the parts running side
    # by side do not each start one thread per core
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    from indexer.pipeline import Indexer

    global _worker
    _worker = Indexer(Settings.model_validate_json(settings_json))


def _run_part(root: str, k: int) -> int:
    from indexer.store import ArtifactStore

    _worker.run_part(ArtifactStore(Path(root)), k)
    return k


@app.command()
def index(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="video file")],
    title: Annotated[str | None, typer.Option(help="title shown in answers")] = None,
    jobs: Annotated[int, typer.Option(help="parts indexed in parallel (processes)")] = 0,
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the manifest as JSON")] = False,
) -> None:
    """Index a video file into the library (resumes a run that was interrupted)."""
    from indexer.pipeline import PART_STAGES, Indexer

    settings = _settings(data_dir)
    indexer = Indexer(settings)
    library = Library(settings.videos_dir)
    started = time.perf_counter()
    try:
        manifest = indexer.accept(path, library, title=title, move=False)
    except VidragError as e:
        raise _fail(e) from e
    store = library.store(manifest.id)
    parts = indexer.plan(store)
    duration = manifest.media.duration_s
    typer.echo(f"{manifest.id}  {manifest.filename}  {duration:.0f} s  {len(parts)} part(s)")

    jobs = jobs or min(len(parts), os.cpu_count() or 1)
    bars = {s: tqdm(total=len(parts), desc=f"{s:>8}", unit="part", leave=True) for s in PART_STAGES}
    todo = [k for k in range(len(parts)) if not store.part(k).stage_done(PART_STAGES[-1])]
    for b in bars.values():
        b.update(len(parts) - len(todo))

    # the text embedder is needed only by `finish`: load it while the parts run
    warm = threading.Thread(target=_warm_text, args=(indexer,), daemon=True)
    warm.start()
    if jobs > 1 and len(todo) > 1:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(
            jobs,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(settings.model_dump_json(), threads),
        ) as pool:
            for _ in pool.map(_run_part, [str(store.root)] * len(todo), todo):
                for b in bars.values():
                    b.update(1)
    else:
        for k in todo:

            def tick(stage: str, fraction: float) -> None:
                if fraction >= 1.0 and stage in bars:
                    bars[stage].update(1)

            indexer.run_part(store, k, tick)
    for b in bars.values():
        b.close()
    warm.join()
    with tqdm(total=3, desc="  finish", unit="step") as bar:
        manifest = indexer.finish(store, lambda s, f: bar.update(1) if f >= 1.0 else None)
    wall = time.perf_counter() - started

    if as_json:
        typer.echo(manifest.model_dump_json(indent=1))
        return
    typer.echo(f"\n{'stage':<10}{'seconds':>9}{'x realtime':>12}")
    for stage, secs in manifest.stage_seconds.items():
        typer.echo(f"{stage:<10}{secs:>9.1f}{duration / secs if secs else float('inf'):>12.1f}")
    typer.echo(f"{'wall':<10}{wall:>9.1f}{duration / wall:>12.1f}")
    typer.echo(
        "\ncapabilities: "
        + ", ".join(
            f"{k}={c.backend or 'off'}" + ("" if c.ok else f" ({c.reason[:60]})")
            for k, c in manifest.capabilities.items()
        )
    )
    typer.echo(
        "found: "
        + ", ".join(f"{v} {k}" for k, v in manifest.counts.items())
        + f", {manifest.clip_count} clips"
    )


@app.command()
def search(
    video: Annotated[str, typer.Argument(help="video id, or the path of an indexed file")],
    query: Annotated[str, typer.Argument(help="what to look for")],
    top_k: Annotated[int, typer.Option("--top-k", "-k")] = 5,
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Find the moments of a video that match a query."""
    from indexer.extractors import Extractors
    from indexer.retrieve import Searcher

    settings = _settings(data_dir)
    library = Library(settings.videos_dir)
    vid = video_id_for(sha256_file(Path(video))) if Path(video).is_file() else video
    try:
        hits = Searcher(library, Extractors(settings), settings).search(query, [vid], top_k)
    except VidragError as e:
        raise _fail(e) from e
    if as_json:
        typer.echo(json.dumps([h.model_dump(mode="json") for h in hits], indent=1))
        return
    for h in hits:
        typer.secho(f"{_hms(h.start_s)}–{_hms(h.end_s)}  score {h.score:.3f}", bold=True)
        for ev in h.evidence:
            typer.echo(f"   {ev.modality:>7}  {ev.text[:100]}")


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


def _warm_text(indexer: Indexer) -> None:
    embedder = indexer.extractors.get("text")
    if embedder is not None:
        with contextlib.suppress(VidragError):  # `finish` records the capability as off
            embedder.warm_up()


def _hms(t: float) -> str:
    t = int(t)
    return f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"


if __name__ == "__main__":
    app()
