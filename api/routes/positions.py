"""A responder's own position and availability (their phone), dispatch's availability changes,
and the position history (personal data: coarsened unless pii:read and a purpose, audited)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from api.caching import NoStore
from api.deps import IsoDateTime, SessionDep, check_window
from api.security import Principal, requires
from geo.access.permissions import Permission
from geo.access.security import Forbidden
from geo.emergency import positions
from geo.errors import InvalidInput
from geo.models.people import Availability
from geo.settings import PositionSettings
from geo.spatial.crs import Crs
from geo.spatial.features import get_feature

router = APIRouter(prefix="/staff", tags=["responders"])
Reporter = Annotated[Principal, requires(Permission.POSITIONS_REPORT)]
Dispatcher = Annotated[Principal, requires(Permission.STAFF_DISPATCH)]
StaffReader = Annotated[Principal, requires(Permission.STAFF_READ)]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


class FixIn(BaseModel):
    lon: float = Field(description="Longitude in `crs`.", examples=[106.67])
    lat: float = Field(description="Latitude in `crs`.", examples=[26.43])
    crs: Crs = Field(default=Crs.WGS84, description="wgs84, cgcs2000, gcj02 (phones: AMap/WeChat) or bd09.")
    accuracy_m: float | None = Field(default=None, description="The phone's horizontal accuracy, metres.")
    at: IsoDateTime | None = Field(default=None, description="When the fix was taken, with a UTC offset; "
                                "default: now.")

    def fix(self) -> positions.Fix:
        return positions.Fix(self.lon, self.lat, self.crs, self.accuracy_m, self.at)


class BatchIn(BaseModel):
    fixes: list[FixIn] = Field(description="Buffered fixes, any order (at most GRIDMAP_POSITION_BATCH_MAX).")


class AvailabilityIn(BaseModel):
    availability: Availability


def _settings(request: Request) -> PositionSettings:
    return request.app.state.position_settings


def _recorded(r: positions.Recorded) -> dict[str, Any]:
    return {"accepted": r.accepted, "duplicates": r.duplicates, "expired": r.expired, "moved": r.moved,
            "current": r.current}


@router.post("/me/position", summary="Report my current position (a responder's phone)")
def report_position(request: Request, session: SessionDep, principal: Reporter, body: FixIn) -> dict[str, Any]:
    """Kept in the history; moves the current position only if newer than the stored one."""
    staff_id = positions.staff_of_account(session, principal.user_id)
    return _recorded(positions.record_fixes(session, staff_id, [body.fix()], settings=_settings(request),
                                            single=True))


@router.post("/me/positions", summary="Upload buffered fixes (any order; the newest becomes current)")
def report_positions(request: Request, session: SessionDep, principal: Reporter, body: BatchIn) -> dict[str, Any]:
    staff_id = positions.staff_of_account(session, principal.user_id)
    return _recorded(positions.record_fixes(session, staff_id, [f.fix() for f in body.fixes],
                                            settings=_settings(request)))


@router.put("/me/availability", summary="Set my availability (available, on_duty, busy, off_duty, out_of_service)")
def set_my_availability(session: SessionDep, principal: Reporter, body: AvailabilityIn) -> dict[str, Any]:
    staff_id = positions.staff_of_account(session, principal.user_id)
    return positions.set_availability(session, staff_id, body.availability, actor=principal.actor, by="self")


@router.put("/{staff_id}/availability", summary="Set a responder's availability (dispatch 调度)")
def set_availability(session: SessionDep, principal: Dispatcher, staff_id: Id, body: AvailabilityIn) -> dict[str, Any]:
    get_feature(session, "staff", staff_id, scope=principal.scope)  # 404 outside the territory
    return positions.set_availability(session, staff_id, body.availability, actor=principal.actor, by="dispatch")


@router.get("/{staff_id}/positions", summary="Position history (coarse cells; unmasked with pii:read, audited)",
            dependencies=[NoStore])  # 行踪轨迹: never cached
def position_history(
    session: SessionDep, principal: StaffReader, staff_id: Id,
    since: IsoDateTime | None = None, until: IsoDateTime | None = None,
    unmasked: bool = False,
    purpose: Annotated[str | None, Query(max_length=200, description="Why the track is needed (audited).")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Without ``pii:read`` (or without ``unmasked``): ~100 m cells with fix counts over whole days, cells with
    fewer than 3 fixes left out, no times, no order."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name} needs a UTC offset (e.g. 2026-11-23T08:00:00+08:00)", pointer=name)
    check_window(since, until, ("since", "until"))
    if unmasked and not principal.can(Permission.PII_READ):
        raise Forbidden(f"the role {principal.role.value} may only see coarsened position history")
    get_feature(session, "staff", staff_id, scope=principal.scope)
    return positions.history(session, staff_id, actor=principal.actor, since=since, until=until, unmasked=unmasked,
                             purpose=purpose, limit=limit)
