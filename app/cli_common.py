"""What the `vidrag` commands share: the settings (the same `VIDRAG_*` defaults as `vidrag serve`,
so both use one data directory and one database), the catalog, and finding a video by id, by the
path of its file or by its title."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from indexer.errors import VideoNotFound, VidragError

if TYPE_CHECKING:
    from app.settings import AppSettings
    from indexer.catalog import Catalog, VideoState


def load_settings(data_dir: Path | None) -> AppSettings:
    """The gateway's settings, with `--data-dir` in place of `$VIDRAG_DATA_DIR` when given (the
    database then defaults to `<data_dir>/vidrag.db` too, unless `$VIDRAG_DATABASE_URL` is set)."""
    from app.settings import AppSettings

    s = AppSettings()
    return s.model_copy(update={"data_dir": data_dir}) if data_dir else s


def open_catalog(settings: AppSettings) -> Catalog:
    from indexer.catalog import Catalog

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(settings.db_url())
    catalog.create_all()
    return catalog


def find_video(catalog: Catalog, video: str) -> VideoState:
    """`video` is an id, the path of a file that was indexed, or a title (case-insensitive);
    raises VideoNotFound when none or several match."""
    from indexer.store import sha256_file, video_id_for

    state = catalog.get(video)
    if state is not None:
        return state
    path = Path(video)
    if path.is_file():
        state = catalog.get(video_id_for(sha256_file(path)))
        if state is None:
            raise VideoNotFound(f"{video} is not indexed: run `vidrag index {shlex.quote(video)}`")
        return state
    wanted = video.strip().casefold()
    states, _ = catalog.list_videos(limit=1_000_000)
    matches = [s for s in states if s.title.casefold() == wanted or s.id.startswith(video)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        ids = ", ".join(f"{s.id} ({s.title})" for s in matches[:5])
        raise VideoNotFound(f"{video!r} matches several videos: {ids}; give an id")
    raise VideoNotFound(f"no video {video!r} (an id, a file's path or a title; see `vidrag list`)")


def fail(e: VidragError) -> typer.Exit:
    typer.secho(f"error [{e.type}]: {e.message}", fg="red", err=True)
    return typer.Exit(2)


def say(text: str = "", *, err: bool = False) -> None:
    typer.echo(text, err=err)
    (sys.stderr if err else sys.stdout).flush()
