from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import SessionDep
from api.security import MapReader
from geo.grids import get_layer, list_layers

router = APIRouter(prefix="/layers", tags=["layers"])


@router.get("", summary="Grid layers (nets) and their rules")
def layers(session: SessionDep, principal: MapReader) -> list[dict[str, Any]]:
    return list_layers(session)


@router.get("/{code}", summary="One grid layer")
def layer(session: SessionDep, principal: MapReader, code: str) -> dict[str, Any]:
    return get_layer(session, code)
