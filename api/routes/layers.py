from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from api import heavy
from api.deps import SessionDep
from api.security import MapReader
from geo.changes import data_version
from geo.grids.store import get_layer, list_layers
from geo.grids.topology import topology_report

router = APIRouter(prefix="/layers", tags=["layers"])


@router.get("", summary="Grid layers (nets) and their rules")
def layers(session: SessionDep, principal: MapReader) -> list[dict[str, Any]]:
    return list_layers(session)


@router.get("/{code}/topology", summary="Overlaps, gaps, slivers and grids outside their parent, in m²",
            response_model=dict[str, Any])
def topology(
    request: Request, session: SessionDep, principal: MapReader, code: str,
    division: Annotated[str | None, Query(pattern=r"^\d{12}$", description="Default: the county.")] = None,
) -> Response:
    """Each problem with its geometry, area in m² and the households it touches. A heavy request
    (api/heavy.py): bounded per account and per process, and cached until the data changes."""

    def compute() -> Response:
        return JSONResponse(jsonable_encoder(topology_report(session, code, division, principal.scope)))

    key = heavy.ResultCache.key("topology", code, division, principal.scope, data_version(session))
    return heavy.run_cached(request, principal.user_id, "topology reports", key, compute)


@router.get("/{code}", summary="One grid layer")
def layer(session: SessionDep, principal: MapReader, code: str) -> dict[str, Any]:
    return get_layer(session, code)
