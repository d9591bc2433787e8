from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from api.deps import BBoxDep, PagingDep, SessionDep
from api.security import MapReader
from api.schemas.geojson import GEOJSON, Feature, FeatureCollection, collection_response
from geo.features import get_feature, list_features
from geo.grids import grid_counts

router = APIRouter(prefix="/grids", tags=["grids"])


@router.get("", response_model=FeatureCollection, summary="Grids of every layer")
def grids(
    request: Request,
    session: SessionDep,
    principal: MapReader,
    bbox: BBoxDep,
    paging: PagingDep,
    layer: Annotated[str | None, Query(max_length=32, description="Layer code, e.g. comprehensive.")] = None,
    division: Annotated[str | None, Query(pattern=r"^\d{12}$", description="Grids under this division.")] = None,
) -> Response:
    filters = {k: v for k, v in {"layer": layer, "division": division}.items() if v}
    page = list_features(session, "grids", bbox=bbox, filters=filters, limit=paging.limit, after=paging.after,
                         scope=principal.scope)
    return collection_response(request, page)


@router.get("/{grid_id}", response_model=Feature, summary="One grid with what lies inside it")
def grid(session: SessionDep, principal: MapReader, grid_id: Annotated[int, Path(ge=1, le=2**62)]) -> Response:
    """The grid and its counts: households, residents, cameras, open events, staff."""
    feature = json.loads(get_feature(session, "grids", grid_id, scope=principal.scope))
    feature["properties"]["counts"] = grid_counts(session, grid_id)
    return Response(json.dumps(feature, ensure_ascii=False, default=str), media_type=GEOJSON)
