"""Break-glass 破窗: open, list and close one's grants, and read the incident's surroundings unmasked.

The rules (one officer, one open event in their territory, a reason, a time limit, every read audited
as ``pii.break_glass``) live in geo/emergency/break_glass.py; docs/command.md says why.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.caching import NoStore
from api.deps import SessionDep
from api.security import Principal, bind_scope, requires
from geo.access.permissions import Permission
from geo.emergency import break_glass
from geo.settings import EmergencySettings

router = APIRouter(prefix="/break-glass", tags=["responders"], dependencies=[NoStore])  # phones: never cached
Officer = Annotated[Principal, requires(Permission.BREAK_GLASS)]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


class GrantIn(BaseModel):
    event_id: int = Field(ge=1, le=2**31 - 1, description="The open incident the grant is for.")
    reason: str = Field(max_length=2000, description="Why the contacts are needed (at least 4 characters; audited).")


def _settings(request: Request) -> EmergencySettings:
    return getattr(request.app.state, "emergency_settings", None) or EmergencySettings()


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS), status_code=status,
                    media_type="application/json")


@router.post("", status_code=201, summary="Open a break-glass grant on an open incident (time-limited, audited)")
def open_grant(request: Request, session: SessionDep, principal: Officer, body: GrantIn) -> Response:
    grant = break_glass.open_grant(session, user_id=principal.user_id, event_id=body.event_id, reason=body.reason,
                                   scope=principal.scope, minutes=_settings(request).break_glass_minutes,
                                   actor=principal.actor)
    return _json(grant.public(datetime.now(UTC)), 201)


@router.get("", summary="My open break-glass grants")
def my_grants(session: SessionDep, principal: Officer) -> Response:
    now = datetime.now(UTC)
    return _json([g.public(now) for g in break_glass.my_open_grants(session, principal.user_id)])


@router.delete("/{grant_id}", summary="Close my grant early")
def close_grant(session: SessionDep, principal: Officer, grant_id: Id) -> Response:
    grant = break_glass.close_grant(session, grant_id, user_id=principal.user_id, actor=principal.actor)
    return _json(grant.public(datetime.now(UTC)))


@router.get("/{grant_id}/around", summary="Households around the incident, contacts unmasked, the vulnerable listed")
def around_incident(
    request: Request, session: SessionDep, principal: Officer, grant_id: Id,
    radius: Annotated[float, Query(gt=0, le=5_000, allow_inf_nan=False, description="Metres (geodesic).")] = 200,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most households listed.")] = 200,
) -> Response:
    """Only with the caller's own open grant (404 for another's, 403 once closed or expired); each answer
    is audited as ``pii.break_glass`` with the grant, the event and the reason."""
    bind_scope(session, principal)  # contacts come from resident (row-level security)
    body = break_glass.around_incident(session, grant_id, user_id=principal.user_id, scope=principal.scope,
                                       radius_m=radius, max_radius_m=_settings(request).break_glass_radius_m,
                                       actor=principal.actor, limit=limit)
    return _json(body)
