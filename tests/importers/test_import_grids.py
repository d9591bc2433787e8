"""Importing grids: the dry run on real PostGIS, then an all-or-nothing, idempotent apply."""

from __future__ import annotations

import pytest
import shapely
import shapely.affinity
from grid_tables import exported_grids, table_of
from shapely.geometry import MultiPolygon, Polygon, box
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope, _division_scope
from geo.errors import InvalidInput
from geo.privacy.audit import Actor
from importers.load import grids
from importers.load.context import ImportContext

ACTOR = Actor(None, "importer")
COUNTY = ImportContext(actor=ACTOR, scope=Scope.county(), layer="comprehensive")


def _neighbours(session: Session) -> tuple[str, str]:
    """Two comprehensive grids of one village sharing a long border, the first with households near it."""
    row = session.execute(text("""
        WITH c AS (SELECT g.id, g.code, g.division_id, g.geom, (SELECT count(*) FROM grid_membership m
                                                   WHERE m.grid_id = g.id AND m.kind = 'household') AS n
                     FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive')
        SELECT a.code, b.code FROM c a JOIN c b ON a.division_id = b.division_id AND a.id <> b.id
           AND a.geom && b.geom AND ST_Relate(a.geom, b.geom, '****1****')
         WHERE a.n > 50 AND b.n > 50
         ORDER BY ST_Length(ST_Intersection(a.geom, b.geom)) DESC LIMIT 1""")).one()
    return row[0], row[1]


def _moved_border(rows: list[dict], a: str, b: str, metres: float = 60.0) -> list[dict]:
    """``a`` grows into ``b`` by a band along their border; ``b`` gives it up: the net still tiles."""
    by = {r["code"]: r for r in rows}
    ga, gb = by[a]["geometry"], by[b]["geometry"]
    band = shapely.intersection(gb, shapely.buffer(ga, metres / 111_000))
    new_a = shapely.union(ga, band)
    new_b = shapely.difference(gb, band)
    out = []
    for r in rows:
        geom = {a: new_a, b: new_b}.get(r["code"], r["geometry"])
        out.append({**r, "geometry": MultiPolygon(shapely.get_parts(shapely.make_valid(geom)).tolist()
                                                  if geom.geom_type != "Polygon" else [geom])})
    return out


def test_a_layer_exported_and_imported_again_is_unchanged(session: Session) -> None:
    rows = exported_grids(session, "comprehensive")
    # vertex order and ring start are not changes: reverse some rings and start others elsewhere
    for r in rows[::3]:
        r["geometry"] = shapely.reverse(r["geometry"])
    for r in rows[1::3]:
        polys = [Polygon(list(p.exterior.coords)[5:-1] + list(p.exterior.coords)[:6], [i.coords for i in p.interiors])
                 if len(p.exterior.coords) > 8 else p for p in r["geometry"].geoms]
        r["geometry"] = MultiPolygon(polys)
    report = grids.plan(session, table_of("grids", rows), COUNTY)
    assert report.ok, report.problems[:5]
    assert report.counts == {"created": 0, "changed": 0, "unchanged": len(rows), "retired": 0}
    assert report.changes == [] and report.reassigned == {}


def test_a_moved_border_is_planned_then_applied_once(session: Session) -> None:
    a, b = _neighbours(session)
    rows = _moved_border(exported_grids(session, "comprehensive"), a, b)
    table = table_of("grids", rows, name="综合网格.gpkg")
    versions = dict(session.execute(text("SELECT code, version FROM grid WHERE code IN (:a, :b)"), {"a": a, "b": b}).all())
    report = grids.plan(session, table, COUNTY)
    assert report.ok, report.problems[:5]
    assert report.counts["changed"] == 2 and report.counts["created"] == 0
    changes = {c.code: c for c in report.changes}
    assert changes[a].gained_m2 > 1000 and changes[a].lost_m2 < 0.001 * changes[a].gained_m2  # rounding only
    assert changes[b].lost_m2 == pytest.approx(changes[a].gained_m2, rel=0.01)
    assert report.reassigned.get("household", 0) > 0
    planned = dict(report.reassigned)
    # the dry run wrote nothing
    assert dict(session.execute(text("SELECT code, version FROM grid WHERE code IN (:a, :b)"),
                                {"a": a, "b": b}).all()) == versions

    applied = grids.apply(session, table, COUNTY)
    assert applied.applied and applied.reassigned == planned
    rows_after = session.execute(text(
        "SELECT g.code, g.version, v.reason, v.author FROM grid g JOIN grid_version v"
        " ON v.grid_id = g.id AND v.version = g.version WHERE g.code IN (:a, :b)"), {"a": a, "b": b}).all()
    for code, version, reason, author in rows_after:
        assert version == versions[code] + 1
        assert "综合网格.gpkg" in reason and table.sha256 in reason and author == "importer"
    # households under the band are now in a
    in_a = session.execute(text("""
        SELECT count(*) FROM household h JOIN grid g ON g.code = :a
          JOIN grid_membership m ON m.kind = 'household' AND m.entity_id = h.id AND m.layer_id = g.layer_id
         WHERE ST_Covers(g.geom, h.geom) AND m.grid_id <> g.id"""), {"a": a}).scalar()
    assert in_a == 0
    audit = session.execute(text("SELECT detail FROM audit_log WHERE action = 'import.grids' ORDER BY id DESC LIMIT 1")
                            ).scalar_one()
    assert audit["sha256"] == table.sha256 and audit["file"] == "综合网格.gpkg"

    again = grids.apply(session, table, COUNTY)  # idempotent
    assert again.counts["changed"] == 0 and again.counts["unchanged"] == len(rows) and again.reassigned == {}
    assert dict(session.execute(text("SELECT code, version FROM grid WHERE code IN (:a, :b)"),
                                {"a": a, "b": b}).all()) == {a: versions[a] + 1, b: versions[b] + 1}


def _village_rows(session: Session) -> tuple[str, list[dict]]:
    village = session.execute(text(
        "SELECT d.code FROM division d JOIN grid g ON g.division_id = d.id JOIN grid_layer l ON l.id = g.layer_id"
        " WHERE l.code = 'comprehensive' GROUP BY d.code HAVING count(*) >= 3 ORDER BY d.code LIMIT 1")).scalar_one()
    return village, exported_grids(session, "comprehensive", village)


def _codes(report) -> dict[str, list]:  # noqa: ANN001
    out: dict[str, list] = {}
    for p in report.problems:
        out.setdefault(p.code, []).append(p)
    return out


def test_row_problems_name_the_row_field_and_reason(session: Session) -> None:
    village, rows = _village_rows(session)
    first = rows[0]["geometry"]
    x0, y0, x1, y1 = first.bounds
    cx, cy = first.representative_point().x, first.representative_point().y
    d = 0.0005
    bowtie = Polygon([(cx - d, cy - d), (cx + d, cy + d), (cx + d, cy - d), (cx - d, cy + d), (cx - d, cy - d)])
    rows[0] = {**rows[0], "geometry": bowtie}  # invalid
    rows[1] = {**rows[1], "code": rows[2]["code"]}  # duplicate code
    rows.append({"code": f"{village}01990", "name": "新网格", "division": "没有这个村", "geometry": box(cx, cy, cx + d, cy + d)})
    rows.append({"code": f"{village}01991", "name": "远方", "division": village, "geometry": box(x0 - 0.2, y0, x0 - 0.19, y0 + 0.01)})
    rows.append({"code": f"{village}01992", "name": "芝麻", "division": village, "geometry": box(cx, cy, cx + 2e-5, cy + 2e-5)})
    report = grids.plan(session, table_of("grids", rows), COUNTY)
    assert not report.ok
    problems = _codes(report)
    (invalid,) = problems["invalid_geometry"]
    assert invalid.row == 1 and invalid.field == "geometry"
    assert "self-intersection near" in invalid.message and "make_valid gives 2 parts" in invalid.message
    assert [p.row for p in problems["duplicate_code"]] == [3] and problems["duplicate_code"][0].field == "code"
    assert problems["unknown_division"][0].row == len(rows) - 2
    assert problems["outside_parent"][0].row == len(rows) - 1 and "m²" in problems["outside_parent"][0].message
    assert problems["degenerate"][0].row == len(rows) and "50" in problems["degenerate"][0].message
    with pytest.raises(InvalidInput):
        grids.apply(session, table_of("grids", rows), COUNTY)


def test_overlaps_and_gaps_are_refused_on_a_full_cover_layer(session: Session) -> None:
    village, rows = _village_rows(session)
    a, b = rows[0], rows[1]
    grown = shapely.buffer(a["geometry"], 30 / 111_000).intersection(
        shapely.union(a["geometry"], b["geometry"]))
    shrunk = shapely.buffer(b["geometry"], -30 / 111_000)
    overlapping = [{**a, "geometry": grown}] + rows[1:]
    report = grids.plan(session, table_of("grids", overlapping), COUNTY)
    (overlap,) = [p for p in report.problems if p.code == "overlap"]
    assert a["code"] in overlap.message and b["code"] in overlap.message and "m²" in overlap.message
    # against a stored grid the file does not list
    report = grids.plan(session, table_of("grids", [{**a, "geometry": grown}]), COUNTY)
    assert any(p.code == "overlap" and f"stored {b['code']}" in p.message for p in report.problems)
    gappy = [a, {**b, "geometry": shrunk}] + rows[2:]
    report = grids.plan(session, table_of("grids", gappy), COUNTY)
    (gap,) = [p for p in report.problems if p.code == "gap"]
    assert village in gap.message and "不重不漏" in gap.message


def test_a_township_planner_cannot_import_another_townships_grids(session: Session) -> None:
    township = session.execute(text("SELECT id, code FROM division WHERE level = 'township' ORDER BY code LIMIT 1")).one()
    scope = _division_scope(session, township.id)
    ctx = ImportContext(actor=ACTOR, scope=scope, layer="comprehensive")
    rows = exported_grids(session, "comprehensive")
    report = grids.plan(session, table_of("grids", rows), ctx)
    outside = {p.row for p in report.problems if p.code == "outside_territory"}
    theirs = {i for i, r in enumerate(rows, start=1) if not r["division"].startswith(township.code[:9])}
    assert outside == theirs and theirs


def test_new_grids_get_codes_and_lineage_follows_external_ids(session: Session) -> None:
    village, rows = _village_rows(session)
    ext = [{**r, "fid": f"OBJ-{i}"} for i, r in enumerate(rows)]
    ctx = ImportContext(actor=ACTOR, scope=Scope.county(), layer="comprehensive", key="fid")
    first = grids.apply(session, table_of("grids", ext), ctx)  # matched by code the first time, ids remembered
    assert first.counts["unchanged"] == len(rows)
    stored = session.execute(text("SELECT id, code FROM grid WHERE external_id = 'OBJ-0'")).one()
    assert stored.code == rows[0]["code"]
    # the file renumbers OBJ-0 (a free number of the village) and drops its code for OBJ-1
    free = session.execute(text("SELECT last_seq FROM grid_code_counter c JOIN division d ON d.id = c.division_id"
                                " JOIN grid_layer l ON l.id = c.layer_id WHERE d.code = :v AND l.code = 'comprehensive'"),
                           {"v": village}).scalar_one() + 5
    recoded = f"{village}01{free:03d}"
    ext[0] = {**ext[0], "code": recoded}
    report = grids.apply(session, table_of("grids", ext), ctx)
    assert report.counts["changed"] == 1 and "lineage" in report.changes[0].detail
    new_id = session.execute(text("SELECT id FROM grid WHERE code = :c AND external_id = 'OBJ-0'"),
                             {"c": recoded}).scalar_one()
    assert session.execute(text("SELECT operation FROM grid_lineage WHERE parent_id = :o AND child_id = :n"),
                           {"o": stored.id, "n": new_id}).scalar_one() == "import"
    assert session.execute(text("SELECT count(*) FROM grid WHERE id = :o"), {"o": stored.id}).scalar_one() == 0
    moved = session.execute(text("SELECT count(*) FROM grid_membership WHERE grid_id = :n"), {"n": new_id}).scalar_one()
    assert moved > 0 or report.reassigned == {}
    assert grids.apply(session, table_of("grids", ext), ctx).counts["changed"] == 0


def test_retire_missing_retires_what_the_file_leaves_out(session: Session) -> None:
    village, rows = _village_rows(session)
    a, b = rows[0], rows[1]
    merged = {**a, "geometry": shapely.union(a["geometry"], b["geometry"])}
    rest = [merged] + rows[2:]
    kept = grids.plan(session, table_of("grids", rest), COUNTY)
    assert not kept.ok  # b is kept, so a overlaps it
    assert any("absent from the file and kept" in w for w in kept.warnings)
    ctx = ImportContext(actor=ACTOR, scope=Scope.county(), layer="comprehensive", retire_missing=True)
    b_id = session.execute(text("SELECT id FROM grid WHERE code = :c"), {"c": b["code"]}).scalar_one()
    report = grids.apply(session, table_of("grids", rest), ctx)
    assert report.counts["retired"] == 1 and report.counts["changed"] == 1
    a_id = session.execute(text("SELECT id FROM grid WHERE code = :c"), {"c": a["code"]}).scalar_one()
    assert session.execute(text("SELECT operation FROM grid_lineage WHERE parent_id = :b AND child_id = :a"),
                           {"a": a_id, "b": b_id}).scalar_one() == "retire"
    assert session.execute(text("SELECT valid_to IS NOT NULL FROM grid_version WHERE grid_id = :b"
                                " ORDER BY version DESC LIMIT 1"), {"b": b_id}).scalar_one()
    assert session.execute(text("SELECT count(*) FROM staff WHERE grid_id = :b"), {"b": b_id}).scalar_one() == 0
    # the retired code is never given again
    again = grids.plan(session, table_of("grids", [b]), COUNTY)
    assert [p.code for p in again.problems] == ["code_retired"]


def test_a_new_layer_of_grids_without_codes(session: Session) -> None:
    session.execute(text("INSERT INTO grid_layer (code, name, code_prefix, allow_overlap, full_cover, sort_order,"
                         " color, description) VALUES ('import_test', '测试网格', '09', false, false, 9, '#000000', '')"))
    village, rows = _village_rows(session)
    fresh = [{"fid": str(i), "name": f"测试{i}", "division": village, "geometry": r["geometry"]}
             for i, r in enumerate(rows)]
    by_code = grids.plan(session, table_of("grids", fresh), ImportContext(actor=ACTOR, scope=Scope.county(),
                                                                          layer="import_test"))
    assert {p.code for p in by_code.problems} == {"missing_code"}  # a rerun could not find them again
    ctx = ImportContext(actor=ACTOR, scope=Scope.county(), layer="import_test", key="fid")
    report = grids.apply(session, table_of("grids", fresh), ctx)
    assert report.counts["created"] == len(rows)
    codes = sorted(c.code for c in report.changes)
    assert codes == [f"{village}09{i:03d}" for i in range(1, len(rows) + 1)]
    assert report.reassigned.get("household", 0) > 0
    assert session.execute(text(
        "SELECT count(*) FROM grid_membership m JOIN grid_layer l ON l.id = m.layer_id WHERE l.code = 'import_test'"
    )).scalar_one() == sum(report.reassigned.values())
    assert grids.apply(session, table_of("grids", fresh), ctx).counts["unchanged"] == len(rows)


def test_micro_grids_lie_in_their_parent_grid(session: Session) -> None:
    parent = session.execute(text(
        "SELECT p.code FROM grid g JOIN grid p ON p.id = g.parent_grid_id GROUP BY p.code HAVING count(*) >= 2"
        " ORDER BY p.code LIMIT 1")).scalar_one()
    rows = [r for r in exported_grids(session, "micro") if r["parent_grid"] == parent]
    ctx = ImportContext(actor=ACTOR, scope=Scope.county(), layer="micro")
    same = grids.plan(session, table_of("grids", rows), ctx)
    assert same.ok and same.counts["unchanged"] == len(rows), same.problems[:3]
    moved = shapely.affinity.translate(rows[0]["geometry"], xoff=0.01)
    bad = [{**rows[0], "geometry": moved}, {**rows[1], "parent_grid": "52011100000001999"},
           {**rows[1], "code": rows[1]["code"][:-3] + "998", "name": "王 13812345678", "parent_grid": parent}]
    report = grids.plan(session, table_of("grids", bad), ctx)
    found = {(p.row, p.code) for p in report.problems}
    assert {(1, "outside_parent"), (2, "unknown_parent"), (3, "personal_number")} <= found
    assert not any("13812345678" in p.message for p in report.problems)


def test_an_unknown_layer_is_refused_even_when_the_file_has_a_layer_column(session: Session) -> None:
    """Once a mistyped ``--layer`` was silently ignored whenever the rows named their own layer."""
    rows = [{**r, "layer": "comprehensive"} for r in exported_grids(session, "comprehensive")[:3]]
    report = grids.plan(session, table_of("grids", rows),
                        ImportContext(actor=ACTOR, scope=Scope.county(), layer="comprehensiv"))
    assert not report.ok
    (problem,) = report.problems
    assert (problem.field, problem.code) == ("layer", "unknown_layer") and "comprehensiv" in problem.message
    # a row with its layer left blank takes the one the import names
    rows[0]["layer"] = ""
    assert grids.plan(session, table_of("grids", rows), COUNTY).counts["unchanged"] == 3
