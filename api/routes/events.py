"""The closed loop over HTTP: intake (public or signed in, idempotent), one route per
action of the state machine (each with its own permission), duplicates, overdue
lists, the category tree and the statistics reported upward."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from api.caching import NoStore
from api.deps import IsoDateTime, SessionDep
from api.routes import step_photos
from api.security import Principal, optional_principal, request_id, requires
from geo.access.permissions import Permission
from geo.access.security import Forbidden
from geo.events import categories, duplicates, idempotency, intake, lifecycle, stats, views
from geo.events.location import Where
from geo.privacy.audit import Actor
from geo.privacy.pii import mask_free_text
from geo.spatial.crs import Crs

router = APIRouter(prefix="/events", tags=["events"])
catalogue = APIRouter(tags=["events"])  # categories, departments, statistics
Id = Annotated[int, Path(ge=1, le=2**62)]
EventReader = Annotated[Principal, requires(Permission.EVENTS_READ)]
Caller = Annotated[Principal | None, Depends(optional_principal)]


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lon: float | None = Field(None, description="Longitude in ``crs``.")
    lat: float | None = Field(None, description="Latitude in ``crs``.")
    crs: Crs = Field(Crs.WGS84, description="gcj02 from WeChat and most phone maps; bd09 from Baidu.")
    address: str | None = Field(None, max_length=200, description="Matched against the household register.")
    household_id: int | None = Field(None, ge=1, le=2**62)


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("", max_length=100)
    phone: str = Field("", max_length=20)


class NewEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str = Field(max_length=64, description="A leaf of GET /event-categories.")
    description: str = Field("", max_length=intake.MAX_DESCRIPTION)
    location: Location
    source: str = Field("app", description=f"One of {', '.join(intake.SOURCES)}.")
    media_url: str | None = Field(None, max_length=1000)
    contact: Contact | None = Field(None, description="The reporter; personal data, kept under row-level security.")
    photo_ids: list[str] = Field(default_factory=list, max_length=20,
                                 description="Ids from POST /photos (at most 4), attached as the report's photos.")

    def report(self) -> intake.Report:
        loc = self.location
        return intake.Report(
            category=self.category, description=self.description, source=self.source, media_url=self.media_url,
            photo_ids=tuple(self.photo_ids),
            where=Where(lon=loc.lon, lat=loc.lat, crs=loc.crs, address=loc.address, household_id=loc.household_id),
            contact_name=self.contact.name if self.contact else "",
            contact_phone=self.contact.phone if self.contact else "")


class StepBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=2000)
    department: str | None = Field(None, max_length=32, description="assign (override), escalate (required).")
    staff_id: int | None = Field(None, ge=1, le=2**62, description="assign: a named handler instead of the default.")
    duplicate_of: int | None = Field(None, ge=1, le=2**62, description="duplicate: the original report.")
    photo_ids: list[str] | None = Field(None, max_length=20, description="feedback: ids from POST /photos, the "
                                        "result (stage after, at most 4).")
    before_photo_ids: list[str] | None = Field(None, max_length=20, description="start, feedback: ids from POST "
                                               "/photos, the place before handling (stage before, at most 4).")


@router.post("", status_code=201, summary="Report an event (public; staff send their token)")
def submit_event(
    request: Request,
    session: SessionDep,
    body: NewEvent,
    caller: Caller,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=300)] = None,
) -> Response:
    """Store the report, assign it to its grid in every layer and route it to the responsible person.

    With ``Idempotency-Key``, a retried submission gets the first response again
    (header ``Idempotent-Replayed: true``) instead of creating a second event.
    The transaction is committed before the response is sent, so a 201 always
    means the report is stored.
    """
    client = request.client.host if request.client else "unknown"  # the real client: see api.main's proxies
    key = digest = None
    if idempotency_key is not None:
        key = idempotency.scoped_key(f"user{caller.user_id}" if caller else f"public@{client}", idempotency_key)
        digest = idempotency.fingerprint(body.model_dump(mode="json"))
        stored = idempotency.claim(session, key, digest)
        if stored is not None:  # a replay stores nothing new, so it does not count against the limit
            return JSONResponse(stored.body, stored.status_code, headers={
                "Idempotent-Replayed": "true", "Location": f"/events/{stored.body['id']}"})
    if caller is None:
        request.app.state.report_limit.hit(client)
    actor = caller.actor if caller else Actor(None, "public", request_id(request), client)
    receipt = intake.submit(session, body.report(), actor=actor, scope=caller.scope if caller else None)
    encoded = orjson.dumps(receipt)  # orjson: jsonable_encoder cost more than the routing query (measured)
    if key is not None and digest is not None:
        idempotency.store(session, key, digest, int(receipt["id"]), 201, orjson.loads(encoded))
    return Response(encoded, 201, media_type="application/json", headers={"Location": f"/events/{receipt['id']}"})


@router.get("/overdue", summary="Open events past their deadline, most overdue first")
def list_overdue(
    session: SessionDep, principal: EventReader, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONResponse:
    return JSONResponse(jsonable_encoder(views.overdue(session, scope=principal.scope, limit=limit)))


Unmasked = Annotated[bool, Query(description="Free text as written (ID and phone numbers unmasked): needs "
                                         "pii:read and a purpose; audited.")]
Purpose = Annotated[str | None, Query(max_length=200, description="Why unmasked data is needed (audited).")]


def require_pii_read(principal: Principal) -> None:
    """As for residents: unmasked personal data needs pii:read (403 otherwise, whatever the purpose)."""
    if not principal.can(Permission.PII_READ):
        raise Forbidden(f"the role {principal.role.value} may only see masked personal data")


@router.get("/{event_id}/history", summary="An event with its grids, assignee and every transition",
            dependencies=[NoStore])  # free text may be shown as written (unmasked=true)
def event_history(session: SessionDep, principal: EventReader, event_id: Id, unmasked: Unmasked = False,
                  purpose: Purpose = None) -> JSONResponse:
    """Description, address and notes have ID and phone numbers masked unless ``unmasked``."""
    if not unmasked:
        return JSONResponse(jsonable_encoder(views.event_detail(session, event_id, scope=principal.scope,
                                                                history=True)))
    require_pii_read(principal)
    body = views.unmasked_event_detail(session, event_id, scope=principal.scope, actor=principal.actor,
                                       purpose=purpose, history=True)
    return JSONResponse(jsonable_encoder(body), headers={"Cache-Control": "no-store"})


@router.get("/{event_id}/duplicates", summary="Open events of the same category nearby in space and time")
def event_duplicates(session: SessionDep, principal: EventReader, event_id: Id) -> JSONResponse:
    views.event_detail(session, event_id, scope=principal.scope)  # 404 outside the caller's territory
    return JSONResponse(jsonable_encoder(duplicates.suggest(session, event_id, scope=principal.scope)))


def _action_route(action: lifecycle.Action) -> None:
    # A default, not Annotated[...]: with postponed annotations a closure variable would not resolve.
    def perform(session: SessionDep, event_id: Id, body: StepBody | None = None,
                principal: Principal = requires(action.route_permission)) -> JSONResponse:
        body = body or StepBody()
        step_photos.check(session, action.name, after=body.photo_ids, before=body.before_photo_ids,
                          user_id=principal.user_id)
        step = lifecycle.Step(**body.model_dump(exclude={"photo_ids", "before_photo_ids"}))
        done = lifecycle.perform(session, event_id, action.name, step, scope=principal.scope, actor=principal.actor,
                                 can=principal.can)
        step_photos.attach_for_step(session, event_id, action.name, principal, after=body.photo_ids,
                                    before=body.before_photo_ids)
        done["note"] = mask_free_text(done.get("note"))  # shown masked like every note (views.event_detail)
        done["event"] = views.event_detail(session, event_id, scope=principal.scope)
        return JSONResponse(jsonable_encoder(done))

    perform.__name__ = f"event_{action.name}"
    router.add_api_route(f"/{{event_id}}/{action.name}", perform, methods=["POST"], summary=action.summary,
                         description=f"Allowed from: {', '.join(sorted(s.value for s in action.sources))}; "
                                     f"leads to {action.target.value}. Needs {action.permission.value}"
                                     + (f" (or {action.or_under_rule.value} under its rule: "
                                        f"{lifecycle.RULES[action.name]})" if action.or_under_rule else "") + ".")


for _action in lifecycle.ACTIONS.values():
    _action_route(_action)


@catalogue.get("/event-categories", summary="The category tree: triage 三事分流, default handler, deadline")
def category_tree(session: SessionDep) -> JSONResponse:
    return JSONResponse(jsonable_encoder(categories.tree(session)))


@catalogue.get("/departments", summary="Departments that take government matters and escalations 吹哨")
def departments(session: SessionDep, principal: EventReader) -> JSONResponse:
    rows = session.execute(text("SELECT code, name, escalation_hours FROM department ORDER BY code")).mappings()
    return JSONResponse([dict(r) for r in rows])


@catalogue.get("/stats/events", summary="Received, handled, closed, handling and on-time rates, time to close")
def event_statistics(
    session: SessionDep,
    principal: EventReader,
    division: Annotated[str | None, Query(max_length=12, pattern=r"^\d{1,12}$",
                                          description="Division code (12 digits) or id.")] = None,
    start: Annotated[IsoDateTime | None,
                     Query(alias="from", description="Start of the window (default: a year before to).")] = None,
    end: Annotated[IsoDateTime | None,
                   Query(alias="to", description="End of the window, exclusive (default: now).")] = None,
    group_by: Annotated[str, Query(description="none, grid, village, township or category.")] = "none",
) -> JSONResponse:
    """Definitions are in the response (``definitions``) and in geo/events/stats.py."""
    return JSONResponse(jsonable_encoder(stats.event_stats(
        session, scope=principal.scope, start=start, end=end, group_by=group_by, division=division)))
