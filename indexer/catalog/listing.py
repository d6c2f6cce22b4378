"""Listing the library: filters (status, a substring of the title), a sort, a total under the
filters, and keyset pagination with an opaque cursor — a page boundary that stays put while
videos are added or deleted, and that reaches every video however many there are."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select

from indexer.catalog.schema import STATUSES, JobRow, VideoRow, VideoState
from indexer.catalog.videos import VideoRecords

SORTS = ("-created_at", "created_at", "title", "-title")


class BadListing(ValueError):
    """A listing request the catalog cannot answer: an unknown status or sort, a bad cursor."""


@dataclass
class VideoPage:
    """One page of the library, the count under the filters and where the next page starts."""

    videos: list[VideoState]
    total: int
    next_cursor: str | None


def encode_cursor(sort: str, key: Any, video_id: str) -> str:
    value = key.isoformat() if isinstance(key, datetime) else key
    raw = json.dumps({"s": sort, "k": value, "i": video_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        key, video_id = data["k"], str(data["i"])
        if data["s"] != sort:
            raise BadListing(f"the cursor belongs to sort={data['s']}, not sort={sort}")
        if sort.lstrip("-") == "created_at":
            key = datetime.fromisoformat(key)
        elif not isinstance(key, str):
            raise TypeError(key)
    except BadListing:
        raise
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
        raise BadListing("the cursor is not one this service handed out") from None
    return key, video_id


class VideoListing(VideoRecords):
    """The catalog's listing side: `GET /v1/videos` and `vidrag list`."""

    def page_videos(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        cursor: str | None = None,
        statuses: list[str] | None = None,
        q: str | None = None,
        sort: str = "-created_at",
        tenant: str | None = None,
    ) -> VideoPage:
        if sort not in SORTS:
            raise BadListing(f"sort must be one of {', '.join(SORTS)}")
        unknown = sorted(set(statuses or ()) - set(STATUSES))
        if unknown:
            raise BadListing(f"unknown status {unknown[0]!r}: one of {', '.join(STATUSES)}")
        where: list[ColumnElement[bool]] = []
        if tenant is not None:  # a tenant sees, and counts, only its own videos
            where.append(VideoRow.tenant == tenant)
        if statuses:
            where.append(JobRow.status.in_(statuses))
        if q:
            # a literal substring: LIKE's wildcards in the query match themselves
            pattern = "%" + q.lower().replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
            where.append(func.lower(VideoRow.title).like(pattern + "%", escape="\\"))
        column = VideoRow.created_at if sort.lstrip("-") == "created_at" else VideoRow.title
        descending = sort.startswith("-")
        page_where = list(where)
        if cursor:
            key, after_id = decode_cursor(cursor, sort)
            if descending:
                page_where.append(or_(column < key, and_(column == key, VideoRow.id < after_id)))
            else:
                page_where.append(or_(column > key, and_(column == key, VideoRow.id > after_id)))
        order = (column.desc(), VideoRow.id.desc()) if descending else (column, VideoRow.id)
        stmt = (
            select(VideoRow, JobRow)
            .join(JobRow)
            .where(*page_where)
            .order_by(*order)
            .limit(limit + 1)  # one more tells whether a next page exists
            .offset(0 if cursor else offset)
        )
        with self.session() as s:
            total = (
                s.scalar(select(func.count()).select_from(VideoRow).join(JobRow).where(*where)) or 0
            )
        states = self._states(stmt)
        more = len(states) > limit
        states = states[:limit]
        next_cursor = None
        if more and states:
            last = states[-1]
            last_key = last.created_at if column is VideoRow.created_at else last.title
            next_cursor = encode_cursor(sort, last_key, last.id)
        return VideoPage(states, total, next_cursor)
