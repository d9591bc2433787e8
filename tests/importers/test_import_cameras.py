"""Cameras import (importers/load/cameras.py) on the demo district in PostGIS: dry run, row problems
(position, county, territory, bearing, field of view, range, status, duplicate codes), matching by
code, all-or-nothing apply, idempotence, assignment to every layer and the audit row."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from shapely.geometry import LineString, Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope, resolve
from geo.errors import InvalidInput
from geo.models.users import AppUser
from geo.privacy.audit import Actor
from importers.files.source import SourceTable
from importers.load import importer_for
from importers.load.context import ImportContext

cameras = importer_for("cameras")
COUNTY = ImportContext(actor=Actor(None, "test import"), scope=Scope.county())


def table(records: list[dict[str, Any]], geometry: list[Any], name: str = "雪亮点位.kml") -> SourceTable:
    fields = sorted({k for r in records for k in r})
    body = json.dumps([records, [g.wkt if g is not None else None for g in geometry]], ensure_ascii=False).encode()
    return SourceTable(name=name, sha256=hashlib.sha256(body).hexdigest(), kind="cameras",
                       rows=list(range(1, len(records) + 1)), columns={f: [r.get(f) for r in records] for f in fields},
                       geometry=geometry, crs="EPSG:4326")


def points(session: Session, n: int) -> list[Point]:
    rows = session.execute(text("""SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(g.geom) p FROM grid g
        JOIN grid_layer l ON l.id = g.layer_id WHERE l.code = 'comprehensive' ORDER BY g.code DESC LIMIT :n) q"""),
        {"n": n}).all()
    return [Point(x, y) for x, y in rows]


def cams(session: Session) -> list[tuple]:
    return session.execute(text("""SELECT c.id, c.code, c.name, c.bearing, c.fov, c.range_m, c.status::text,
        ST_AsText(c.geom), (SELECT array_agg(m.grid_id ORDER BY m.layer_id) FROM grid_membership m
        WHERE m.kind = 'camera' AND m.entity_id = c.id) FROM camera c ORDER BY c.id""")).all()


def test_new_and_changed_cameras_then_the_same_file_changes_nothing(session: Session) -> None:
    p = points(session, 3)
    stored = session.execute(text("SELECT code, bearing, fov, range_m, ST_X(geom) x, ST_Y(geom) y FROM camera"
                                  " ORDER BY id LIMIT 1")).one()
    records = [
        {"code": "IMP-CAM-1", "name": "村口", "bearing": "45", "fov": "90", "range_m": "60", "status": "在线"},
        {"code": "IMP-CAM-2", "bearing": 360, "fov": 360, "range_m": 35.5, "status": "维修"},
        {"code": "IMP-CAM-3", "bearing": "0", "fov": "120", "range_m": "80"},
        {"code": stored.code, "bearing": str((stored.bearing + 10) % 360)},  # only the bearing changes
    ]
    geoms = [p[0], p[1], p[2], Point(stored.x, stored.y)]
    before = cams(session)
    report = cameras.plan(session, table(records, geoms), COUNTY)
    assert report.ok, report.problems
    assert report.counts == {"created": 3, "changed": 1, "unchanged": 0, "retired": 0}
    assert report.reassigned == {"camera": 3}
    assert [c.detail for c in report.changes if c.action == "changed"] == [
        f"bearing {stored.bearing:.2f}° → {(stored.bearing + 10) % 360:.2f}°"]
    assert cams(session) == before

    cameras.apply(session, table(records, geoms), COUNTY)
    got = session.execute(text("SELECT code, name, bearing, fov, range_m, status::text FROM camera"
                               " WHERE code LIKE 'IMP-CAM-%' ORDER BY code")).all()
    assert [tuple(r) for r in got] == [("IMP-CAM-1", "村口", 45.0, 90.0, 60.0, "online"),
                                       ("IMP-CAM-2", "IMP-CAM-2", 0.0, 360.0, 35.5, "maintenance"),
                                       ("IMP-CAM-3", "IMP-CAM-3", 0.0, 120.0, 80.0, "online")]
    layers = session.execute(text("""SELECT c.code, count(m.*) FROM camera c LEFT JOIN grid_membership m
        ON m.kind = 'camera' AND m.entity_id = c.id WHERE c.code LIKE 'IMP-CAM-%' GROUP BY c.code""")).all()
    want = [session.execute(text("""SELECT count(DISTINCT layer_id) FROM grid
        WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"""), {"x": g.x, "y": g.y}).scalar_one()
        for g in p]
    assert sorted(n for _, n in layers) == sorted(want) and min(want) >= 1
    audit = session.execute(text("SELECT detail FROM audit_log WHERE entity = 'camera' AND action = 'import'"
                                 " ORDER BY id DESC LIMIT 1")).scalar_one()
    assert audit["file"] == "雪亮点位.kml" and audit["sha256"] == table(records, geoms).sha256

    after = cams(session)
    again = cameras.apply(session, table(records, geoms), COUNTY)
    assert again.counts == {"created": 0, "changed": 0, "unchanged": 4, "retired": 0} and again.changes == []
    assert cams(session) == after


def test_bad_rows_are_named_and_nothing_is_stored(session: Session) -> None:
    p = points(session, 1)[0]
    records = [
        {"code": "BAD-1", "bearing": "361", "fov": "90", "range_m": "50"},
        {"code": "BAD-2", "bearing": "10", "fov": "0", "range_m": "50"},
        {"code": "BAD-3", "bearing": "10", "fov": "90", "range_m": "-5"},
        {"code": "BAD-4", "bearing": "north", "fov": "90", "range_m": "50", "status": "broken"},
        {"code": "BAD-5", "bearing": "10", "fov": "90", "range_m": "50"},
        {"code": "BAD-5", "bearing": "10", "fov": "90", "range_m": "50"},
        {"code": "BAD-7", "bearing": "10", "fov": "90", "range_m": "50"},
        {"code": "BAD-8", "bearing": "10", "fov": "90", "range_m": "50"},
        {"code": None, "bearing": "10", "fov": "90", "range_m": "50"},
        {"code": "BAD-10", "fov": "90"},
    ]
    geoms = [p, p, p, p, p, p, Point(100.0, 10.0), LineString([(p.x, p.y), (p.x + 1e-3, p.y)]), p, p]
    before = cams(session)
    report = cameras.plan(session, table(records, geoms), COUNTY)
    assert {(x.row, x.field, x.code) for x in report.problems} == {
        (1, "bearing", "invalid_bearing"), (2, "fov", "invalid_fov"), (3, "range_m", "invalid_range"),
        (4, "bearing", "invalid_bearing"), (4, "status", "invalid_status"), (6, "code", "duplicate_code"),
        (7, "geometry", "outside_county"), (8, "geometry", "invalid_position"), (9, "code", "missing_code"),
        (10, "bearing", "invalid_bearing"), (10, "range_m", "invalid_range")}
    with pytest.raises(InvalidInput):
        cameras.apply(session, table(records, geoms), COUNTY)
    assert cams(session) == before


def test_territory_of_a_grid_worker(session: Session) -> None:
    worker = session.query(AppUser).filter_by(username="worker1").one()
    scope = resolve(session, worker)
    mine = session.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM grid"
                                " WHERE id = :g) q"), {"g": scope.grids[0]}).one()
    theirs = session.execute(text("""SELECT c.code FROM camera c WHERE NOT EXISTS (SELECT 1 FROM grid_membership m
        WHERE m.kind = 'camera' AND m.entity_id = c.id AND m.layer_id = :l AND m.grid_id = ANY(:g)) LIMIT 1"""),
        {"l": scope.layer_id, "g": list(scope.grids)}).scalar_one()
    ctx = ImportContext(actor=Actor(worker.id, worker.username), scope=scope)
    report = cameras.plan(session, table([{"code": "MINE-1", "bearing": 0, "fov": 360, "range_m": 30},
                                          {"code": theirs, "status": "offline"}],
                                         [Point(*mine), None]), ctx)
    assert [(x.row, x.code) for x in report.problems] == [(2, "outside_territory")]
