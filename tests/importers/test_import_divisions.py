"""Importing township and village boundaries: matched by the 12-digit code, level and parent from it."""

from __future__ import annotations

import shapely
from shapely.geometry import box
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.errors import InvalidInput
from geo.privacy.audit import Actor
from grid_tables import exported_divisions, table_of
from importers.load import divisions
from importers.load.context import ImportContext

CTX = ImportContext(actor=Actor(None, "importer"), scope=Scope.county(), county="520111")


def test_divisions_exported_and_imported_again_are_unchanged(session: Session) -> None:
    rows = exported_divisions(session, "township") + exported_divisions(session, "village")
    report = divisions.plan(session, table_of("divisions", rows, "divisions.gpkg"), CTX)
    assert report.ok, report.problems[:5]
    assert report.counts == {"created": 0, "changed": 0, "unchanged": len(rows), "retired": 0}


def test_a_renamed_and_reshaped_village_is_changed_once(session: Session) -> None:
    villages = exported_divisions(session, "village")
    # two villages of one township sharing a border: one takes a band of the other
    a, b = session.execute(text("""
        SELECT a.code, b.code FROM division a JOIN division b ON a.parent_id = b.parent_id AND a.id < b.id
           AND a.geom && b.geom AND ST_Relate(a.geom, b.geom, '****1****')
         WHERE a.level = 'village' ORDER BY ST_Length(ST_Intersection(a.geom, b.geom)) DESC LIMIT 1""")).one()
    by = {r["code"]: r for r in villages}
    band = shapely.intersection(by[b]["geometry"], shapely.buffer(by[a]["geometry"], 40 / 111_000))
    by[a] = {**by[a], "name": by[a]["name"] + "社区", "geometry": shapely.union(by[a]["geometry"], band)}
    by[b] = {**by[b], "geometry": shapely.difference(by[b]["geometry"], band)}
    table = table_of("divisions", list(by.values()), "villages.shp.zip")
    report = divisions.plan(session, table, CTX)
    assert report.ok, report.problems[:5]
    assert report.counts["changed"] == 2
    changes = {c.code: c for c in report.changes}
    assert "社区" in changes[a].detail and changes[a].gained_m2 > 1000
    assert changes[b].lost_m2 > 1000
    assert any("reach outside its new boundary" in w for w in report.warnings)  # b's grids
    divisions.apply(session, table, CTX)
    assert session.execute(text("SELECT name FROM division WHERE code = :a"), {"a": a}).scalar_one().endswith("社区")
    audit = session.execute(text("SELECT detail FROM audit_log WHERE action = 'import.divisions'"
                                 " ORDER BY id DESC LIMIT 1")).scalar_one()
    assert audit["sha256"] == table.sha256 and audit["file"] == "villages.shp.zip"
    assert divisions.apply(session, table, CTX).counts["changed"] == 0  # idempotent


def test_new_township_with_its_village_and_row_problems(session: Session) -> None:
    county = session.execute(text("SELECT ST_AsText(ST_PointOnSurface(geom)) FROM division WHERE level = 'county'"
                                  )).scalar_one()
    township = session.execute(text("SELECT code, geom_out FROM division WHERE level = 'township' ORDER BY code"
                                    " LIMIT 1")).one()
    villages = exported_divisions(session, "village", township.code[:9])
    whole = shapely.union_all([v["geometry"] for v in villages])
    rows = [
        {"code": "520111999000", "name": "新镇", "geometry": whole},  # a new township over an old one: overlap
        {"code": "520111999001", "name": "新村", "geometry": villages[0]["geometry"]},
        {"code": "520111000000", "name": "县", "geometry": whole},  # a county
        {"code": "52011199", "name": "短", "geometry": whole},
        {"code": "520111998001", "name": "孤村", "geometry": villages[0]["geometry"]},  # no parent anywhere
        {"code": "530111001001", "name": "外县", "geometry": villages[0]["geometry"]},
        {"code": "520111999002", "name": "飞地", "geometry": box(0, 0, 1, 1)},  # outside its parent
    ]
    report = divisions.plan(session, table_of("divisions", rows), CTX)
    codes = {(p.row, p.code) for p in report.problems}
    assert (3, "bad_level") in codes and (4, "bad_code") in codes and (5, "unknown_parent") in codes
    assert (6, "other_county") in codes and (7, "outside_parent") in codes
    assert any(p.code == "overlap" and "520111999000" in p.message for p in report.problems)
    assert county
    try:
        divisions.apply(session, table_of("divisions", rows), CTX)
        raise AssertionError("applied a file with errors")
    except InvalidInput:
        pass
    assert session.execute(text("SELECT count(*) FROM division WHERE code LIKE '520111999%'")).scalar_one() == 0
