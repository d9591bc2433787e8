"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2): the standard front door
for citizens' apps, in JSON and XML, with the spec's field names and statuses.

Mapping: a service is a leaf of our category tree (service_code = category
code); a service request is an event; address_id is a household id; lat/long
are WGS-84 (an extension parameter ``crs`` accepts gcj02/bd09 from Chinese map
SDKs). Errors use the spec's format ([{code, description}]), not problem+json,
because Open311 clients parse that, with the spec's statuses: 404 for what does
not exist (a service, a request, a jurisdiction), 400 for every other client
error, and messages in the spec's parameter names (lat/long, address_string,
service_code), never gridmap's. A jurisdiction is a county: jurisdiction_id may be
omitted (every county served) or be a served county's code (6 or 12 digits), which
keeps the reads to that county and refuses a request located in another; any
other is refused.
The standard fields are kept: the reporter's name, phone, email, device_id and
account_id go to event_contact (row-level security, masked unless pii:read),
attribute[code] answers are checked against the service definition and stored
with the event. Reads are public and show no personal data (see
geo/events/public.py). No api_key is needed to submit; anonymous submissions are
rate limited like POST /events. Form bodies reach this module already decoded
(UTF-8 or the declared charset, api/forms.py).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Depends, Form, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from api import problems
from api.deps import IsoDateTime, SessionDep, check_window
from api.security import request_id
from geo.errors import InvalidInput, NotFound
from geo.events import attributes, categories, idempotency, intake, public
from geo.events.location import Where
from geo.privacy.audit import Actor
from geo.spatial.crs import Crs

PREFIX = "/open311/v2"
router = APIRouter(prefix=PREFIX, tags=["open311"])
Fmt = Annotated[Literal["json", "xml"], Path(description="Response format.")]
STATUS_NOTES = {"reported": "已上报 reported", "screened": "已受理 accepted", "assigned": "已交办 assigned",
                "in_progress": "处置中 in progress", "escalated": "已吹哨 escalated to a department",
                "feedback": "已反馈 result reported, awaiting confirmation", "closed": "已办结 closed",
                "rejected": "不予受理 not a valid report", "reopened": "重新办理 reopened"}


# -- rendering ------------------------------------------------------------------------------------
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not allowed in XML 1.0 at all

def _xml(root: str, item: str | None, data: Any) -> bytes:
    def fill(el: ET.Element, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                fill(ET.SubElement(el, k), v)
        elif isinstance(value, list):
            singular = {"endpoints": "endpoint", "formats": "format", "attributes": "attribute",
                        "values": "value"}.get(el.tag, "item")
            for v in value:
                fill(ET.SubElement(el, singular), v)
        elif value is not None:
            el.text = _XML_INVALID.sub("", str(value).lower() if isinstance(value, bool) else str(value))

    top = ET.Element(root)
    for entry in (data if item else [data]):
        fill(ET.SubElement(top, item) if item else top, entry)
    return b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8")


def render(fmt: str, data: Any, root: str, item: str | None, status: int = 200) -> Response:
    if fmt == "xml":
        return Response(_xml(root, item, data), status, media_type="text/xml; charset=utf-8")
    return JSONResponse(data, status)


# The statuses GeoReport v2 names (400, 403, 404) and those a transport or a client library acts on
# (405, 413, 429, 5xx) are kept; every other client error (422 validation, 409 conflict, ...) is the
# spec's 400 "bad request", so a client needs one rule, whatever part of gridmap refused it.
_KEPT = {400, 403, 404, 405, 413, 429}


def render_error(request: Request, status: int, detail: str) -> Response:
    fmt = "xml" if request.url.path.endswith(".xml") else "json"
    if 400 <= status < 500 and status not in _KEPT:
        status = 400
    return render(fmt, [{"code": status, "description": detail}], "errors", "error", status)


problems.ALTERNATE_FORMATS[PREFIX + "/"] = render_error


def _time(t: datetime | None) -> str | None:
    return t.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if t else None


def _request(r: dict[str, Any]) -> dict[str, Any]:
    closed = r["effective_status"] in public.CLOSED
    private = r["triage"] == "civil"  # a residents' private matter (民事): neither its words nor its photo
    notes = STATUS_NOTES.get(r["status"], r["status"])
    if r["duplicate_of"]:
        notes = f"与 {r['duplicate_of']} 号诉求合并 merged into request {r['duplicate_of']}: " \
                f"{STATUS_NOTES.get(r['effective_status'], r['effective_status'])}"
    return {
        "service_request_id": str(r["id"]), "status": "closed" if closed else "open", "status_notes": notes,
        "service_name": r["service_name"], "service_code": r["category"],
        "description": None if private else r["description"],
        "agency_responsible": r["agency"], "service_notice": None,
        "requested_datetime": _time(r["reported_at"]), "updated_datetime": _time(r["updated_at"]),
        "expected_datetime": _time(r["due_at"]), "address": r["village"], "address_id": None, "zipcode": None,
        "lat": r["lat"], "long": r["lon"], "media_url": None if private else r["media_url"],
    }


# -- routes -------------------------------------------------------------------------------------------
Jurisdiction = Annotated[str | None, Query(max_length=64, description="The county's division code (optional).")]


@router.get("/discovery.{fmt}", summary="Open311 discovery")
def discovery(request: Request, fmt: Fmt) -> Response:
    base = str(request.base_url).rstrip("/") + PREFIX
    data = {"changeset": "2026-11-23T00:00:00Z", "contact": "网格化服务管理中心", "key_service": "none needed",
            "endpoints": [{"specification": "http://wiki.open311.org/GeoReport_v2", "url": base,
                           "changeset": "2026-11-23T00:00:00Z", "type": "production",
                           "formats": ["application/json", "text/xml"]}]}
    return render(fmt, data, "discovery", None)


@router.get("/services.{fmt}", summary="Open311 service list: the leaves of the category tree")
def services(s: SessionDep, fmt: Fmt, jurisdiction_id: Jurisdiction = None) -> Response:
    _served(s, jurisdiction_id)
    cats = categories.all_categories(s)
    names = {c.code: c.name for c in cats}
    data = [{"service_code": c.code, "service_name": c.name, "description": f"{c.name_en} ({c.triage})",
             "metadata": bool(c.attributes), "type": "realtime", "keywords": c.name_en,
             "group": names.get(c.parent_code or "", "")} for c in cats if c.is_leaf]
    return render(fmt, data, "services", "service")


@router.get("/services/{service_code}.{fmt}", summary="Open311 service definition")
def service_definition(s: SessionDep, service_code: str, fmt: Fmt, jurisdiction_id: Jurisdiction = None) -> Response:
    _served(s, jurisdiction_id)
    try:
        cat = categories.category(s, service_code, pointer="service_code")
    except InvalidInput as exc:  # an unknown or group code is simply not a service here
        raise NotFound(f"service_code {service_code} is not a service of this endpoint") from exc
    attributes = [{"variable": True, "code": a["code"], "datatype": a.get("datatype", "string"),
                   "required": bool(a.get("required")), "datatype_description": a.get("datatype_description"),
                   "order": a.get("order"), "description": a.get("description"),
                   **({"values": a["values"]} if a.get("values") else {})}
                  for a in sorted(cat.attributes, key=lambda a: int(a.get("order") or 0))]  # type: ignore[arg-type]
    return render(fmt, {"service_code": cat.code, "attributes": attributes}, "service_definition", None)


async def _attribute_answers(request: Request) -> dict[str, list[str]]:
    """``attribute[code]`` (and ``attribute[code][]`` for a multivaluelist) from the form, which FastAPI
    has already read (and cached) for the named fields."""
    answers: dict[str, list[str]] = {}
    for name, value in (await request.form()).multi_items():
        if not name.startswith("attribute"):
            continue
        match = _ATTRIBUTE.fullmatch(name)
        if match is None or not isinstance(value, str):
            raise InvalidInput(f"{name[:80]} is not a field of this form; an attribute is sent as attribute[code]",
                               pointer=name[:80])
        answers.setdefault(match[1], []).append(value)
    return answers


_ATTRIBUTE = re.compile(r"attribute\[([^\[\]]{1,64})\](?:\[\])?")


@router.post("/requests.{fmt}", summary="Open311: submit a service request", status_code=201)
def create_request(
    request: Request, s: SessionDep, fmt: Fmt,
    answers: Annotated[dict[str, list[str]], Depends(_attribute_answers)],
    service_code: Annotated[str, Form(max_length=64)],
    jurisdiction_id: Annotated[str | None, Form(max_length=64)] = None,
    lat: Annotated[float | None, Form()] = None,
    long: Annotated[float | None, Form()] = None,
    crs: Annotated[Crs, Form(description="Extension: datum of lat/long (default wgs84).")] = Crs.WGS84,
    address_string: Annotated[str | None, Form(max_length=200)] = None,
    address_id: Annotated[int | None, Form(ge=1, le=2**62)] = None,
    email: Annotated[str, Form(max_length=254)] = "",
    device_id: Annotated[str, Form(max_length=100)] = "",
    account_id: Annotated[str, Form(max_length=100)] = "",
    first_name: Annotated[str, Form(max_length=50)] = "",
    last_name: Annotated[str, Form(max_length=50)] = "",
    phone: Annotated[str, Form(max_length=20)] = "",
    description: Annotated[str, Form(max_length=intake.MAX_DESCRIPTION)] = "",
    media_url: Annotated[str | None, Form(max_length=1000)] = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=300)] = None,
) -> Response:
    client = request.client.host if request.client else "unknown"
    county = _served(s, jurisdiction_id)
    try:
        service = categories.category(s, service_code, pointer="service_code")
    except InvalidInput:
        raise InvalidInput(f"service_code {service_code!r} is not a service of this endpoint; "
                           "see services.json", pointer="service_code") from None
    report = intake.Report(category=service_code, description=description, source="open311", media_url=media_url,
                           where=_where(lat, long, crs, address_string, address_id),
                           address=address_string if lat is not None else None,
                           contact_name=(last_name + first_name).strip(), contact_phone=phone,
                           contact_email=email, device_id=device_id, account_id=account_id,
                           attributes=attributes.validate(service.attributes, answers, service=service_code) or None)
    key = digest = None
    if idempotency_key is not None:
        key = idempotency.scoped_key(f"open311@{client}", idempotency_key)
        digest = idempotency.fingerprint({**report.__dict__, "where": report.where.__dict__})
        stored = idempotency.claim(s, key, digest)
        if stored is not None:
            return render(fmt, stored.body["open311"], "service_requests", "request", stored.status_code)
    request.app.state.report_limit.hit(client)  # after the replay check: a replay does not count
    try:
        receipt = intake.submit(s, report, actor=Actor(None, "open311", request_id(request), client))
    except InvalidInput as exc:
        raise _in_open311_terms(exc) from None
    if county is not None and public.county_of(s, int(receipt["id"])) not in (None, county):
        # not committed: the request's transaction rolls back with this refusal
        raise InvalidInput(f"lat/long lies in county {public.county_of(s, int(receipt['id']))}, not in jurisdiction_id "
                           f"{county}", pointer="jurisdiction_id")
    due = _time(receipt["due_at"])  # type: ignore[arg-type]
    data = [{"service_request_id": str(receipt["id"]), "token": receipt["token"],
             "service_notice": f"预计 {due} 前办结 expected by {due}", "account_id": account_id or None}]
    if key is not None and digest is not None:
        idempotency.store(s, key, digest, int(receipt["id"]), 201, {"open311": data})
    s.commit()  # stored before the client hears 201
    return render(fmt, data, "service_requests", "request", 201)


@router.get("/requests.{fmt}", summary="Open311: query service requests")
def list_requests(
    s: SessionDep, fmt: Fmt,
    service_request_id: Annotated[str | None, Query(max_length=2000)] = None,
    service_code: Annotated[str | None, Query(max_length=2000)] = None,
    start_date: IsoDateTime | None = None,
    end_date: IsoDateTime | None = None,
    status: Annotated[str | None, Query(pattern=r"^(open|closed)(,(open|closed))?$")] = None,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    county = _served(s, jurisdiction_id)
    if service_request_id:
        rows = public.requests(s, ids=_ids(service_request_id), county=county)
    else:
        end = end_date or datetime.now(UTC)
        try:
            start = start_date or end - timedelta(days=90)  # the spec's default window
        except OverflowError:
            raise InvalidInput("end_date is too early", pointer="end_date") from None
        check_window(start, end, ("start_date", "end_date"))
        rows = public.requests(s, codes=service_code.split(",") if service_code else None, start=start, end=end,
                               status=status.split(",") if status else None, county=county)
    return render(fmt, [_request(r) for r in rows], "service_requests", "request")


@router.get("/requests/{service_request_id}.{fmt}", summary="Open311: one service request")
def get_request(s: SessionDep, service_request_id: str, fmt: Fmt, jurisdiction_id: Jurisdiction = None) -> Response:
    county = _served(s, jurisdiction_id)
    try:
        ids = _ids(service_request_id)
    except InvalidInput:
        ids = []  # "abc" names no request: the spec's 404, as for a number that was never issued
    rows = public.requests(s, ids=ids[:1], county=county) if len(ids) == 1 else []
    if not rows:
        raise NotFound(f"service_request_id {service_request_id} does not exist", pointer="service_request_id")
    return render(fmt, [_request(rows[0])], "service_requests", "request")


@router.get("/tokens/{token}.{fmt}", summary="Open311: the request id behind a submission token")
def token_lookup(s: SessionDep, token: Annotated[str, Path(max_length=64)], fmt: Fmt,
                 jurisdiction_id: Jurisdiction = None) -> Response:
    county = _served(s, jurisdiction_id)
    event_id = public.by_token(s, token)
    if event_id is None or (county is not None and public.county_of(s, event_id) != county):
        raise NotFound(f"token {token} is unknown")
    return render(fmt, [{"service_request_id": str(event_id), "token": token}], "service_requests", "request")


# -- Open311's parameters, in Open311's words ---------------------------------------------------------
def _served(s: SessionDep, jurisdiction_id: str | None) -> str | None:
    """The county (6 digits) a jurisdiction_id names, or None for all the counties served; a county this
    endpoint does not serve is refused (the spec's 404). The 6-digit code or the county's 12-digit
    division code both name it."""
    if jurisdiction_id is None or jurisdiction_id.strip() == "":
        return None
    asked = jurisdiction_id.strip()
    served = public.jurisdictions(s)
    if len(asked) in (6, 12) and asked[:6] in served and (len(asked) == 6 or asked[6:] == "000000"):
        return asked[:6]
    raise NotFound(f"jurisdiction_id {jurisdiction_id!r} is not served by this endpoint"
                   + (f"; it serves {', '.join(served)}" if served else ""), pointer="jurisdiction_id")


def _where(lat: float | None, long: float | None, crs: Crs, address_string: str | None,
           address_id: int | None) -> Where:
    """The location, checked in the spec's terms: lat and long (address_string may come along as the
    reporter's description of the place), or address_string alone. address_id (a household id here)
    would let anyone probe the household register, so it is refused to anonymous clients."""
    if address_id is not None:
        raise InvalidInput("address_id is not accepted from this public endpoint; give lat and long, or "
                           "address_string", pointer="address_id")
    if lat is None and long is None:
        if not address_string:
            raise InvalidInput("a location is required: give lat and long, or address_string", pointer="lat")
        return Where(address=address_string)
    if lat is None or long is None:
        missing = "lat" if lat is None else "long"
        raise InvalidInput(f"lat and long go together; {missing} is missing", pointer=missing)
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise InvalidInput(f"lat must be a number in [-90, 90], got {lat}", pointer="lat")
    if not (math.isfinite(long) and -180 <= long <= 180):
        raise InvalidInput(f"long must be a number in [-180, 180], got {long}", pointer="long")
    return Where(lon=long, lat=lat, crs=crs)


# gridmap's pointers and the leading words of its messages → the Open311 parameter they mean.
_OPEN311_NAME = {"category": "service_code", "location": "lat/long", "address": "address_string",
                 "location/address": "address_string", "location/household_id": "address_id",
                 "household_id": "address_id", "lon": "long", "lat": "lat", "contact/name": "first_name/last_name",
                 "contact/phone": "phone", "contact/email": "email", "contact/device_id": "device_id",
                 "contact/account_id": "account_id"}
_POINT = re.compile(r"^the location \(([-\d.]+), ([-\d.]+)")
_LEADING = re.compile(r"^(the location|location/\w+|contact/\w+|address|household|category|lon)\b")


def _in_open311_terms(exc: InvalidInput) -> InvalidInput:
    """A refusal from intake, renamed: "the location (...) lies outside the county" → "lat/long (...) ..."."""
    name = _OPEN311_NAME.get(exc.pointer or "", exc.pointer or "")
    detail = _POINT.sub(r"lat/long (\2, \1", exc.detail)  # gridmap says (lon, lat); Open311 says lat first
    leading = _LEADING.match(detail)
    if leading and name:
        detail = name + detail[leading.end():]
    elif name and not detail.startswith(name):
        detail = f"{name}: {detail}"
    return InvalidInput(detail, pointer=name or None, **exc.extra)


def _ids(raw: str) -> list[int]:
    try:
        ids = [int(x) for x in raw.split(",") if x.strip()]
    except ValueError:
        raise InvalidInput(f"service_request_id must be comma-separated numbers, got {raw!r}",
                           pointer="service_request_id") from None
    if not ids or any(not 0 < i < 2**62 for i in ids):
        raise InvalidInput("service_request_id must name at least one request", pointer="service_request_id")
    return ids
