"""Households import (importers/load/households.py) on the demo district in PostGIS: dry run, row
problems, matching by external id and by address, register lookups, territory, all-or-nothing apply,
idempotence, assignment to every layer and the audit row. Tables are built as a reader would."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from shapely.geometry import Point, Polygon
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope, resolve
from geo.errors import InvalidInput
from geo.models.users import AppUser
from geo.privacy.audit import Actor
from importers.files.source import SourceTable
from importers.load import importer_for
from importers.load.context import ImportContext

households = importer_for("households")


def table(records: list[dict[str, Any]], geometry: list[Any], name: str = "户籍登记.csv") -> SourceTable:
    fields = sorted({k for r in records for k in r})
    body = json.dumps([records, [g.wkt if g is not None else None for g in geometry]], ensure_ascii=False).encode()
    return SourceTable(name=name, sha256=hashlib.sha256(body).hexdigest(), kind="households",
                       rows=list(range(2, len(records) + 2)), columns={f: [r.get(f) for r in records] for f in fields},
                       geometry=geometry, crs="gcj02")


def county(**kw: Any) -> ImportContext:
    return ImportContext(actor=Actor(None, "test import"), scope=Scope.county(), **kw)


def spots(session: Session, n: int, village: str | None = None) -> list[tuple[Point, str, str]]:
    """``n`` distinct points inside comprehensive grids (one per grid), with their village's code and name."""
    rows = session.execute(text("""
        SELECT ST_X(p), ST_Y(p), d.code, d.name FROM (
            SELECT ST_PointOnSurface(g.geom) AS p, g.division_id FROM grid g JOIN grid_layer l ON l.id = g.layer_id
             WHERE l.code = 'comprehensive' ORDER BY g.code) q
          JOIN division d ON d.id = q.division_id
         WHERE CAST(:v AS text) IS NULL OR d.code = :v
         LIMIT :n"""), {"n": n, "v": village}).all()
    assert len(rows) == n
    return [(Point(x, y), code, name) for x, y, code, name in rows]


def snapshot(session: Session) -> list[tuple]:
    return session.execute(text("""
        SELECT h.id, h.external_id, h.address, h.division_id, h.group_id, h.residents, h.needs_help::text[],
               ST_AsText(h.geom),
               (SELECT array_agg(m.grid_id ORDER BY m.layer_id) FROM grid_membership m
                 WHERE m.kind = 'household' AND m.entity_id = h.id)
          FROM household h ORDER BY h.id""")).all()


def test_new_households_dry_run_then_apply_then_nothing_twice(session: Session) -> None:
    places = spots(session, 6)
    records = [{"external_id": f"HX-{i:05d}", "address": f"花溪区测试村{i + 1}组{i + 1}号", "division": code,
                "group": "TEST-LH-0001" if i < 4 else "TEST-LH-0002", "residents": str(i + 1),
                "needs_help": "独居老人、残疾人" if i == 0 else ("disabled" if i == 1 else None)}
               for i, (_, code, _) in enumerate(places)]
    t = table(records, [p for p, _, _ in places])
    before = snapshot(session)
    groups = session.execute(text("SELECT count(*) FROM linked_household_group")).scalar_one()

    report = households.plan(session, t, county())
    assert report.ok, report.problems
    assert report.counts == {"created": 6, "changed": 0, "unchanged": 0, "retired": 0}
    assert report.reassigned == {"household": 6}
    assert {c.code for c in report.changes} == {r["external_id"] for r in records}
    assert any("2 new linked-household group" in w for w in report.warnings)
    assert snapshot(session) == before  # a dry run stores nothing

    applied = households.apply(session, t, county())
    assert applied.applied and applied.counts["created"] == 6
    stored = session.execute(text("""
        SELECT h.id, h.external_id, d.code, g.code, h.residents, h.needs_help::text[], ST_X(h.geom), ST_Y(h.geom)
          FROM household h JOIN division d ON d.id = h.division_id JOIN linked_household_group g ON g.id = h.group_id
         WHERE h.external_id LIKE 'HX-%' ORDER BY h.external_id""")).all()
    assert [(r[1], r[2], r[3], r[4]) for r in stored] == [
        (r["external_id"], r["division"], r["group"], int(r["residents"])) for r in records]
    assert stored[0][5] == ["elderly_alone", "disabled"] and stored[1][5] == ["disabled"] and stored[2][5] == []
    assert session.execute(text("SELECT count(*) FROM linked_household_group")).scalar_one() == groups + 2
    # every layer: the stored membership is what /locate answers for the point
    layers = session.execute(text("SELECT count(*) FROM grid_layer")).scalar_one()
    for hid, *_, x, y in stored:
        got = dict(session.execute(text("""
            SELECT l.code, g.code FROM grid_membership m JOIN grid g ON g.id = m.grid_id
              JOIN grid_layer l ON l.id = m.layer_id WHERE m.kind = 'household' AND m.entity_id = :h"""),
            {"h": hid}).all())
        want = dict(session.execute(text("""
            SELECT DISTINCT ON (l.id) l.code, g.code FROM grid g JOIN grid_layer l ON l.id = g.layer_id
             WHERE ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) ORDER BY l.id, g.code"""),
            {"x": x, "y": y}).all())
        assert got == want and 1 <= len(got) <= layers
    audit = session.execute(text("SELECT action, entity, detail FROM audit_log WHERE entity = 'household'"
                                 " ORDER BY id DESC LIMIT 1")).one()
    assert audit.action == "import" and audit.detail["file"] == "户籍登记.csv"
    assert audit.detail["sha256"] == t.sha256 and audit.detail["counts"]["created"] == 6

    after_first = snapshot(session)
    again = households.apply(session, t, county())
    assert again.counts == {"created": 0, "changed": 0, "unchanged": 6, "retired": 0}
    assert again.changes == [] and again.reassigned == {"household": 0}
    assert snapshot(session) == after_first
    assert session.execute(text("SELECT count(*) FROM linked_household_group")).scalar_one() == groups + 2


def test_row_problems_refuse_the_whole_file(session: Session) -> None:
    (p1, code1, _), (p2, code2, _) = spots(session, 2)
    other = session.execute(text("SELECT code FROM division WHERE level = 'village' AND code <> :c LIMIT 1"),
                            {"c": code1}).scalar_one()
    square = Polygon([(p1.x, p1.y), (p1.x + 1e-4, p1.y), (p1.x, p1.y + 1e-4)])
    records = [
        {"external_id": "E1", "address": "甲1号", "division": code1},                 # 2 fine
        {"external_id": "E2", "division": code1},                                     # 3 no position, no address
        {"external_id": "E3", "address": "甲3号"},                                     # 4 NaN position
        {"external_id": "E4", "address": "甲4号"},                                     # 5 a polygon
        {"external_id": "E5", "address": "甲5号"},                                     # 6 in the sea of nowhere
        {"external_id": "E6", "address": "甲6号", "division": "999999999999"},         # 7 unknown division
        {"external_id": "E1", "address": "甲7号", "division": code2},                  # 8 duplicate id
        {"external_id": "E8", "address": "甲8号", "residents": "three"},               # 9 bad residents
        {"external_id": "E9", "address": "甲9号", "needs_help": "独居老人,孤儿"},        # 10 unknown flag
        {"external_id": "E10", "address": "甲10号", "division": other},                # 11 not where it lies
        {"external_id": "E11", "address": "甲11号", "group": "G" * 25},                # 12 group code too long
    ]
    geoms = [p1, None, Point(float("nan"), float("nan")), square, Point(10.0, 10.0), p1, p2, p2, p2, p2, p2]
    before = snapshot(session)
    report = households.plan(session, table(records, geoms), county())
    assert not report.ok
    got = {(p.row, p.field, p.code) for p in report.problems}
    assert got == {
        (3, "geometry", "missing_position"), (4, "geometry", "invalid_position"), (5, "geometry", "invalid_position"),
        (6, "geometry", "outside_county"), (7, "division", "unknown_division"), (8, "external_id", "duplicate_key"),
        (9, "residents", "invalid_residents"), (10, "needs_help", "invalid_needs_help"),
        (11, "division", "outside_division"), (12, "group", "invalid_group")}
    assert report.counts["created"] == 1  # only row 2 is clean
    for p in report.problems:
        assert "甲" not in p.message and "E1" not in p.message  # no cell value is echoed
    with pytest.raises(InvalidInput) as refused:
        households.apply(session, table(records, geoms), county())
    assert "nothing was imported" in refused.value.detail and len(refused.value.extra["problems"]) == 10
    assert snapshot(session) == before


def test_matched_by_address_in_the_village_and_by_register_lookup(session: Session) -> None:
    rows = session.execute(text("""
        SELECT h.id, h.address, d.code, h.residents, ST_X(h.geom) x, ST_Y(h.geom) y FROM household h
          JOIN division d ON d.id = h.division_id
         WHERE (SELECT count(*) FROM household o WHERE o.address = h.address) = 1
         ORDER BY h.id LIMIT 3""")).all()
    a, b, c = rows
    far = session.execute(text("""
        SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM division WHERE id = (
            SELECT division_id FROM household WHERE id = :h)) q"""), {"h": a.id}).one()
    records = [
        {"address": a.address, "division": a.code, "residents": str(a.residents)},  # same: unchanged
        {"address": b.address, "division": b.code, "residents": str(b.residents + 2)},  # residents changed
        {"address": c.address, "residents": str(c.residents)},  # no position: from the register; unchanged
        {"address": a.address + "旁", "division": a.code},  # a new household, placed at the village's point
    ]
    geoms = [Point(a.x, a.y), Point(b.x, b.y), None, Point(*far)]
    before_count = session.execute(text("SELECT count(*) FROM household")).scalar_one()
    report = households.plan(session, table(records, geoms, name="村册.xlsx"), county())
    assert report.ok, report.problems
    assert report.counts == {"created": 1, "changed": 1, "unchanged": 2, "retired": 0}
    changed = [ch for ch in report.changes if ch.action == "changed"]
    assert len(changed) == 1 and changed[0].detail == f"residents {b.residents} → {b.residents + 2}"
    households.apply(session, table(records, geoms, name="村册.xlsx"), county())
    assert session.execute(text("SELECT count(*) FROM household")).scalar_one() == before_count + 1
    assert session.execute(text("SELECT residents FROM household WHERE id = :h"), {"h": b.id}).scalar_one() == \
        b.residents + 2
    # an unknown address without a position is a row problem, never a guess
    lost = households.plan(session, table([{"address": "不存在的地址九十九号"}], [None]), county())
    assert [(p.row, p.code) for p in lost.problems] == [(2, "unresolved_address")]


def test_moving_a_household_by_external_id_reassigns_it(session: Session) -> None:
    hid = session.execute(text("SELECT id FROM household ORDER BY id LIMIT 1")).scalar_one()
    session.execute(text("UPDATE household SET external_id = 'MOVE-1' WHERE id = :h"), {"h": hid})
    old_grid = session.execute(text("""SELECT m.grid_id FROM grid_membership m JOIN grid_layer l ON l.id = m.layer_id
        WHERE l.code = 'comprehensive' AND m.kind = 'household' AND m.entity_id = :h"""), {"h": hid}).scalar_one()
    target, code, _ = session.execute(text("""
        SELECT ST_PointOnSurface(g.geom), d.code, g.id FROM grid g JOIN grid_layer l ON l.id = g.layer_id
          JOIN division d ON d.id = g.division_id
         WHERE l.code = 'comprehensive' AND g.id <> :g ORDER BY g.code DESC LIMIT 1"""), {"g": old_grid}).one()
    x, y = session.execute(text("SELECT ST_X(:p), ST_Y(:p)"), {"p": target}).one()
    t = table([{"external_id": "MOVE-1", "division": code}], [Point(x, y)])
    report = households.plan(session, t, county())
    assert report.counts["changed"] == 1 and report.reassigned == {"household": 1}
    assert report.changes[0].detail.startswith("village, moved ")
    households.apply(session, t, county())
    new_grid = session.execute(text("""SELECT g.code FROM grid_membership m JOIN grid g ON g.id = m.grid_id
        JOIN grid_layer l ON l.id = m.layer_id WHERE l.code = 'comprehensive' AND m.kind = 'household'
        AND m.entity_id = :h"""), {"h": hid}).scalar_one()
    assert new_grid == session.execute(text("""SELECT g.code FROM grid g JOIN grid_layer l ON l.id = g.layer_id
        WHERE l.code = 'comprehensive' AND ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))
        ORDER BY g.code LIMIT 1"""), {"x": x, "y": y}).scalar_one()
    assert households.plan(session, t, county()).counts["unchanged"] == 1


def test_a_grid_worker_cannot_import_outside_their_territory(session: Session) -> None:
    worker = session.query(AppUser).filter_by(username="worker1").one()
    scope = resolve(session, worker)
    inside = session.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM grid"
                                  " WHERE id = :g) q"), {"g": scope.grids[0]}).one()
    outside = session.execute(text("""SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(g.geom) p FROM grid g
        WHERE g.layer_id = :l AND NOT g.id = ANY(:mine) ORDER BY g.code LIMIT 1) q"""),
        {"l": scope.layer_id, "mine": list(scope.grids)}).one()
    ctx = ImportContext(actor=Actor(worker.id, worker.username), scope=scope)
    report = households.plan(session, table([{"address": "本网格1号"}, {"address": "别处1号"}],
                                            [Point(*inside), Point(*outside)]), ctx)
    assert [(p.row, p.code) for p in report.problems] == [(3, "outside_territory")]
    assert report.counts["created"] == 1
