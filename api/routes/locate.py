from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.deps import SessionDep
from api.schemas.locate import LocateResult
from api.security import MapReader
from geo.locating.locate import locate
from geo.spatial.crs import Crs

router = APIRouter(tags=["locate"])


@router.get("/locate", response_model=LocateResult, summary="Grids and divisions covering a point")
def locate_point(
    session: SessionDep,
    principal: MapReader,
    lon: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False, description="Longitude in `crs`.")],
    lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False, description="Latitude in `crs`.")],
    crs: Annotated[Crs, Query(description="wgs84, cgcs2000, gcj02 (AMap/WeChat) or bd09 (Baidu).")] = Crs.WGS84,
) -> Response:
    """For every grid layer, the grid covering the point, plus the county, township and village.

    A point on an edge shared by two grids belongs to the grid with the smaller code.
    """
    # Returned as a response directly: the hot path skips re-validating its own output
    # (LocateResult documents the shape and a test checks the answer against it).
    loc = locate(session, lon, lat, crs, scope=principal.scope)
    body = {"lon": loc.lon, "lat": loc.lat, "crs": crs.value, "divisions": loc.divisions, "grids": loc.grids}
    return Response(orjson.dumps(body), media_type="application/json")
