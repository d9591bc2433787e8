"""Residents and reporters' contacts: masked by default; unmasked with pii:read and a purpose, audited."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api import heavy
from api.caching import NoStore
from api.deps import SessionDep
from api.security import Principal, bind_scope, requires
from geo.access.permissions import Permission
from geo.access.security import Forbidden
from geo.privacy import residents
from geo.spatial.features import get_feature

router = APIRouter(tags=["residents"], dependencies=[NoStore])  # personal data: never cached
Id = Annotated[int, Path(ge=1, le=2**62)]
Purpose = Annotated[str | None, Query(max_length=200, description="Why unmasked data is needed (audited).")]


class NewResident(BaseModel):
    name: str = Field(min_length=1, max_length=50)
    id_number: str = Field(min_length=18, max_length=18, description="GB 11643 resident identity number.")
    phone: str = Field(default="", max_length=20)


def _unmask_allowed(principal: Principal, unmasked: bool) -> None:
    if unmasked and not principal.can(Permission.PII_READ):
        raise Forbidden(f"the role {principal.role.value} may only see masked personal data")


@router.get("/households/{household_id}/residents", summary="Residents of a household (masked by default)")
def household_residents(
    session: SessionDep, principal: Annotated[Principal, requires(Permission.HOUSEHOLDS_READ)],
    household_id: Id, unmasked: bool = False, purpose: Purpose = None,
) -> list[dict[str, Any]]:
    """Unmasked values need the pii:read permission and a purpose; each such read is audited."""
    _unmask_allowed(principal, unmasked)
    get_feature(session, "households", household_id, scope=principal.scope)  # 404 outside the territory
    bind_scope(session, principal)
    return residents.list_residents(session, household_id, actor=principal.actor, unmasked=unmasked,
                                    purpose=purpose)


@router.post("/households/{household_id}/residents", status_code=201, summary="Register a resident")
def add_resident(
    session: SessionDep, principal: Annotated[Principal, requires(Permission.RESIDENTS_WRITE)],
    household_id: Id, body: NewResident,
) -> dict[str, Any]:
    get_feature(session, "households", household_id, scope=principal.scope)
    bind_scope(session, principal)
    return residents.add_resident(session, household_id, actor=principal.actor, name=body.name,
                                  id_number=body.id_number, phone=body.phone)


@router.get("/residents/export", summary="Export the residents of one's territory as CSV (unmasked, audited)",
            response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export(
    request: Request, session: SessionDep, principal: Annotated[Principal, requires(Permission.PII_EXPORT)],
    purpose: Purpose = None,
) -> Response:
    """A heavy request: bounded per account and per process (api/heavy.py); never cached (personal data)."""
    bind_scope(session, principal)
    with heavy.limiter(request).slot(principal.user_id, "exports"):
        rows = residents.export_residents(session, actor=principal.actor, purpose=purpose)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["id", "household_id", "address", "name", "id_number", "phone"])
    writer.writeheader()
    writer.writerows(rows)
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="residents.csv"',
                             "Cache-Control": "no-store"})


@router.get("/events/{event_id}/contact", summary="The reporter's contact (masked by default)")
def event_contact(
    session: SessionDep, principal: Annotated[Principal, requires(Permission.EVENTS_READ)],
    event_id: Id, unmasked: bool = False, purpose: Purpose = None,
) -> dict[str, Any]:
    _unmask_allowed(principal, unmasked)
    get_feature(session, "events", event_id, scope=principal.scope)
    bind_scope(session, principal)
    return residents.event_contact(session, event_id, actor=principal.actor, unmasked=unmasked, purpose=purpose)
