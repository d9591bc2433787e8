"""A grid worker's own open reports 我的工作 (docs/worker.md): ``GET /events/mine``.

Registered before ``points.events`` in api/main.py, so ``mine`` is not read as an event id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from api.deps import SessionDep
from api.security import Principal, requires
from geo.access.permissions import Permission
from geo.events.mywork import my_open_reports

router = APIRouter(prefix="/events", tags=["events"])


@router.get("/mine", summary="My open reports 我的工作: counts by status, overdue first, with grid names")
def my_work(
    session: SessionDep, principal: Annotated[Principal, requires(Permission.EVENTS_READ)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> JSONResponse:
    """The open reports assigned to the caller's staff record (all open reports of the territory for an
    account without one), with ``due_in_s`` (seconds to the deadline, negative when overdue)."""
    body = my_open_reports(session, user_id=principal.user_id, scope=principal.scope, limit=limit)
    return JSONResponse(jsonable_encoder(body))
