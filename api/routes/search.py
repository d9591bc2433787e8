"""GET /search: the map's place search (geo/search.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.caching import NoStore
from api.deps import SessionDep
from api.security import MapReader
from geo.access.permissions import Permission
from geo.search import MAX_LIMIT, MAX_QUERY, search

router = APIRouter(tags=["search"])


@router.get("/search", summary="Find a grid, a village or township, a household address or a coordinate",
            dependencies=[NoStore])
def find(
    session: SessionDep,
    principal: MapReader,
    q: Annotated[str, Query(max_length=MAX_QUERY * 2, description=(
        "A grid code (or its start) or name, a village or township name, a household address (callers who "
        "may read households), or coordinates: `106.66,26.45`, `26.45 106.66`, with an optional datum "
        "(wgs84, cgcs2000, gcj02, bd09). Several words: the whole and each word."))],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
) -> dict:
    """Results best first: exact > prefix > contains, the whole query before its parts, bigger places first.

    Each has ``kind`` (township, village, county, grid, household, coordinate), a point (``lon``, ``lat``,
    WGS84: the label point of a shape) and, for shapes, ``bbox``. A coordinate hit gives one reading of the
    pair (``order``, ``crs``) converted to WGS84 and the grids there. Answers are ``no-store``: they may
    hold addresses.
    """
    found = search(session, q, scope=principal.scope, limit=limit,
                   households=principal.can(Permission.HOUSEHOLDS_READ))
    return {"results": found.results, "truncated": found.truncated}
