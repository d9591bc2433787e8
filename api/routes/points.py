"""Households, cameras, events and staff: point collections with the same paging and bbox.

Each resource has its own router, permission and explicit filters; none exposes
personal data (residents and reporters' contacts have their own, audited routes).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from api.caching import NoStore, Revalidated
from api.deps import BBoxDep, PagingDep, SessionDep
from api.routes.events import Purpose, Unmasked, require_pii_read
from api.schemas.geojson import Feature, FeatureCollection, collection_response, feature_response
from api.security import Principal, requires
from geo.access.permissions import Permission
from geo.events.views import record_unmasked_read
from geo.models import Availability, EventStatus, StaffRole
from geo.models.points import CameraStatus
from geo.privacy.pii import check_purpose
from geo.spatial.features import get_feature, list_features

GridCode = Annotated[str | None, Query(pattern=r"^\d{17}$", description="Only those inside this grid (code).")]
Id = Annotated[int, Path(ge=1, le=2**62)]
HouseholdReader = Annotated[Principal, requires(Permission.HOUSEHOLDS_READ)]
CameraReader = Annotated[Principal, requires(Permission.CAMERAS_READ)]
EventReader = Annotated[Principal, requires(Permission.EVENTS_READ)]
StaffReader = Annotated[Principal, requires(Permission.STAFF_READ)]

households = APIRouter(prefix="/households", tags=["households"])
cameras = APIRouter(prefix="/cameras", tags=["cameras"])
events = APIRouter(prefix="/events", tags=["events"])
staff = APIRouter(prefix="/staff", tags=["staff"])


def _page(request: Request, session, principal: Principal, name: str, bbox, paging, filters: dict) -> Response:  # noqa: ANN001
    clean = {k: (v.value if hasattr(v, "value") else v) for k, v in filters.items() if v is not None}
    page = list_features(session, name, bbox=bbox, filters=clean, limit=paging.limit, after=paging.after,
                         scope=principal.scope)
    return collection_response(request, page)


@households.get("", response_model=FeatureCollection, summary="Households (no personal data)",
                dependencies=[Revalidated])
def list_households(
    request: Request, session: SessionDep, principal: HouseholdReader, bbox: BBoxDep, paging: PagingDep,
    grid: GridCode = None, division: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None,
    group: Annotated[str | None, Query(max_length=24, description="Linked-household group code.")] = None,
) -> Response:
    return _page(request, session, principal, "households", bbox, paging,
                 {"grid": grid, "division": division, "group": group})


@households.get("/{household_id}", response_model=Feature, summary="One household")
def get_household(session: SessionDep, principal: HouseholdReader, household_id: Id) -> Response:
    return feature_response(get_feature(session, "households", household_id, scope=principal.scope))


@cameras.get("", response_model=FeatureCollection, summary="Surveillance cameras (雪亮工程)",
             dependencies=[Revalidated])
def list_cameras(
    request: Request, session: SessionDep, principal: CameraReader, bbox: BBoxDep, paging: PagingDep,
    grid: GridCode = None, status: CameraStatus | None = None,
) -> Response:
    return _page(request, session, principal, "cameras", bbox, paging, {"grid": grid, "status": status})


@cameras.get("/{camera_id}", response_model=Feature, summary="One camera")
def get_camera(session: SessionDep, principal: CameraReader, camera_id: Id) -> Response:
    return feature_response(get_feature(session, "cameras", camera_id, scope=principal.scope))


@events.get("", response_model=FeatureCollection, summary="Events (reporter contact withheld)",
            dependencies=[Revalidated])
def list_events(
    request: Request, session: SessionDep, principal: EventReader, bbox: BBoxDep, paging: PagingDep,
    grid: GridCode = None, status: EventStatus | None = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    return _page(request, session, principal, "events", bbox, paging,
                 {"grid": grid, "status": status, "category": category})


@events.get("/{event_id}", response_model=Feature, summary="One event",
            dependencies=[NoStore])  # free text may be shown as written (unmasked=true)
def get_event(session: SessionDep, principal: EventReader, event_id: Id, unmasked: Unmasked = False,
              purpose: Purpose = None) -> Response:
    """The description has ID and phone numbers masked unless ``unmasked`` (pii:read and a purpose; audited)."""
    if not unmasked:
        return feature_response(get_feature(session, "events", event_id, scope=principal.scope))
    require_pii_read(principal)
    reason = check_purpose(purpose)
    feature = get_feature(session, "events", event_id, scope=principal.scope, unmasked=True)
    record_unmasked_read(session, actor=principal.actor, event_id=event_id, purpose=reason, surface="feature")
    response = feature_response(feature)
    response.headers["Cache-Control"] = "no-store"
    return response


@staff.get("", response_model=FeatureCollection, summary="Staff and responders at their home position",
           dependencies=[Revalidated])
def list_staff(
    request: Request, session: SessionDep, principal: StaffReader, bbox: BBoxDep, paging: PagingDep,
    grid: GridCode = None, role: StaffRole | None = None, availability: Availability | None = None,
) -> Response:
    return _page(request, session, principal, "staff", bbox, paging,
                 {"grid": grid, "role": role, "availability": availability})


@staff.get("/{staff_id}", response_model=Feature, summary="One staff member")
def get_staff(session: SessionDep, principal: StaffReader, staff_id: Id) -> Response:
    return feature_response(get_feature(session, "staff", staff_id, scope=principal.scope))
