"""Request → domain objects: the database session and the common query parameters."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import BeforeValidator
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from geo.errors import InvalidInput
from geo.spatial.features import BBox


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request; the request owns the transaction and commits once, before the response.

    ``SessionDep`` declares this dependency with ``scope="function"``: FastAPI runs the code after
    ``yield`` when the route function (and the serialisation of its answer) is done, before the
    response is sent. So a 2xx means committed: a failed commit raises here and is answered as an
    error (a lost database: 503), and a GET right after a write sees it. With the default (request)
    scope the commit ran after the response had started: under connection faults the client got a
    2xx for writes that were never stored and reads whose audit row was lost (issue 11).

    Async on purpose: creating a session does no I/O, so it needs no worker thread; the commit (or
    rollback) and close run in one threadpool hop at the end. A sync generator costs two hops.
    The per-request identity (scope) is bound with set_config(..., true), i.e. to this transaction
    only, so it never leaks to the next request on a pooled connection.
    """
    session = request.app.state.sessionmaker()
    ok = False
    try:
        yield session
        ok = True
    finally:
        await run_in_threadpool(_finish, session, ok)


def _finish(session: Session, ok: bool) -> None:
    """Commit when the route succeeded; close either way (closing rolls back whatever is uncommitted)."""
    try:
        if ok:
            session.commit()
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def parse_bbox(bbox: str | None) -> BBox | None:
    """``minlon,minlat,maxlon,maxlat`` in WGS84, each number finite and in range."""
    if bbox is None:
        return None
    parts = bbox.split(",")
    if len(parts) != 4:
        raise InvalidInput(f"bbox must be minlon,minlat,maxlon,maxlat; got {len(parts)} values", pointer="bbox")
    try:
        minx, miny, maxx, maxy = (float(p) for p in parts)
    except ValueError:
        raise InvalidInput(f"bbox values must be numbers, got {bbox!r}", pointer="bbox") from None
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise InvalidInput("bbox values must be finite numbers", pointer="bbox")
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
        raise InvalidInput("bbox is out of range: longitudes must be within ±180 and latitudes within ±90",
                           pointer="bbox")
    if minx > maxx or miny > maxy:
        raise InvalidInput(f"bbox minimum exceeds maximum ({minx},{miny} > {maxx},{maxy})", pointer="bbox")
    return (minx, miny, maxx, maxy)


def bbox_param(
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (WGS84)",
                                      examples=["106.6,26.3,106.7,26.4"])] = None,
) -> BBox | None:
    return parse_bbox(bbox)


class Paging:
    """``limit`` and ``after`` (keyset: the last id of the previous page)."""

    def __init__(
        self,
        request: Request,
        limit: Annotated[int | None, Query(ge=1, description="Page size (at most GRIDMAP_PAGE_MAX).")] = None,
        after: Annotated[int, Query(ge=0, le=2**62, description="Return features with id greater than this.")] = 0,
    ) -> None:
        server = request.app.state.server_settings
        if limit is not None and limit > server.page_max:
            raise InvalidInput(f"limit must be at most {server.page_max}, got {limit}", pointer="limit")
        self.limit = limit or server.page_default
        self.after = after


BBoxDep = Annotated[BBox | None, Depends(bbox_param)]
PagingDep = Annotated[Paging, Depends(Paging)]


# Dates and times: ISO 8601 only. Pydantic alone reads a bare number as Unix seconds, so ``to=2182`` became
# 1970-01-01T00:36:22 and a report over "2182" silently covered nothing; a year of 5 digits or before the
# calendar of any record here is a typo too. Both are refused with a 422 naming the parameter.
YEARS = (1900, 2100)
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?", re.ASCII)


def iso_datetime(value: object) -> datetime:
    """A date (``2026-11-01``, midnight) or date-time (``2026-11-01T08:00:00+08:00``) in ISO 8601, years 1900–2100."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO.fullmatch(value.strip()):
        raise ValueError("must be an ISO 8601 date or date-time, e.g. 2026-11-01 or 2026-11-01T08:00:00+08:00 "
                         "(a bare number is not read as a date)")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{value.strip()!r} is not a real date or time") from None
    if not YEARS[0] <= parsed.year <= YEARS[1]:
        raise ValueError(f"the year must be within {YEARS[0]}..{YEARS[1]}, got {parsed.year}")
    return parsed


IsoDateTime = Annotated[datetime, BeforeValidator(iso_datetime)]


def check_window(start: datetime | None, end: datetime | None, names: tuple[str, str]) -> None:
    """A time window given the wrong way round is the caller's mistake, not an empty answer (422).

    A date-time without an offset is compared as UTC, which is enough to tell the order.
    """
    if start is None or end is None:
        return
    a, b = (d if d.tzinfo else d.replace(tzinfo=UTC) for d in (start, end))
    if a > b:
        raise InvalidInput(f"{names[0]} must not be after {names[1]}", pointer=names[0])
