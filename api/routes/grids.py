from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from api.caching import Revalidated
from api.deps import BBoxDep, IsoDateTime, PagingDep, SessionDep
from api.schemas.geojson import GEOJSON, Feature, FeatureCollection, collection_response
from api.security import MapReader
from geo.errors import InvalidInput
from geo.grids.editing import etag
from geo.grids.history import grid_history, grids_at, lineage
from geo.grids.store import grid_counts
from geo.spatial.features import get_feature, list_features

router = APIRouter(prefix="/grids", tags=["grids"])


@router.get("", response_model=FeatureCollection, summary="Grids of every layer", dependencies=[Revalidated])
def grids(
    request: Request,
    session: SessionDep,
    principal: MapReader,
    bbox: BBoxDep,
    paging: PagingDep,
    layer: Annotated[str | None, Query(max_length=32, description="Layer code, e.g. comprehensive.")] = None,
    division: Annotated[str | None, Query(pattern=r"^\d{12}$", description="Grids under this division.")] = None,
    at: Annotated[IsoDateTime | None, Query(description="The grids as they were at this time (ISO 8601).")] = None,
) -> Response:
    if at is not None:
        if bbox is not None or division is not None:
            raise InvalidInput("at combines with layer and paging only", pointer="at")
        return collection_response(request, grids_at(session, at, layer=layer, limit=paging.limit,
                                                     after=paging.after, scope=principal.scope))
    filters = {k: v for k, v in {"layer": layer, "division": division}.items() if v}
    page = list_features(session, "grids", bbox=bbox, filters=filters, limit=paging.limit, after=paging.after,
                         scope=principal.scope)
    return collection_response(request, page)


@router.get("/{grid_id}", response_model=Feature, summary="One grid with what lies inside it")
def grid(session: SessionDep, principal: MapReader, grid_id: Annotated[int, Path(ge=1, le=2**62)]) -> Response:
    """The grid and its counts: households, residents, cameras, open events, staff."""
    feature = json.loads(get_feature(session, "grids", grid_id, scope=principal.scope))
    feature["properties"]["counts"] = grid_counts(session, grid_id)
    return Response(json.dumps(feature, ensure_ascii=False, default=str), media_type=GEOJSON,
                    headers={"ETag": etag(grid_id, feature["properties"]["version"])})


@router.get("/{grid_id}/history", summary="Every version of a grid, with validity period, author and reason")
def history(session: SessionDep, principal: MapReader, grid_id: Annotated[int, Path(ge=1, le=2**62)]) -> list[dict]:
    return grid_history(session, grid_id, principal.scope)


@router.get("/{grid_id}/lineage", summary="The grids this one came from and the grids it became")
def grid_lineage(session: SessionDep, principal: MapReader, grid_id: Annotated[int, Path(ge=1, le=2**62)]) -> dict:
    return lineage(session, grid_id, principal.scope)
