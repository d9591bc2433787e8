"""Importing staff (names and phones are personal data): Chinese roles, grids and divisions, homes,
matching by external id or phone, territory, idempotence and audit — on the demo district in PostGIS."""

from __future__ import annotations

import pytest
from people_files import (
    audit_rows,
    context,
    leaks,
    mobile,
    planted,
    sql_log,  # noqa: F401 - a fixture, used by name
    table,
)
from shapely.geometry import Point, Polygon
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput
from importers.load import importer_for
from importers.load import staff as imp


def _grids(session: Session, username: str, n: int, *, inside: bool = True) -> list[tuple[str, str, Point]]:
    """``n`` comprehensive grids inside (or outside) ``username``'s territory: code, division code, a point in it."""
    scope = context(session, username).scope
    op = "= ANY" if inside else "<> ALL"
    rows = session.execute(text(
        "SELECT g.code, d.code, ST_X(p), ST_Y(p) FROM grid g JOIN division d ON d.id = g.division_id,"
        " LATERAL ST_PointOnSurface(g.geom) p"
        f" WHERE g.layer_id = :layer AND g.id {op}(:grids) ORDER BY g.code LIMIT :n"),
        {"layer": scope.layer_id, "grids": list(scope.grids), "n": n}).all()
    assert len(rows) == n
    return [(c, d, Point(x, y)) for c, d, x, y in rows]


def _staff(session: Session, phone: str) -> list[dict]:
    return [dict(r) for r in session.execute(text(
        "SELECT s.id, s.external_id, s.name, s.role::text AS role, g.code AS grid, d.code AS division,"
        " ST_X(s.home) AS x, ST_Y(s.home) AS y FROM staff s LEFT JOIN grid g ON g.id = s.grid_id"
        " LEFT JOIN division d ON d.id = s.division_id WHERE s.phone = :p ORDER BY s.id"), {"p": phone}).mappings()]


def _memberships(session: Session, staff_id: int) -> dict[str, str]:
    return dict(session.execute(text(
        "SELECT l.code, g.code FROM grid_membership m JOIN grid g ON g.id = m.grid_id"
        " JOIN grid_layer l ON l.id = m.layer_id WHERE m.kind = 'staff' AND m.entity_id = :s"), {"s": staff_id}).all())


def test_new_staff_with_chinese_roles_are_placed_and_assigned(session: Session) -> None:
    [(g1, v1, p1), (g2, v2, _)] = _grids(session, "worker2", 2)
    records = [
        {"external_id": "GZ-0001", "name": "欧阳明珠", "phone": mobile(101), "role": "专职网格员", "grid": g1},
        {"external_id": "GZ-0002", "name": "司马青云", "phone": mobile(102), "role": "网格长", "grid": g2},
        {"name": "诸葛春华", "phone": mobile(103), "role": "网格 辅助员", "division": v1},
    ]
    home = Point(p1.x + 1e-5, p1.y)
    t = table("staff", records, geometry=[home, None, None], name="网格员名单.xlsx")
    ctx = context(session, "worker2")
    dry = importer_for("staff").plan(session, t, ctx)
    assert dry.ok and dry.counts == {"created": 3, "changed": 0, "unchanged": 0, "retired": 0}
    assert _staff(session, mobile(101)) == []

    report = imp.apply(session, t, ctx)
    assert report.applied and report.counts["created"] == 3
    [a] = _staff(session, mobile(101))
    assert (a["external_id"], a["role"], a["grid"], a["division"]) == ("GZ-0001", "grid_worker", g1, v1)
    assert (a["x"], a["y"]) == pytest.approx((home.x, home.y))
    [b] = _staff(session, mobile(102))
    assert b["role"] == "grid_head"
    grid_b = session.execute(text("SELECT ST_Covers(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) FROM grid"
                                  " WHERE code = :g"), {"x": b["x"], "y": b["y"], "g": g2}).scalar_one()
    assert grid_b, "no home given: placed inside the grid they serve"
    [c] = _staff(session, mobile(103))
    assert (c["role"], c["grid"], c["division"]) == ("grid_assistant", None, v1)
    assert _memberships(session, a["id"])["comprehensive"] == g1  # assigned to every layer
    assert len(_memberships(session, a["id"])) == session.execute(text(
        "SELECT count(DISTINCT g.layer_id) FROM grid g WHERE ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(:x, :y),"
        " 4326))"), {"x": a["x"], "y": a["y"]}).scalar_one()
    [row] = audit_rows(session, "import.staff")
    assert row["detail"]["file"] == "网格员名单.xlsx" and row["detail"]["sha256"] == t.sha256
    assert row["detail"]["personal_records"] == 3
    assert leaks(report, planted(records)) == []

    again = imp.apply(session, t, ctx)  # idempotent
    assert again.counts == {"created": 0, "changed": 0, "unchanged": 3, "retired": 0}
    assert [len(_staff(session, mobile(n))) for n in (101, 102, 103)] == [1, 1, 1]


def test_matched_by_external_id_or_phone_never_by_position(session: Session) -> None:
    [(g1, _, _), (g2, _, _)] = _grids(session, "worker2", 2)
    first = [{"name": "欧阳明珠", "phone": mobile(201), "role": "网格员", "grid": g1},
             {"name": "司马青云", "phone": mobile(202), "role": "网格员", "grid": g1}]
    ctx = context(session, "worker2")
    imp.apply(session, table("staff", first), ctx)
    [a] = _staff(session, mobile(201))
    # Reordered; the first gets an external id (matched by phone, then recorded), the second a new role and grid.
    second = [{"name": "司马青云", "phone": mobile(202), "role": "网格长", "grid": g2},
              {"external_id": "GZ-9", "name": "欧阳明珠", "phone": mobile(201), "role": "网格员", "grid": g1}]
    report = imp.apply(session, table("staff", second), ctx)
    assert report.counts == {"created": 0, "changed": 2, "unchanged": 0, "retired": 0}
    details = {c.code: c.detail for c in report.changes}
    assert "external id recorded" in details["GZ-9"]
    assert f"role grid_worker → grid_head; grid {g1} → {g2}" in details["row 2"]
    [b] = _staff(session, mobile(202))
    assert (b["role"], b["grid"]) == ("grid_head", g2)
    assert _staff(session, mobile(201))[0]["external_id"] == "GZ-9" and _staff(session, mobile(201))[0]["id"] == a["id"]
    # Now matched by the external id, whatever the phone says.
    third = [{"external_id": "GZ-9", "name": "欧阳明珠", "phone": mobile(209), "role": "网格员", "grid": g1}]
    assert imp.apply(session, table("staff", third), ctx).counts["changed"] == 1
    assert _staff(session, mobile(209))[0]["id"] == a["id"] and _staff(session, mobile(201)) == []


@pytest.mark.usefixtures("sql_log")  # before session: the connection must log
def test_problems_name_row_and_field_and_never_echo_a_value(session: Session, caplog: pytest.LogCaptureFixture) -> None:
    [(g1, v1, p1)] = _grids(session, "worker2", 1)
    [(far, far_v, far_p)] = _grids(session, "worker2", 1, inside=False)
    records = [
        {"external_id": "E1", "name": "欧阳明珠", "phone": mobile(301), "role": "网格员", "grid": g1},     # 2 fine
        {"external_id": "E2", "name": "司马青云", "phone": "1381234567", "role": "网格员", "grid": g1},    # 3
        {"external_id": "E3", "name": "诸葛春华", "phone": mobile(303), "role": "村长", "grid": g1},       # 4
        {"external_id": "E4", "name": "上官秋月", "phone": mobile(304), "role": "网格员",
         "grid": mobile(999)},                                                                          # 5
        {"external_id": "E1", "name": "东方晓光", "phone": mobile(305), "role": "网格员", "grid": g1},     # 6
        {"name": "慕容雪松", "role": "网格员", "grid": g1},                                              # 7
        {"external_id": "E7", "name": "西门吹雪", "phone": mobile(307), "role": "网格员", "grid": far},   # 8
        {"external_id": "E8", "name": "花满楼", "phone": mobile(308), "role": "网格员", "grid": g1,
         "division": far_v},                                                                            # 9
        {"external_id": "E9", "name": "陆小凤", "phone": mobile(309), "role": "网格员", "grid": g1},      # 10
        {"external_id": "E10", "name": "楚留香", "phone": mobile(310), "role": "网格员", "grid": g1},     # 11
        {"external_id": "E11", "name": "李寻欢", "phone": mobile(311), "role": "网格员"},                # 12
    ]
    square = Polygon([(p1.x, p1.y), (p1.x + 1e-4, p1.y), (p1.x, p1.y + 1e-4)])
    geometry = [None] * 8 + [far_p, square, None]
    report = imp.plan(session, table("staff", records, geometry=geometry), context(session, "worker2"))
    found = {(p.row, p.field, p.code) for p in report.problems}
    assert found == {
        (3, "phone", "bad_phone"), (4, "role", "bad_role"), (5, "grid", "unknown_grid"),
        (6, "external_id", "duplicate_external_id"), (7, "external_id", "missing_key"),
        (8, "grid", "outside_scope"), (9, "division", "division_mismatch"), (10, "geometry", "outside_scope"),
        (11, "geometry", "bad_geometry"), (12, "grid", "missing_grid"),
    }
    with pytest.raises(InvalidInput) as refused:
        imp.apply(session, table("staff", records, geometry=geometry), context(session, "worker2"))
    assert _staff(session, mobile(301)) == []  # all or nothing
    assert "FROM staff" in caplog.text  # the log really holds the statements
    assert leaks(report, planted(records) | {"1381234567", mobile(999)}, str(refused.value), caplog.text) == []


def test_a_record_of_another_territory_is_not_taken_over(session: Session) -> None:
    """head1's village and worker2's are different: worker2 cannot rewrite head1's staff by their phone."""
    [(g1, _, _)] = _grids(session, "head1", 1)
    [(g2, _, _)] = _grids(session, "worker2", 1)
    imp.apply(session, table("staff", [{"name": "欧阳明珠", "phone": mobile(401), "role": "网格员", "grid": g1}]),
              context(session, "head1"))
    report = imp.plan(session, table("staff", [{"name": "欧阳明珠", "phone": mobile(401), "role": "网格员",
                                                "grid": g2}]), context(session, "worker2"))
    assert [(p.row, p.field, p.code) for p in report.problems] == [(2, "phone", "outside_scope")]


def test_county_import_warns_about_a_home_outside_every_county(session: Session) -> None:
    [(g1, _, _)] = _grids(session, "worker2", 1)
    records = [{"external_id": "X1", "name": "欧阳明珠", "phone": mobile(501), "role": "部门人员", "grid": g1}]
    report = imp.plan(session, table("staff", records, geometry=[Point(116.4, 39.9)]), context(session))
    assert report.ok and [(p.field, p.code, p.severity) for p in report.problems] == [
        ("geometry", "outside_county", "warning")]
