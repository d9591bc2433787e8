"""The map page and health checks."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlalchemy import text

from api.deps import SessionDep
from api.web.map import build_map, content_security_policy
from geo.errors import NotFound
from geo.grids.store import county_extent, list_layers

router = APIRouter(tags=["web"])


@router.get("/", response_class=HTMLResponse, summary="The web map", include_in_schema=False)
def index(session: SessionDep) -> HTMLResponse:
    bounds = county_extent(session)
    if bounds is None:
        raise NotFound("no district is loaded yet; run `gridmap demo` or import one")
    layers = [{"code": l["code"], "name": l["name"], "color": l["color"]} for l in list_layers(session)]
    page = build_map(bounds=bounds, layers=layers)
    # Confined to this server: nothing else may be loaded or asked (see content_security_policy).
    return HTMLResponse(page, headers={"Content-Security-Policy": content_security_policy(page)})


@router.get("/health", summary="Liveness")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/db", summary="Database round trip (SELECT 1)")
def health_db(session: SessionDep) -> dict[str, str]:
    session.execute(text("SELECT 1")).scalar_one()
    return {"status": "ok"}
