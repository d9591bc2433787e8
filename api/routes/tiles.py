from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from api.caching import Revalidated
from api.deps import SessionDep
from api.security import MapReader
from geo.grids.store import county_extent
from tiles.mvt import render_tile, tilejson

router = APIRouter(prefix="/tiles", tags=["tiles"])

Code = Annotated[str, Path(max_length=32, pattern=r"^[a-z_]+$")]


@router.get("/{source}/{layer}.json", summary="TileJSON for a grid layer or a division level")
def tile_json(request: Request, session: SessionDep, principal: MapReader, source: Code, layer: Code) -> dict[str, Any]:
    return tilejson(session, source, layer, str(request.base_url).rstrip("/"), county_extent(session))


@router.get("/{source}/{layer}/{z}/{x}/{y}.mvt", summary="A Mapbox vector tile",
            response_class=Response, responses={200: {"content": {"application/vnd.mapbox-vector-tile": {}}}},
            dependencies=[Revalidated])
def tile(session: SessionDep, principal: MapReader, source: Code, layer: Code, z: int, x: int, y: int) -> Response:
    body = render_tile(session, source, layer, z, x, y, scope=principal.scope)
    # Never public: the tile shows the caller's territory (api.caching sets private, Vary and the ETag).
    return Response(body, media_type="application/vnd.mapbox-vector-tile")
