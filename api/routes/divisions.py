from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from api.caching import Revalidated
from api.deps import BBoxDep, PagingDep, SessionDep
from api.schemas.geojson import Feature, FeatureCollection, collection_response, feature_response
from api.security import MapReader
from geo.models import DivisionLevel
from geo.spatial.features import get_feature, list_features

router = APIRouter(prefix="/divisions", tags=["divisions"])


@router.get("", response_model=FeatureCollection, summary="Administrative divisions", dependencies=[Revalidated])
def divisions(
    request: Request,
    session: SessionDep,
    principal: MapReader,
    bbox: BBoxDep,
    paging: PagingDep,
    level: Annotated[DivisionLevel | None, Query()] = None,
    parent: Annotated[str | None, Query(pattern=r"^\d{12}$", description="Parent division code.")] = None,
) -> Response:
    filters = {k: v for k, v in {"level": level and level.value, "parent": parent}.items() if v}
    page = list_features(session, "divisions", bbox=bbox, filters=filters, limit=paging.limit, after=paging.after,
                         scope=principal.scope)
    return collection_response(request, page)


@router.get("/{division_id}", response_model=Feature, summary="One division")
def division(session: SessionDep, principal: MapReader, division_id: Annotated[int, Path(ge=1, le=2**62)]) -> Response:
    return feature_response(get_feature(session, "divisions", division_id, scope=principal.scope))
