"""Dispatch 调度: send a responder to an event (the command map's 调度 button), and who has been sent."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from api.caching import NoStore
from api.deps import SessionDep
from api.security import Principal, requires
from geo.access.permissions import Permission
from geo.emergency import dispatch as dispatch_mod

router = APIRouter(tags=["responders"], dependencies=[NoStore])
Dispatcher = Annotated[Principal, requires(Permission.STAFF_DISPATCH)]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


class DispatchIn(BaseModel):
    staff_id: int = Field(ge=1, le=2**31 - 1, description="The responder to send (from the nearest list).")


@router.post("/events/{event_id}/dispatch", summary="Send a responder to an event: busy for it, audited")
def dispatch(session: SessionDep, principal: Dispatcher, event_id: Id, body: DispatchIn) -> dict[str, Any]:
    """The responder must be ``available`` or ``on_duty`` (409 otherwise, nothing changes); the event
    open (409) and both inside the caller's territory (404). Audited as ``responder.dispatched``."""
    return dispatch_mod.dispatch(session, event_id, body.staff_id, scope=principal.scope, actor=principal.actor)


@router.get("/events/{event_id}/dispatch", summary="The responders sent to an event and still busy for it")
def dispatched(session: SessionDep, principal: Dispatcher, event_id: Id) -> dict[str, Any]:
    return {"event_id": event_id, "staff_ids": dispatch_mod.dispatched_to(session, event_id, principal.scope)}
