"""Household visits 入户走访, patrols 巡查 and check-ins 打卡 (geo/visits): log with ``visits:log``, read by territory.

Answers that hold a worker's positions (their own visits and patrols, or unmasked with ``pii:read``
and a purpose) are ``no-store``; the visit status of a grid holds no personal data.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from api.caching import NoStore
from api.deps import IsoDateTime, SessionDep
from api.security import Principal, requires
from geo.access.permissions import Permission
from geo.access.security import Forbidden
from geo.emergency.positions import staff_of_account
from geo.errors import InvalidInput, NotFound
from geo.settings import PositionSettings
from geo.spatial.crs import Crs
from geo.visits import log, patrols, status
from geo.visits.fixes import Spot

router = APIRouter(tags=["visits"])
Logger = Annotated[Principal, requires(Permission.VISITS_LOG)]
Reader = Annotated[Principal, requires(Permission.HOUSEHOLDS_READ)]
Id = Annotated[int, Path(ge=1, le=2**62)]
Purpose = Annotated[str | None, Query(max_length=200, description="Why the positions are needed (audited).")]


class SpotIn(BaseModel):
    lon: float = Field(description="Longitude in `crs` of where the worker stands.", examples=[106.67])
    lat: float = Field(description="Latitude in `crs`.", examples=[26.43])
    crs: Crs = Field(default=Crs.WGS84, description="wgs84, cgcs2000, gcj02 (phones: AMap/WeChat) or bd09.")
    accuracy_m: float | None = Field(default=None, description="The phone's horizontal accuracy, metres.")
    at: IsoDateTime | None = Field(default=None, description="When, with a UTC offset; default now. Send it, "
                                   "and a retry of the same request is stored once.")

    def spot(self) -> Spot:
        return Spot(self.lon, self.lat, self.crs, self.accuracy_m, self.at)


class VisitIn(SpotIn):
    household_id: int = Field(ge=1, le=2**31 - 1)
    kind: str = Field(default="routine", description="routine 日常走访, care 关爱帮扶, verify 信息核实, "
                      "mediation 矛盾调解, other 其他.")
    note: str = Field(default="", max_length=2000, description="Short note (free text: phone and ID numbers "
                      "are masked wherever it is shown).")


class PatrolIn(BaseModel):
    grid_id: int | None = Field(default=None, ge=1, le=2**62, description="Default: the grid you serve.")
    at: IsoDateTime | None = None


class TrackIn(BaseModel):
    points: list[SpotIn] = Field(description="Track points, any order; a point already stored (same time) is "
                                 "not stored twice.")


class CheckinIn(SpotIn):
    household_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    place: str | None = Field(default=None, max_length=400, description="A place name (e.g. 村委会门口).")
    note: str = Field(default="", max_length=2000)


class EndIn(BaseModel):
    at: IsoDateTime | None = None


def _own_staff(session: SessionDep, principal: Principal) -> int | None:
    """The staff record the caller acts as, or None (an account not linked to one)."""
    try:
        return staff_of_account(session, principal.user_id)
    except NotFound:
        return None


def _retention() -> int:
    """The position retention of position history (GRIDMAP_POSITION_RETENTION_DAYS): visits' positions follow it."""
    return PositionSettings().position_retention_days


def _unmasked(principal: Principal, unmasked: bool) -> bool:
    if unmasked and not principal.can(Permission.PII_READ):
        raise Forbidden(f"the role {principal.role.value} may not see workers' positions")
    return unmasked


@router.post("/visits", status_code=201, summary="Log a household visit 入户走访 (flagged far, never refused)",
             dependencies=[NoStore])
def post_visit(session: SessionDep, principal: Logger, body: VisitIn, response: Response) -> dict[str, Any]:
    """The distance to the household (metres, spheroid) and the `far` flag are stored with it; 200 when the
    same visit (you, the household, `at`) was already stored."""
    staff_id = staff_of_account(session, principal.user_id)
    done = log.log_visit(session, staff_id=staff_id, household_id=body.household_id, spot=body.spot(),
                         kind=body.kind, note=body.note, scope=principal.scope, actor=principal.actor,
                         retention_days=_retention())
    if not done.created:
        response.status_code = 200
    return {**done.visit, "created": done.created}


@router.get("/visits", summary="Visits in your territory, newest first", dependencies=[NoStore])
def get_visits(
    session: SessionDep, principal: Reader,
    grid: Annotated[int | None, Query(ge=1, le=2**62, description="Grid id.")] = None,
    household: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    staff: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    since: IsoDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    unmasked: bool = False, purpose: Purpose = None,
) -> dict[str, Any]:
    """Positions are shown for your own visits; others' with `unmasked=true` and a `purpose` (pii:read, audited)."""
    if since is not None and since.tzinfo is None:
        raise InvalidInput("since needs a UTC offset (e.g. 2026-11-23T08:00:00+08:00)", pointer="since")
    return log.list_visits(session, scope=principal.scope, actor=principal.actor, grid_id=grid, household_id=household,
                           staff_id=staff, since=since, limit=limit, offset=offset,
                           own_staff_id=_own_staff(session, principal), unmasked=_unmasked(principal, unmasked),
                           purpose=purpose)


@router.get("/visits/me", summary="What the map's visit panel needs: the grid you serve and the rule")
def get_me(session: SessionDep, principal: Logger) -> dict[str, Any]:
    """`grid` is null for an account not linked to a staff record, or a staff member serving no grid."""
    return status.my_grid(session, _own_staff(session, principal), scope=principal.scope)


@router.get("/visits/behind", summary="Which workers and households are behind the visit targets (a grid head)")
def get_behind(
    session: SessionDep, principal: Reader,
    division: Annotated[str | None, Query(pattern=r"^\d{12}$", description="Default: your own division.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most households listed.")] = 100,
) -> dict[str, Any]:
    """The rule is stated in the answer (`rule`): every household every 30 days, vulnerable households and
    联户长 weekly (settings `GRIDMAP_VISIT_TARGET_DAYS`, `GRIDMAP_VISIT_CARE_TARGET_DAYS`)."""
    return status.behind(session, scope=principal.scope, division=division, limit=limit)


@router.get("/grids/{grid_id}/visit-status", summary="A grid's households with days since their last visit (GeoJSON)")
def grid_visit_status(session: SessionDep, principal: Reader, grid_id: Id) -> dict[str, Any]:
    return status.grid_visit_status(session, grid_id, scope=principal.scope)


@router.post("/patrols", status_code=201, summary="Start a patrol 巡查", dependencies=[NoStore])
def post_patrol(session: SessionDep, principal: Logger, body: PatrolIn) -> dict[str, Any]:
    staff_id = staff_of_account(session, principal.user_id)
    return patrols.start(session, staff_id=staff_id, grid_id=body.grid_id, at=body.at, scope=principal.scope,
                         actor=principal.actor)


@router.post("/patrols/{patrol_id}/track", summary="Upload track points (idempotent on retry)")
def post_track(session: SessionDep, principal: Logger, patrol_id: Id, body: TrackIn) -> dict[str, Any]:
    staff_id = staff_of_account(session, principal.user_id)
    return patrols.add_track(session, patrol_id, staff_id=staff_id, points=[p.spot() for p in body.points],
                             retention_days=_retention())


@router.post("/patrols/{patrol_id}/checkins", status_code=201, summary="Check in 打卡 on a patrol",
             dependencies=[NoStore])
def post_checkin(session: SessionDep, principal: Logger, patrol_id: Id, body: CheckinIn,
                 response: Response) -> dict[str, Any]:
    staff_id = staff_of_account(session, principal.user_id)
    checkin, created = patrols.check_in(session, patrol_id, staff_id=staff_id, spot=body.spot(),
                                        household_id=body.household_id, place=body.place, note=body.note,
                                        scope=principal.scope, actor=principal.actor,
                                        retention_days=_retention())
    if not created:
        response.status_code = 200
    return {**checkin, "created": created}


@router.post("/patrols/{patrol_id}/end", summary="End a patrol (its length is measured on the spheroid)",
             dependencies=[NoStore])
def post_end(session: SessionDep, principal: Logger, patrol_id: Id, body: EndIn | None = None) -> dict[str, Any]:
    staff_id = staff_of_account(session, principal.user_id)
    return patrols.end(session, patrol_id, staff_id=staff_id, at=body.at if body else None, scope=principal.scope,
                       actor=principal.actor)


@router.get("/patrols/{patrol_id}", summary="A patrol: its track to the worker who walked it (else unmasked, "
            "audited)", dependencies=[NoStore])
def get_patrol(session: SessionDep, principal: Reader, patrol_id: Id, unmasked: bool = False,
               purpose: Purpose = None) -> dict[str, Any]:
    return patrols.get(session, patrol_id, scope=principal.scope, actor=principal.actor,
                       own_staff_id=_own_staff(session, principal), unmasked=_unmasked(principal, unmasked),
                       purpose=purpose)
