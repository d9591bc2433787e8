"""A growing corpus of bad input: every entry is a 4xx problem that names the field, and nothing is written.

Each row is one request a client could really send. They are grouped by class, not by the bug that found
them: numbers too large for any float or column, shapes PostGIS's geography cannot take (whole-world,
antimeridian), datums the request did not declare, dates that are not ISO 8601, bodies over the limit
whichever way they are sent, and names (tile layers) that do not exist. Add a row whenever a new member of a
class turns up; the test asserts the status, the problem+json media type, that the field is named, and that
no table the API writes to changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

HUGE = 10**400  # a JSON integer of 401 digits: valid JSON, no float can hold it
BIG = 10**30  # larger than any bigint column
WORLD = [[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]
ANTIMERIDIAN = [[179.9, 10], [-179.9, 10], [-179.9, 10.1], [179.9, 10.1], [179.9, 10]]

Body = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # may use {grid}, {staff}, {event}
    names: str  # the field the answer must name (a parameter, or a JSON pointer)
    status: int | tuple[int, ...] = 422
    user: str = "admin"
    params: dict[str, str] = field(default_factory=dict)
    body: Body | None = None  # JSON body from the context (dumped with NaN/Infinity allowed)
    form: dict[str, str] | None = None
    chunked: bytes | None = None  # sent with Transfer-Encoding: chunked, in 64 KiB pieces
    raw: bytes | None = None  # sent as it is, with Content-Length
    content_type: str = "application/json"
    if_match: bool = False  # send the grid's current ETag, so the request reaches its body
    problem: bool = True  # False where a standard prescribes its own error format (Open311)
    says: str = ""  # a phrase of the reason, where the field alone does not show the right check refused it
    headers: Callable[[dict[str, Any]], dict[str, str]] | None = None


def _square(c: dict[str, Any], d: float = 0.0005) -> list[list[float]]:
    x, y = c["x"], c["y"]
    return [[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]


def _poly(ring: list[list[Any]], **extra: Any) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [ring], **extra}


def _new_grid(geometry: Callable[[dict[str, Any]], Any], **extra: Any) -> Body:
    return lambda c: {"layer": "dedicated", "name": "x", "division": c["village"], "geometry": geometry(c), **extra}


def _cut(coords: Callable[[dict[str, Any]], Any], member: dict[str, Any] | None = None) -> Body:
    return lambda c: {"line": {"type": "LineString", "coordinates": coords(c), **(member or {})}}


def _huge_corner(c: dict[str, Any]) -> list[list[Any]]:
    ring = _square(c)
    ring[1] = [ring[1][0], HUGE]
    return ring


def _crossing(c: dict[str, Any]) -> list[list[float]]:
    return [[c["gx0"] - 0.01, c["y"]], [c["gx1"] + 0.01, c["y"]]]


_EPSG3857 = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}
_CHUNK = b"x" * (3 * 1024 * 1024)

CORPUS: dict[str, Case] = {
    # --- numbers no float or column can hold -------------------------------------------------------------
    "create: a 401-digit latitude": Case("POST", "/grids", "geometry/coordinates/0/1", user="planner",
                                         body=_new_grid(lambda c: _poly(_huge_corner(c)))),
    "create: a 401-digit negative longitude": Case(
        "POST", "/grids", "geometry/coordinates/0/0", user="planner",
        body=_new_grid(lambda c: _poly([[-HUGE, c["y"]], *_square(c)[1:-1], [-HUGE, c["y"]]]))),
    "reshape: a 401-digit latitude": Case("PUT", "/grids/{grid}/geometry", "geometry/coordinates/0/1",
                                          user="planner", if_match=True,
                                          body=lambda c: {"geometry": _poly(_huge_corner(c))}),
    "split: a 401-digit coordinate": Case("POST", "/grids/{grid}/split", "line/coordinates/0", user="planner",
                                          if_match=True, body=_cut(lambda c: [[HUGE, c["y"]], [c["x"], c["y"]]])),
    "partition: a 401-digit coordinate": Case(
        "POST", "/grids/{grid}/partition", "parts/1/coordinates/0/1", user="planner", if_match=True,
        body=lambda c: {"parts": [_poly(_square(c)), _poly(_huge_corner(c))]}),
    "merge: grid ids beyond any column": Case(
        "POST", "/grids/merge", "grids/0", user="planner", body=lambda c: {"grids": [BIG, BIG + 1]},
        headers=lambda c: {"If-Match": f'"g{BIG}v1", "g{BIG + 1}v1"'}),
    "If-Match: a version beyond any column": Case(
        "PATCH", "/grids/{grid}", "If-Match", status=412, user="planner", body=lambda c: {"name": "x"},
        headers=lambda c: {"If-Match": f'"g{c["grid"]}v{BIG}"'}),
    "event: a 401-digit longitude": Case("POST", "/events", "location/lon", body=lambda c: {
        "category": c["category"], "location": {"lon": HUGE, "lat": c["y"]}}),
    "event: an infinite latitude (1e400)": Case("POST", "/events", "lat", body=lambda c: {
        "category": c["category"], "location": {"lon": c["x"], "lat": float("inf")}}),
    "event: a household id beyond any column": Case("POST", "/events", "location/household_id", body=lambda c: {
        "category": c["category"], "location": {"household_id": BIG}}),
    "position: a 401-digit longitude": Case("POST", "/staff/me/position", "lon", user="worker1",
                                            body=lambda c: {"lon": HUGE, "lat": c["y"]}),
    "position: an infinite accuracy": Case("POST", "/staff/me/position", "accuracy_m", user="worker1",
                                           body=lambda c: {"lon": c["x"], "lat": c["y"], "accuracy_m": float("inf")}),
    "fusion rule: a NaN share": Case("POST", "/fusion/rules", "min_share", user="planner", body=lambda c: {
        "fine": "layer:micro", "coarse": "layer:comprehensive", "min_share": float("nan")}),
    "locate: lon=1e400": Case("GET", "/locate", "lon", params={"lon": "1e400", "lat": "26.4"}),
    "locate: a 401-digit lat": Case("GET", "/locate", "lat", params={"lon": "106.6", "lat": str(HUGE)}),
    "around: radius=nan": Case("GET", "/around", "radius", params={"lon": "106.6", "lat": "26.4", "radius": "nan"}),
    "events: limit beyond any column": Case("GET", "/events", "limit", params={"limit": str(BIG)}),
    "grids: after beyond any column": Case("GET", "/grids", "after", params={"after": str(BIG)}),
    "grids: a bbox of 401 digits": Case("GET", "/grids", "bbox", params={"bbox": f"1,2,{HUGE},4"}),
    "grid id beyond any column": Case("GET", f"/grids/{BIG}", "grid_id"),
    "tile zoom beyond any integer": Case("GET", f"/tiles/grids/comprehensive/{BIG}/0/0.mvt", "z"),
    "Open311: lat=1e400": Case("POST", "/open311/v2/requests.json", "lat", status=(400, 422), problem=False, form={
        "service_code": "environment.garbage", "lat": "1e400", "long": "106.6"}),
    # --- shapes PostGIS's geography cannot take ----------------------------------------------------------
    "create: the whole world": Case("POST", "/grids", "geometry", user="planner", says="spans",
                                    body=_new_grid(lambda c: _poly(WORLD), parent_mode="clip")),
    "create: across the antimeridian": Case("POST", "/grids", "geometry", user="planner",
                                            body=_new_grid(lambda c: _poly(ANTIMERIDIAN), parent_mode="clip")),
    "reshape: the whole world": Case("PUT", "/grids/{grid}/geometry", "geometry", user="planner", if_match=True,
                                     says="spans",
                                     body=lambda c: {"geometry": _poly(WORLD), "parent_mode": "clip"}),
    "split: a line round the world": Case("POST", "/grids/{grid}/split", "line", user="planner", if_match=True,
                                          body=_cut(lambda c: [[-180, c["y"]], [180, c["y"]]])),
    "partition: a whole-world part": Case("POST", "/grids/{grid}/partition", "parts/0", user="planner",
                                          if_match=True, body=lambda c: {"parts": [_poly(WORLD), _poly(_square(c))]}),
    # --- shapes no grid can be, in any of their parts ----------------------------------------------------
    "create: a MultiPolygon with a speck of a part": Case(
        "POST", "/grids", "geometry", user="planner", says="part of", body=_new_grid(lambda c: {
            "type": "MultiPolygon", "coordinates": [[_square(c)], [_square({"x": c["x"] + 0.001, "y": c["y"]}, 1e-6)]]})),
    "create: a MultiPolygon with a sliver of a part": Case(
        "POST", "/grids", "geometry", user="planner", says="sliver", body=_new_grid(lambda c: {
            "type": "MultiPolygon", "coordinates": [[_square(c)], [[
                [c["x"] + 0.001, c["y"]], [c["x"] + 0.003, c["y"]], [c["x"] + 0.003, c["y"] + 1e-5],
                [c["x"] + 0.001, c["y"] + 1e-5], [c["x"] + 0.001, c["y"]]]]]})),
    # --- fields the action does not read: refused, never dropped behind a 2xx -----------------------------
    "assign: both a staff member and a department": Case(
        "POST", "/events/{event}/assign", "department", body=lambda c: {"staff_id": c["staff"], "department": "x"}),
    "accept: a staff_id it does not read": Case("POST", "/events/{event}/accept", "staff_id",
                                                 body=lambda c: {"staff_id": c["staff"]}),
    "start: a duplicate_of it does not read": Case("POST", "/events/{event}/start", "duplicate_of",
                                                    body=lambda c: {"duplicate_of": 1}),
    # --- datums the request did not declare ---------------------------------------------------------------
    "create: a GeoJSON crs member of EPSG:3857": Case(
        "POST", "/grids", "geometry/crs", user="planner",
        body=_new_grid(lambda c: _poly(_square(c), crs=_EPSG3857))),
    "create: a crs member that is not an object": Case(
        "POST", "/grids", "geometry/crs", user="planner", body=_new_grid(lambda c: _poly(_square(c), crs="gcj02"))),
    "create: a crs member whose properties are null": Case(
        "POST", "/grids", "geometry/crs", user="planner",
        body=_new_grid(lambda c: _poly(_square(c), crs={"type": "name", "properties": None}))),
    "split: a crs member whose properties are a list": Case(
        "POST", "/grids/{grid}/split", "line/crs", user="planner", if_match=True,
        body=_cut(_crossing, member={"crs": {"type": "name", "properties": ["EPSG:4326"]}})),
    "create: an unknown crs parameter": Case("POST", "/grids", "crs", user="planner",
                                             body=_new_grid(lambda c: _poly(_square(c)), crs="mars")),
    "split: a crs member of EPSG:3857": Case("POST", "/grids/{grid}/split", "line/crs", user="planner",
                                             if_match=True, body=_cut(_crossing, member={"crs": _EPSG3857})),
    "partition: an unknown crs parameter": Case(
        "POST", "/grids/{grid}/partition", "crs", user="planner", if_match=True,
        body=lambda c: {"parts": [_poly(_square(c)), _poly(_square(c, 0.0002))], "crs": "epsg3857"}),
    # --- dates that are not ISO 8601, or out of any sane range -------------------------------------------
    "stats: to=2182 (not 1970)": Case("GET", "/stats/events", "to", params={"to": "2182"}),
    "stats: from as Unix seconds": Case("GET", "/stats/events", "from", params={"from": "1700000000"}),
    "stats: to=0001-01-01": Case("GET", "/stats/events", "to", params={"to": "0001-01-01"}),
    "stats: a month 13": Case("GET", "/stats/events", "to", params={"to": "2026-13-01"}),
    "stats: a five-digit year": Case("GET", "/stats/events", "from", params={"from": "20260-01-01"}),
    "stats: year 2182": Case("GET", "/stats/events", "to", params={"to": "2182-01-01"}),
    "grids: at=2182": Case("GET", "/grids", "at", params={"at": "2182"}),
    "audit: since=2182": Case("GET", "/audit", "since", user="auditor", params={"since": "2182"}),
    "audit: until in Unix seconds": Case("GET", "/audit", "until", user="auditor", params={"until": "1700000000"}),
    "positions: until=99999-01-01": Case("GET", "/staff/{staff}/positions", "until", params={"until": "99999-01-01"}),
    "position: at in Unix seconds": Case("POST", "/staff/me/position", "at", user="worker1",
                                         body=lambda c: {"lon": c["x"], "lat": c["y"], "at": 1700000000}),
    "Open311: start_date=2182": Case("GET", "/open311/v2/requests.json", "start_date", status=(400, 422), problem=False,
                                     params={"start_date": "2182"}),
    # --- windows given the wrong way round: a mistake, not an empty answer -------------------------------
    "stats: from after to": Case("GET", "/stats/events", "from", params={"from": "2026-11-02", "to": "2026-11-01"}),
    "audit: since after until": Case("GET", "/audit", "since", user="auditor",
                                     params={"since": "2026-11-02", "until": "2026-11-01T00:00:00+08:00"}),
    "positions: since after until": Case("GET", "/staff/{staff}/positions", "since",
                                         params={"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}),
    "Open311: start_date after end_date": Case("GET", "/open311/v2/requests.json", "start_date", status=(400,),
                                               problem=False,
                                               params={"start_date": "2026-11-02", "end_date": "2026-11-01"}),
    # --- bodies over the limit, however they are sent ----------------------------------------------------
    "chunked JSON over the limit": Case("POST", "/grids", "exceeds", status=413, user="planner",
                                        chunked=b'{"geometry": "' + _CHUNK + b'"}'),
    "chunked JSON event over the limit": Case("POST", "/events", "exceeds", status=413,
                                              chunked=b'{"description": "' + _CHUNK + b'"}'),
    "chunked form over the limit": Case("POST", "/open311/v2/requests.json", "exceeds", status=413, problem=False,
                                        chunked=b"service_code=x&description=" + _CHUNK,
                                        content_type="application/x-www-form-urlencoded"),
    "chunked login form over the limit": Case("POST", "/auth/token", "exceeds", status=413,
                                              chunked=b"username=a&password=" + _CHUNK,
                                              content_type="application/x-www-form-urlencoded"),
    "chunked multipart over the limit": Case(
        "POST", "/auth/token", "exceeds", status=413, content_type="multipart/form-data; boundary=b",
        chunked=b'--b\r\nContent-Disposition: form-data; name="password"\r\n\r\n' + _CHUNK + b"\r\n--b--\r\n"),
    "JSON that is not UTF-8": Case("POST", "/grids", "body", status=400, user="planner",
                                   raw=b"\xff\xfe{"),
    "JSON nested 100,000 deep": Case("POST", "/events", "body", status=400, raw=b"[" * 100_000 + b"]" * 100_000),
    # --- names that do not exist -------------------------------------------------------------------------
    "tile of an unknown grid layer": Case("GET", "/tiles/grids/nosuchlayer/10/815/434.mvt", "layer", status=404),
    "TileJSON of an unknown grid layer": Case("GET", "/tiles/grids/nosuchlayer.json", "layer", status=404),
    "TileJSON of an unknown division level": Case("GET", "/tiles/divisions/province.json", "layer", status=404),
}

WRITTEN = ("grid", "grid_version", "grid_lineage", "grid_membership", "event", "event_transition", "resident",
           "staff_position", "fusion_rule", "audit_log", "idempotency_key")


def _counts(session: Session) -> dict[str, int]:
    sql = ", ".join(f"(SELECT count(*) FROM {t}) AS {t}" for t in WRITTEN)
    return dict(session.execute(text(f"SELECT {sql}")).mappings().one())


@pytest.fixture
def context(session: Session) -> dict[str, Any]:
    """Real ids from the demo district: a comprehensive grid of a village, a point inside it, a staff member."""
    row = session.execute(text("""
        SELECT g.id, g.version, d.code AS village, ST_X(ST_PointOnSurface(g.geom)) AS x,
               ST_Y(ST_PointOnSurface(g.geom)) AS y, ST_XMin(g.geom) AS gx0, ST_XMax(g.geom) AS gx1
          FROM grid g JOIN grid_layer l ON l.id = g.layer_id JOIN division d ON d.id = g.division_id
         WHERE l.code = 'comprehensive' ORDER BY g.id LIMIT 1""")).mappings().one()
    staff = session.execute(text("SELECT min(id) FROM staff")).scalar_one()
    event = session.execute(text("SELECT min(id) FROM event")).scalar_one()
    category = session.execute(text("SELECT min(code) FROM event_category c WHERE NOT EXISTS"
                                    " (SELECT 1 FROM event_category k WHERE k.parent_code = c.code)")).scalar_one()
    return {"category": category, "grid": row["id"], "etag": f'"g{row["id"]}v{row["version"]}"', "village": row["village"],
            "x": row["x"], "y": row["y"], "gx0": row["gx0"], "gx1": row["gx1"], "staff": staff,
            "event": event}


def _pieces(data: bytes) -> Iterator[bytes]:
    for i in range(0, len(data), 65536):
        yield data[i:i + 65536]


def send(client: TestClient, case: Case, c: dict[str, Any]) -> Any:
    headers = {"Content-Type": case.content_type}
    if case.if_match:
        headers["If-Match"] = c["etag"]
    if case.headers is not None:
        headers |= case.headers(c)
    path = case.path.format(**c)
    if case.chunked is not None:
        return client.request(case.method, path, content=_pieces(case.chunked), headers=headers)
    if case.raw is not None:
        return client.request(case.method, path, content=case.raw, headers=headers)
    if case.form is not None:
        return client.request(case.method, path, data=case.form)
    if case.body is not None:
        content = json.dumps(case.body(c), allow_nan=True)
        return client.request(case.method, path, params=case.params, content=content, headers=headers)
    return client.request(case.method, path, params=case.params)


def _named(problem: dict[str, Any]) -> list[str]:
    """Where a problem says the fault is: its pointer, each validation error's location, or its detail."""
    places = [problem.get("pointer") or "", problem.get("detail") or ""]
    for e in problem.get("errors", []):
        places += [e.get("pointer", "").removeprefix("body/").removeprefix("query/").removeprefix("path/"),
                   e.get("where", "")]
    return [p for p in places if p] + [w for p in places for w in p.replace("'", " ").split()]


@pytest.mark.parametrize("name", list(CORPUS))
def test_bad_input_is_a_4xx_that_names_the_field_and_writes_nothing(
    as_user, session: Session, context: dict[str, Any], name: str,  # noqa: ANN001
) -> None:
    case = CORPUS[name]
    before = _counts(session)
    r = send(as_user(case.user), case, context)
    allowed = case.status if isinstance(case.status, tuple) else (case.status,)
    assert r.status_code in allowed, (name, r.status_code, r.text[:400])
    if case.problem:
        assert r.headers["content-type"] == "application/problem+json", (name, r.headers["content-type"])
        assert case.names in _named(r.json()), (name, r.text[:400])
    else:
        assert case.names in r.text, (name, r.text[:400])
    assert case.says in r.text, (name, r.text[:400])
    assert _counts(session) == before, name

