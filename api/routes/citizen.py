"""The citizen's public endpoints behind /report and /report/track (no account).

- ``POST /citizen/address-match``: how well a typed address matches the register (exact / group /
  village / township / county, a score) and where to put the pin — to ~100 m, never a household's
  own point or id, and never another address of the register. A POST so the address stays out of
  URLs and access logs; rate limited per client address like the reports.
- ``GET /citizen/nearby``: open reports of the same category near the chosen place, as the public
  may see them (geo/events/nearby.py), so the citizen can join one instead of reporting it again.
- ``POST /citizen/reports``: the report itself, through geo/events/intake.py like ``POST /events``
  (same rate limit, same ``Idempotency-Key`` rules), with up to 4 photos (``POST /photos`` ids)
  and optionally ``join``: an open report from ``nearby`` to add this one to.
- ``GET /citizen/reports/{token}``: the report's state by its tracking number (geo/events/tracking.py).
- ``GET /citizen/places``: the townships and villages (public names and boundaries) the report
  page draws as its map when no basemap is configured; no household, no count.

Nothing here answers with a name, a phone, a staff member or an exact household location.
"""

from __future__ import annotations

import re
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from api.deps import SessionDep
from api.security import request_id
from geo.access import ratelimit
from geo.errors import InvalidInput, TooManyRequests
from geo.events import categories, idempotency, intake, nearby, tracking
from geo.events.addresses import describe, match_address
from geo.events.location import Where, resolve
from geo.events.public import PUBLIC_DECIMALS
from geo.privacy.audit import Actor
from geo.spatial.crs import Crs

router = APIRouter(prefix="/citizen", tags=["citizen"])
MAX_PHOTOS = 4
LOOKUPS_PER_MINUTE = 30  # address matches per client address; a burst of as many
REPORT_COARSEST = "village"  # a citizen may place a report at a village or group (花岭社区1组门口)


class Place(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lon: float | None = Field(None, description="Longitude in ``crs``.")
    lat: float | None = Field(None, description="Latitude in ``crs``.")
    crs: Crs = Field(Crs.WGS84, description="wgs84 (a browser's GPS), gcj02 (WeChat, most phone maps), bd09.")
    address: str | None = Field(None, max_length=200, description="Words for the place: matched against the "
                                "register down to a village (花岭社区1组门口).")


class CitizenReport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str = Field(max_length=64, description="A leaf of GET /event-categories.")
    description: str = Field("", max_length=intake.MAX_DESCRIPTION)
    location: Place
    photo_ids: list[str] = Field(default_factory=list, max_length=MAX_PHOTOS, description="Ids from POST /photos.")
    join: int | None = Field(None, ge=1, le=2**62, description="An open report from GET /citizen/nearby to add "
                             "this one to (stored, then merged into it as a duplicate: its count rises).")
    phone: str = Field("", max_length=20, description="Optional, for a call back; personal data, never shown.")

    def report(self) -> intake.Report:
        loc = self.location
        if loc.lon is not None or loc.lat is not None:  # a point; the address, if any, is the reporter's words
            where, words = Where(lon=loc.lon, lat=loc.lat, crs=loc.crs), loc.address
        else:
            where, words = Where(address=loc.address, coarsest=REPORT_COARSEST), None
        return intake.Report(category=self.category, description=self.description, source="web", where=where,
                             address=words, contact_phone=self.phone)


class AddressQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str = Field(min_length=1, max_length=200)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _plain(value: str, pointer: str) -> str:
    """Text with no control characters (a NUL cannot even reach PostgreSQL): else a 422 naming the field."""
    if _CONTROL.search(value):
        raise InvalidInput(f"{pointer} contains control characters", pointer=pointer)
    return value


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json", headers=headers)


@router.post("/address-match", summary="How well an address matches the register, and where it is (~100 m)")
def address_match(request: Request, session: SessionDep, body: AddressQuery) -> Response:
    """``quality`` (exact, normalised, anchored, fuzzy: a household; group, village, township, county: a
    place), ``score`` 0–1, ``place`` (the village or group; a household's own address is never echoed) and
    ``lon``/``lat`` to 3 decimals for the pin. ``usable``: whether a report may be placed by it."""
    taken = ratelimit.take(request.app.state.engine, f"citizen-lookup:{_client(request)}",
                           rate=LOOKUPS_PER_MINUTE / 60, burst=LOOKUPS_PER_MINUTE)
    if not taken.allowed:
        raise TooManyRequests(f"one address may look up {LOOKUPS_PER_MINUTE} addresses a minute; retry in "
                              f"{taken.retry_after_s} s", retry_after=taken.retry_after_s)
    m = match_address(session, _plain(body.address, "address"), reveal_candidates=False, coarsest="county")
    place = m.address if m.household_id is None else _village_of(session, m.household_id)
    return _json({**describe(m), "place": place, "usable": m.level in ("house", "group", "village"),
                  "lon": round(m.lon, PUBLIC_DECIMALS), "lat": round(m.lat, PUBLIC_DECIMALS), "crs": "wgs84"})


def _village_of(session: SessionDep, household_id: int) -> str:
    return session.execute(text("""SELECT coalesce(t.name, '') || v.name FROM household h
        JOIN division v ON v.id = h.division_id LEFT JOIN division t ON t.id = v.parent_id
        WHERE h.id = :h"""), {"h": household_id}).scalar() or ""


@router.get("/nearby", summary="Open reports of the same category near a place (public view)")
def nearby_reports(
    session: SessionDep,
    category: Annotated[str, Query(max_length=64)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    crs: Crs = Crs.WGS84,
) -> Response:
    categories.category(session, _plain(category, "category"))  # a known leaf, or 422 with the choices
    loc = resolve(session, Where(lon=lon, lat=lat, crs=crs))
    return _json({"reports": nearby.open_nearby(session, category=category, lon=loc.lon, lat=loc.lat)},
                 headers={"Cache-Control": "no-cache"})


@router.post("/reports", status_code=201, summary="A citizen's report (no account; rate limited, idempotent)")
def submit_report(
    request: Request, session: SessionDep, body: CitizenReport,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=300)] = None,
) -> Response:
    """Stored, routed and committed before the 201: ``number`` (the report's id), ``token`` (the tracking
    number), the state, the deadline, the office responsible, how the place was matched, and ``joined``."""
    client = _client(request)
    key = digest = None
    if idempotency_key is not None:
        key = idempotency.scoped_key(f"citizen@{client}", idempotency_key)
        digest = idempotency.fingerprint(body.model_dump(mode="json"))
        stored = idempotency.claim(session, key, digest)
        if stored is not None:
            return _json(stored.body, stored.status_code, {"Idempotent-Replayed": "true"})
    if len(set(body.photo_ids)) != len(body.photo_ids):
        raise InvalidInput("photo_ids lists a photo twice", pointer="photo_ids")
    request.app.state.report_limit.hit(client)  # after the replay check: a replay costs nothing
    actor = Actor(None, "public", request_id(request), client)
    receipt = intake.submit(session, body.report(), actor=actor)
    event_id = int(receipt["id"])  # type: ignore[arg-type]
    if body.photo_ids:
        _attach(session, event_id, body.photo_ids)
    joined = nearby.join(session, event_id, body.join, actor=actor) if body.join is not None else None
    out = {**receipt, "number": event_id, "joined": joined, "photos": len(body.photo_ids),
           "track_url": "/report/track#" + str(receipt["token"])}
    encoded = orjson.dumps(out)
    if key is not None and digest is not None:
        idempotency.store(session, key, digest, event_id, 201, orjson.loads(encoded))
    return Response(encoded, 201, media_type="application/json")


def _attach(session: SessionDep, event_id: int, photo_ids: list[str]) -> None:
    try:  # the photos part's helper (docs/roles.md); until it is deployed, a report with photos is refused
        from geo.media import photos
    except ImportError:
        raise InvalidInput("this server does not take photos yet; send the report without them",
                           pointer="photo_ids") from None
    photos.attach(session, event_id, photo_ids, "report")


@router.get("/reports/{token}", summary="A report's state by its tracking number, in plain Chinese")
def track_report(session: SessionDep, token: Annotated[str, Path(max_length=64)]) -> Response:
    return _json(tracking.track(session, token), headers={"Cache-Control": "no-store"})


_PLACES = text("""
    SELECT d.code, d.name, d.level::text AS level, ST_AsGeoJSON(d.geom, 5)::json AS geometry
    FROM division d WHERE d.level IN ('township', 'village') ORDER BY d.level DESC, d.code""")


@router.get("/places", summary="Townships and villages (names, boundaries) for the report page's map")
def places(session: SessionDep) -> Response:
    rows = session.execute(_PLACES).mappings().all()
    return _json({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": r["geometry"],
         "properties": {"code": r["code"], "name": r["name"], "level": r["level"]}} for r in rows]},
        headers={"Cache-Control": "public, max-age=300"})
