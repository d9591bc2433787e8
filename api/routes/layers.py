from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import SessionDep
from api.security import MapReader
from geo.grids import get_layer, list_layers
from geo.topology import topology_report

router = APIRouter(prefix="/layers", tags=["layers"])


@router.get("", summary="Grid layers (nets) and their rules")
def layers(session: SessionDep, principal: MapReader) -> list[dict[str, Any]]:
    return list_layers(session)


@router.get("/{code}/topology", summary="Overlaps, gaps, slivers and grids outside their parent, in m²")
def topology(
    session: SessionDep, principal: MapReader, code: str,
    division: Annotated[str | None, Query(pattern=r"^\d{12}$", description="Default: the county.")] = None,
) -> dict[str, Any]:
    """Each problem with its geometry, area in m² and the households it touches."""
    return topology_report(session, code, division, principal.scope)


@router.get("/{code}", summary="One grid layer")
def layer(session: SessionDep, principal: MapReader, code: str) -> dict[str, Any]:
    return get_layer(session, code)
