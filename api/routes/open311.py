"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2): the standard front door
for citizens' apps, in JSON and XML, with the spec's field names and statuses.

Mapping: a service is a leaf of our category tree (service_code = category
code); a service request is an event; address_id is a household id; lat/long
are WGS-84 (an extension parameter ``crs`` accepts gcj02/bd09 from Chinese map
SDKs). Errors use the spec's format ([{code, description}]), not problem+json,
because Open311 clients parse that. Reads are public and show no personal data
(see geo/events/public.py). No api_key is needed to submit; anonymous
submissions are rate limited like POST /events.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Form, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from api import problems
from api.deps import SessionDep
from api.security import request_id
from geo.audit import Actor
from geo.crs import Crs
from geo.errors import InvalidInput, NotFound
from geo.events import categories, idempotency, intake, public
from geo.events.location import Where

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
            singular = {"endpoints": "endpoint", "formats": "format", "attributes": "attribute"}.get(el.tag, "item")
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


def render_error(request: Request, status: int, detail: str) -> Response:
    fmt = "xml" if request.url.path.endswith(".xml") else "json"
    return render(fmt, [{"code": status, "description": detail}], "errors", "error", status)


problems.ALTERNATE_FORMATS[PREFIX + "/"] = render_error


def _time(t: datetime | None) -> str | None:
    return t.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if t else None


def _request(r: dict[str, Any]) -> dict[str, Any]:
    closed = r["effective_status"] in public.CLOSED
    notes = STATUS_NOTES.get(r["status"], r["status"])
    if r["duplicate_of"]:
        notes = f"与 {r['duplicate_of']} 号诉求合并 merged into request {r['duplicate_of']}: " \
                f"{STATUS_NOTES.get(r['effective_status'], r['effective_status'])}"
    return {
        "service_request_id": str(r["id"]), "status": "closed" if closed else "open", "status_notes": notes,
        "service_name": r["service_name"], "service_code": r["category"],
        "description": None if r["triage"] == "civil" else r["description"],
        "agency_responsible": r["agency"], "service_notice": None,
        "requested_datetime": _time(r["reported_at"]), "updated_datetime": _time(r["updated_at"]),
        "expected_datetime": _time(r["due_at"]), "address": r["village"], "address_id": None, "zipcode": None,
        "lat": r["lat"], "long": r["lon"], "media_url": r["media_url"],
    }


# -- routes -------------------------------------------------------------------------------------------
@router.get("/discovery.{fmt}", summary="Open311 discovery")
def discovery(request: Request, fmt: Fmt) -> Response:
    base = str(request.base_url).rstrip("/") + PREFIX
    data = {"changeset": "2026-11-23T00:00:00Z", "contact": "网格化服务管理中心", "key_service": "none needed",
            "endpoints": [{"specification": "http://wiki.open311.org/GeoReport_v2", "url": base,
                           "changeset": "2026-11-23T00:00:00Z", "type": "production",
                           "formats": ["application/json", "text/xml"]}]}
    return render(fmt, data, "discovery", None)


@router.get("/services.{fmt}", summary="Open311 service list: the leaves of the category tree")
def services(s: SessionDep, fmt: Fmt) -> Response:
    cats = categories.all_categories(s)
    names = {c.code: c.name for c in cats}
    data = [{"service_code": c.code, "service_name": c.name, "description": f"{c.name_en} ({c.triage})",
             "metadata": False, "type": "realtime", "keywords": c.name_en,
             "group": names.get(c.parent_code or "", "")} for c in cats if c.is_leaf]
    return render(fmt, data, "services", "service")


@router.get("/services/{service_code}.{fmt}", summary="Open311 service definition")
def service_definition(s: SessionDep, service_code: str, fmt: Fmt) -> Response:
    try:
        cat = categories.category(s, service_code, pointer="service_code")
    except InvalidInput as exc:  # an unknown or group code is simply not a service here
        raise NotFound(f"service {service_code} does not exist") from exc
    return render(fmt, {"service_code": cat.code, "attributes": []}, "service_definition", None)


@router.post("/requests.{fmt}", summary="Open311: submit a service request", status_code=201)
def create_request(
    request: Request, s: SessionDep, fmt: Fmt,
    service_code: Annotated[str, Form(max_length=64)],
    lat: Annotated[float | None, Form()] = None,
    long: Annotated[float | None, Form()] = None,
    crs: Annotated[Crs, Form(description="Extension: datum of lat/long (default wgs84).")] = Crs.WGS84,
    address_string: Annotated[str | None, Form(max_length=200)] = None,
    address_id: Annotated[int | None, Form(ge=1, le=2**62)] = None,
    first_name: Annotated[str, Form(max_length=50)] = "",
    last_name: Annotated[str, Form(max_length=50)] = "",
    phone: Annotated[str, Form(max_length=20)] = "",
    description: Annotated[str, Form(max_length=intake.MAX_DESCRIPTION)] = "",
    media_url: Annotated[str | None, Form(max_length=1000)] = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=300)] = None,
) -> Response:
    client = request.client.host if request.client else "unknown"
    report = intake.Report(category=service_code, description=description, source="open311", media_url=media_url,
                           where=Where(lon=long, lat=lat, crs=crs, address=address_string, household_id=address_id),
                           contact_name=(last_name + first_name).strip(), contact_phone=phone)
    key = digest = None
    if idempotency_key is not None:
        key = idempotency.scoped_key(f"open311@{client}", idempotency_key)
        digest = idempotency.fingerprint({**report.__dict__, "where": report.where.__dict__})
        stored = idempotency.claim(s, key, digest)
        if stored is not None:
            return render(fmt, stored.body["open311"], "service_requests", "request", stored.status_code)
    request.app.state.report_limit.hit(client)  # after the replay check: a replay does not count
    receipt = intake.submit(s, report, actor=Actor(None, "open311", request_id(request), client))
    due = _time(receipt["due_at"])  # type: ignore[arg-type]
    data = [{"service_request_id": str(receipt["id"]), "token": receipt["token"],
             "service_notice": f"预计 {due} 前办结 expected by {due}", "account_id": None}]
    if key is not None and digest is not None:
        idempotency.store(s, key, digest, int(receipt["id"]), 201, {"open311": data})
    s.commit()  # stored before the client hears 201
    return render(fmt, data, "service_requests", "request", 201)


@router.get("/requests.{fmt}", summary="Open311: query service requests")
def list_requests(
    s: SessionDep, fmt: Fmt,
    service_request_id: Annotated[str | None, Query(max_length=2000)] = None,
    service_code: Annotated[str | None, Query(max_length=2000)] = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    status: Annotated[str | None, Query(pattern=r"^(open|closed)(,(open|closed))?$")] = None,
) -> Response:
    if service_request_id:
        rows = public.requests(s, ids=_ids(service_request_id))
    else:
        end = end_date or datetime.now(UTC)
        try:
            start = start_date or end - timedelta(days=90)  # the spec's default window
        except OverflowError:
            raise InvalidInput("end_date is too early", pointer="end_date") from None
        rows = public.requests(s, codes=service_code.split(",") if service_code else None, start=start, end=end,
                               status=status.split(",") if status else None)
    return render(fmt, [_request(r) for r in rows], "service_requests", "request")


@router.get("/requests/{service_request_id}.{fmt}", summary="Open311: one service request")
def get_request(s: SessionDep, service_request_id: str, fmt: Fmt) -> Response:
    rows = public.requests(s, ids=_ids(service_request_id))
    if not rows:
        raise NotFound(f"service request {service_request_id} does not exist")
    return render(fmt, [_request(rows[0])], "service_requests", "request")


@router.get("/tokens/{token}.{fmt}", summary="Open311: the request id behind a submission token")
def token_lookup(s: SessionDep, token: Annotated[str, Path(max_length=64)], fmt: Fmt) -> Response:
    event_id = public.by_token(s, token)
    if event_id is None:
        raise NotFound(f"token {token} is unknown")
    return render(fmt, [{"service_request_id": str(event_id), "token": token}], "service_requests", "request")


def _ids(raw: str) -> list[int]:
    try:
        ids = [int(x) for x in raw.split(",") if x.strip()]
    except ValueError:
        raise InvalidInput(f"service_request_id must be comma-separated numbers, got {raw!r}",
                           pointer="service_request_id") from None
    if not ids or any(not 0 < i < 2**62 for i in ids):
        raise InvalidInput("service_request_id must name at least one request", pointer="service_request_id")
    return ids
