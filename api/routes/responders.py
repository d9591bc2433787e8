"""Emergency response queries: nearest available responders (to a point or an event), what is
around an incident, and an emergency grid's roll call. One call each."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from api.caching import NoStore
from api.deps import SessionDep
from api.security import Principal, bind_scope, requires
from geo.access.permissions import Permission
from geo.emergency import around as around_mod
from geo.emergency import responders
from geo.emergency.rollcall import rollcall as rollcall_of
from geo.models.people import StaffRole
from geo.privacy import audit
from geo.spatial.crs import Crs, to_wgs84

router = APIRouter(tags=["responders"], dependencies=[NoStore])  # phones, positions: never cached
StaffReader = Annotated[Principal, requires(Permission.STAFF_READ)]
HouseholdReader = Annotated[Principal, requires(Permission.HOUSEHOLDS_READ)]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
Lon = Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False, description="Longitude in `crs`.")]
Lat = Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False, description="Latitude in `crs`.")]
CrsQ = Annotated[Crs, Query(description="wgs84, cgcs2000, gcj02 (AMap/WeChat) or bd09 (Baidu).")]
K = Annotated[int, Query(ge=1, le=responders.MAX_K, description="How many responders.")]
Roles = Annotated[list[StaffRole] | None, Query(description="Only these staff roles (repeatable).")]
MaxM = Annotated[float | None, Query(gt=0, le=500_000, allow_inf_nan=False,
                                     description="Only responders within this many metres (geodesic).")]
IncludeStale = Annotated[bool, Query(description="List responders whose last fix is stale too, flagged.")]
OwnFirst = Annotated[bool, Query(description="Responders serving the point's (event's) own grids first.")]


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS), media_type="application/json")


def _nearest(request: Request, session: SessionDep, principal: Principal, lon: float, lat: float, own: list[int],
             k: int, role: list[StaffRole] | None, max_m: float | None, include_stale: bool,
             own_grid_first: bool) -> list[dict[str, Any]]:
    unmasked = principal.can(Permission.PII_READ)
    search = responders.Search(lon, lat, k=k, roles=tuple(role or ()),
                               max_m=max_m if unmasked else responders.coarse_radius(max_m),
                               include_stale=include_stale,
                               stale_minutes=request.app.state.position_settings.position_stale_minutes)
    if own_grid_first:
        rows = responders.nearest_own_grid_first(session, search, own, scope=principal.scope)
    else:
        rows = responders.nearest(session, search, scope=principal.scope)
    if unmasked and rows:
        _audit_positions(session, principal, [r["id"] for r in rows])
    return [responders.present(r, unmasked=unmasked) for r in rows]


def _audit_positions(session: SessionDep, principal: Principal, staff_ids: list[int]) -> None:
    """Exact positions and phones of named people are personal data read: one audit row per answer."""
    audit.record(session, principal.actor, action="pii.read", entity="staff", purpose="dispatch",
                 detail={"staff": staff_ids[:100], "count": len(staff_ids)})


@router.get("/responders/nearest", summary="The k nearest dispatchable responders to a point (geodesic, exact)")
def nearest_to_point(
    request: Request, session: SessionDep, principal: StaffReader, lon: Lon, lat: Lat, crs: CrsQ = Crs.WGS84,
    k: K = 10, role: Roles = None, max_m: MaxM = None, include_stale: IncludeStale = False,
    own_grid_first: OwnFirst = False,
) -> Response:
    """Dispatchable = ``available`` or ``on_duty``, with a fresh position (GRIDMAP_POSITION_STALE_MINUTES).
    Distances are geodesic metres on the WGS84 spheroid; the ranking is exact (see geo/emergency/responders.py)."""
    wlon, wlat = (float(v) for v in to_wgs84(lon, lat, crs))
    own = responders.grids_at(session, wlon, wlat) if own_grid_first else []
    rows = _nearest(request, session, principal, wlon, wlat, own, k, role, max_m, include_stale, own_grid_first)
    return _json({"lon": wlon, "lat": wlat, "k": k, "responders": rows})


@router.get("/events/{event_id}/responders", summary="The k nearest dispatchable responders to an event")
def nearest_to_event(
    request: Request, session: SessionDep, principal: StaffReader, event_id: Id,
    k: K = 10, role: Roles = None, max_m: MaxM = None, include_stale: IncludeStale = False,
    own_grid_first: OwnFirst = True,
) -> Response:
    lon, lat, grids = responders.event_point(session, event_id, principal.scope)
    rows = _nearest(request, session, principal, lon, lat, grids, k, role, max_m, include_stale, own_grid_first)
    return _json({"event_id": event_id, "lon": lon, "lat": lat, "k": k, "responders": rows})


@router.get("/around", summary="Households, cameras that see the point, grids and heads, open events nearby")
def around(
    request: Request, session: SessionDep, principal: HouseholdReader, lon: Lon, lat: Lat, crs: CrsQ = Crs.WGS84,
    radius: Annotated[float, Query(gt=0, le=5_000, allow_inf_nan=False, description="Metres (geodesic).")] = 200,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most households/events listed.")] = 200,
) -> Response:
    """Households come with their first resident's contact masked; sections the caller's role may not
    read (cameras, events, staff) are left out."""
    wlon, wlat = (float(v) for v in to_wgs84(lon, lat, crs))
    bind_scope(session, principal)  # masked contacts come from resident (row-level security)
    body = around_mod.around(
        session, wlon, wlat, radius, scope=principal.scope, limit=limit,
        cameras=principal.can(Permission.CAMERAS_READ), events=principal.can(Permission.EVENTS_READ),
        staff=principal.can(Permission.STAFF_READ), unmasked_staff=principal.can(Permission.PII_READ))
    if principal.can(Permission.PII_READ) and body.get("households", {}).get("needs_help"):
        audit.record(session, principal.actor, action="pii.read", entity="household", purpose="emergency",
                     detail={"needs_help": len(body["households"]["needs_help"])})
    return _json({**body, "crs": crs.value})


@router.get("/grids/{grid_id}/rollcall", summary="Emergency grid roll call: responders in or near it, and what it holds")
def grid_rollcall(
    request: Request, session: SessionDep, principal: StaffReader, grid_id: Id,
    within_m: Annotated[float, Query(ge=0, le=20_000, allow_inf_nan=False,
                                     description="Also responders this many metres outside the grid.")] = 1000,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> Response:
    unmasked = principal.can(Permission.PII_READ)
    body = rollcall_of(
        session, grid_id, within_m=within_m, scope=principal.scope, limit=limit,
        stale_minutes=request.app.state.position_settings.position_stale_minutes, unmasked_staff=unmasked,
        households=principal.can(Permission.HOUSEHOLDS_READ), cameras=principal.can(Permission.CAMERAS_READ))
    if unmasked and body["responders"]:
        _audit_positions(session, principal, [r["id"] for r in body["responders"]])
    return _json(body)
