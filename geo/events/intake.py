"""Intake: a report from any channel becomes an event in the right grids, with
the right person, a deadline and a list of possible duplicates — in one
transaction, so a refused report leaves nothing behind."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.db import PreparedStatement, register_prepared
from geo.errors import Conflict, InvalidInput
from geo.events import duplicates, public
from geo.events.categories import category
from geo.events.location import COUNTY_COVERS, Location, Where, ensure_inside_county, resolve
from geo.events.routing import route
from geo.events.steps import record_step
from geo.events.views import event_detail
from geo.locating.assign import assign_entities
from geo.media import photos
from geo.models.membership import MemberKind
from geo.privacy import audit
from geo.privacy.pii import validate_email, validate_phone

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab, CR and LF are text; the rest is not
SOURCES = ("app", "wechat", "hotline", "patrol", "open311", "web")
MAX_DESCRIPTION = 2000


@dataclass(frozen=True)
class Report:
    category: str
    where: Where
    description: str = ""
    source: str = "app"
    media_url: str | None = None
    contact_name: str = ""
    contact_phone: str = ""
    contact_email: str = ""
    device_id: str = ""  # Open311: the reporter's device and account at the client (personal data, like the phone)
    account_id: str = ""
    address: str | None = None  # the reporter's words for the place when ``where`` locates it otherwise
    attributes: dict[str, object] | None = None  # answers to the category's attributes, already validated
    photo_ids: tuple[str, ...] = ()  # ids from POST /photos, attached as the report's photos (geo/media/photos.py)


_INSERT = register_prepared(PreparedStatement(
    name="gridmap_report_event",
    params=(("c", "text"), ("d", "text"), ("s", "text"), ("m", "text"), ("a", "text"), ("hh", "int"), ("t", "text"),
            ("x", "float8"), ("y", "float8")),
    sql=f"""
        INSERT INTO event (category, description, status, source, reported_at, due_at, media_url, address,
                           household_id, public_token, geom)
        SELECT c.code, :d, 'reported', :s, now(), now() + make_interval(hours => c.deadline_hours), :m, :a, :hh, :t,
               ST_SetSRID(ST_MakePoint(:x, :y), 4326)
        FROM event_category c
        WHERE c.code = :c AND NOT EXISTS (SELECT 1 FROM event_category k WHERE k.parent_code = c.code)
          AND {COUNTY_COVERS}
        RETURNING id""",
))


def submit(session: Session, report: Report, *, actor: audit.Actor, scope: Scope | None = None) -> dict[str, object]:
    """Store ``report`` as a new event and return what the reporter and the dispatcher need to know.

    ``scope`` is the submitting staff member's territory, for duplicate
    suggestions; anonymous reporters get none (they may not see other reports).
    """
    _check(report)
    anonymous = scope is None
    if anonymous and report.where.household_id is not None:
        raise InvalidInput("locating by household_id needs a signed-in caller; give lon/lat or the address",
                           pointer="location/household_id")
    phone = validate_phone(report.contact_phone, pointer="contact/phone") if report.contact_phone else ""
    email = validate_email(report.contact_email, pointer="contact/email")
    loc = resolve(session, report.where, check_county=False, reveal_register=not anonymous)
    photos.claim(session, report.photo_ids)  # checked and locked first: a bad id stores nothing at all
    token = str(uuid.uuid4())
    # One statement checks the category (a known leaf) and the county and inserts: the happy path
    # pays one round trip; the reasons for a refusal are looked up only when it happens.
    event_id = _INSERT.execute(session, {
        "c": report.category, "d": report.description.strip(), "s": report.source, "m": report.media_url,
        "a": report.where.address or report.address, "hh": loc.household_id, "t": token, "x": loc.lon, "y": loc.lat}).scalar()
    if event_id is None:
        category(session, report.category)  # raises with the choices
        ensure_inside_county(session, loc)  # raises saying where
        raise Conflict("the category or the county boundary changed during the submission; submit again")
    if report.contact_name or phone or email or report.device_id or report.account_id:
        # row-level security lets the reporter write this one contact
        session.execute(text("SELECT set_config('gridmap.intake_event', :e, true)"), {"e": str(event_id)})
        session.execute(text("INSERT INTO event_contact (event_id, name, phone, email, device_id, account_id)"
                             " VALUES (:e, :n, :p, :m, :d, :u)"),
                        {"e": event_id, "n": report.contact_name.strip()[:100], "p": phone, "m": email,
                         "d": report.device_id.strip(), "u": report.account_id.strip()})
    if report.attributes:
        session.execute(text("UPDATE event SET attributes = CAST(:a AS jsonb) WHERE id = :e"),
                        {"a": json.dumps(report.attributes, ensure_ascii=False), "e": event_id})
    photos.attach(session, event_id, report.photo_ids, "report")  # 422 naming the position; nothing stored
    assign_entities(session, kind=MemberKind.EVENT, entity_ids=[event_id], new=True)
    routed = route(session, [event_id])[event_id]
    record_step(session, actor, event_id, "report", from_status=None, to_status="reported",
                detail={"source": report.source, "located_by": loc.how, "routed_to": routed["reason"]},
                audit_detail={"source": report.source, "category": report.category})
    out = event_detail(session, event_id, scope=Scope.county())
    out["token"] = token
    out["location"] = {**out["location"], **_located(loc)}  # type: ignore[dict-item]
    out["routed_to"] = routed["reason"]
    if anonymous:
        return public.receipt(session, out)
    out["possible_duplicates"] = duplicates.suggest(session, event_id, scope=scope)
    return out


def _check(report: Report) -> None:
    for pointer, value in (("category", report.category), ("description", report.description),
                           ("location/address", report.where.address or ""), ("media_url", report.media_url or ""),
                           ("contact/name", report.contact_name), ("contact/phone", report.contact_phone),
                           ("contact/email", report.contact_email), ("contact/device_id", report.device_id),
                           ("contact/account_id", report.account_id), ("address", report.address or "")):
        if _CONTROL.search(value):
            raise InvalidInput(f"{pointer} contains control characters", pointer=pointer)
    if report.source not in SOURCES:
        raise InvalidInput(f"source must be one of {', '.join(SOURCES)}", pointer="source")
    if len(report.description) > MAX_DESCRIPTION:
        raise InvalidInput(f"description is longer than {MAX_DESCRIPTION} characters", pointer="description")
    if report.media_url and not report.media_url.startswith(("https://", "http://")):
        raise InvalidInput("media_url must be an http(s) URL", pointer="media_url")


def _located(loc: Location) -> dict[str, object]:
    out: dict[str, object] = {"located_by": loc.how}
    if loc.match is not None:
        out["match"] = {"quality": loc.match.quality, "score": loc.match.score, "address": loc.match.address,
                        "household_id": loc.match.household_id}
    return out

