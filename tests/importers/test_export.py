"""Exports on the test district: every format read back by GDAL, the stored shapes exactly, the
caller's territory, the filters, residents' permission, purpose and audit row."""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access import scope as scopes
from geo.access.permissions import Permission, Role, permissions_of
from geo.access.scope import Scope
from geo.access.security import Forbidden
from geo.errors import InvalidInput
from geo.models.users import AppUser
from geo.privacy.audit import Actor
from importers.export import datasets
from importers.export.datasets import Filters
from importers.export.run import ExportRequest, check_request, run_export

ALL = frozenset(Permission)
ACTOR = Actor(None, "test-export")


def _export(session: Session, tmp_path: Path, what: str, fmt: str, *, scope: Scope | None = None,
            permissions: frozenset[Permission] = ALL, **kw):  # noqa: ANN003, ANN202
    return run_export(session, ExportRequest(what, fmt, **kw), scope=scope or Scope.county(), actor=ACTOR,
                      permissions=permissions, out_dir=tmp_path)


def _stored_grids(session: Session, layer: str) -> dict[str, tuple]:
    rows = session.execute(text("""
        SELECT g.code, g.name, d.code, pg.code, ST_AsBinary(g.geom) FROM grid g
          JOIN grid_layer l ON l.id = g.layer_id JOIN division d ON d.id = g.division_id
          LEFT JOIN grid pg ON pg.id = g.parent_grid_id WHERE l.code = :l"""), {"l": layer}).all()
    return {r[0]: (r[1], r[2], r[3], shapely.from_wkb(bytes(r[4]))) for r in rows}


def _read(path: Path, **kw) -> tuple[dict, list, dict[str, np.ndarray]]:  # noqa: ANN003
    meta, _, geoms, fields = pyogrio.raw.read(str(path), **kw)
    return meta, list(shapely.from_wkb(geoms)), dict(zip(meta["fields"], fields, strict=True))


@pytest.mark.parametrize("fmt", ["gpkg", "shp", "geojson", "kml"])
def test_a_layer_in_every_vector_format_reads_back_complete_with_the_importers_field_names(
        session: Session, tmp_path: Path, fmt: str) -> None:
    stored = _stored_grids(session, "party")
    result = _export(session, tmp_path, "grids", fmt, filters=Filters(layer="party"))
    assert result.rows == len(stored) > 0
    meta, geoms, fields = _read(result.path)
    if fmt == "kml":  # the name is KML's own <name>, which GDAL reads back as "Name"
        fields = {k.lower() if k == "Name" else k: v for k, v in fields.items()}
    short = fmt == "shp"  # dBASE: 10 characters, in names the importers recognise (importers/export/fieldnames.py)
    code_f, div_f, parent_f = "code", "division" if short else "division_code", "parent" if short else "parent_code"
    assert {code_f, "name", "layer", div_f, parent_f} <= set(fields)
    assert list(fields["layer"]) == ["party"] * len(stored)
    by_code = dict(zip(fields[code_f], range(len(geoms)), strict=True))
    assert set(by_code) == set(stored)
    for code, (name, division, parent, geom) in stored.items():
        i = by_code[code]
        assert fields["name"][i] == name and fields[div_f][i] == division
        assert (fields[parent_f][i] or None) == parent
        if fmt == "gpkg":  # the stored doubles, exactly
            assert shapely.equals_exact(geoms[i], geom, tolerance=0), code
        elif fmt == "shp":  # the same shape; rings come back clockwise and single parts as Polygon
            assert shapely.equals(geoms[i], geom), code
        else:  # text at 7 decimals (RFC 7946), from the snap-rounded copy (migration 0007): valid, and differing
            # only within about a centimetre of the boundary (zero-width spikes of generated grids vanish)
            assert geoms[i].is_valid, code
            assert shapely.symmetric_difference(geoms[i], geom).area < 1e-4 * geom.area, code


def test_gbk_shapefile_zip_has_its_cpg_prj_and_gbk_bytes(session: Session, tmp_path: Path) -> None:
    result = _export(session, tmp_path, "grids", "shp", encoding="gbk", filters=Filters(layer="comprehensive"))
    assert result.path.suffix == ".zip" and result.media_type == "application/zip"
    with zipfile.ZipFile(result.path) as z:
        names = sorted(z.namelist())
        assert names == sorted(f"grids_comprehensive{e}" for e in (".shp", ".shx", ".dbf", ".prj", ".cpg"))
        assert z.read("grids_comprehensive.cpg").decode().strip().upper() in ("GBK", "CP936", "936")
        assert "WGS" in z.read("grids_comprehensive.prj").decode()
        dbf = z.read("grids_comprehensive.dbf")
    name = session.execute(text("SELECT g.name FROM grid g JOIN grid_layer l ON l.id = g.layer_id"
                                " WHERE l.code = 'comprehensive' ORDER BY g.id LIMIT 1")).scalar_one()
    assert name.encode("gbk") in dbf and name.encode("utf-8") not in dbf
    _, _, fields = _read(result.path)  # GDAL honours the .cpg
    assert name in set(fields["name"])


def test_households_csv_is_utf8_with_bom_and_lon_lat_or_wkt(session: Session, tmp_path: Path) -> None:
    division = session.execute(text("SELECT code FROM division WHERE level = 'township' ORDER BY code LIMIT 1")
                               ).scalar_one()
    expected = session.execute(text(
        "SELECT count(*) FROM household WHERE division_id IN (SELECT id FROM division WHERE code = :d OR parent_id ="
        " (SELECT id FROM division WHERE code = :d))"), {"d": division}).scalar_one()
    result = _export(session, tmp_path, "households", "csv", coords="lonlat", filters=Filters(division=division))
    raw = result.path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    lines = raw.decode("utf-8-sig").splitlines()
    assert lines[0] == "id,address,division_code,group_code,residents,needs_help,lon,lat"
    assert len(lines) - 1 == result.rows == expected > 0
    first_id, lon, lat = int(lines[1].split(",")[0]), *map(float, lines[1].split(",")[-2:])
    x, y = session.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM household WHERE id = :i"), {"i": first_id}).one()
    assert (lon, lat) == (x, y)  # full precision
    wkt = _export(session, tmp_path, "grids", "csv", filters=Filters(layer="emergency"))
    stored = _stored_grids(session, "emergency")
    import csv

    with wkt.path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["code"] for r in rows} == set(stored)
    for r in rows:
        assert shapely.equals_exact(shapely.from_wkt(r["wkt"]), stored[r["code"]][3], tolerance=0)


def test_xlsx_holds_every_row_and_text_is_never_a_formula(session: Session, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    session.execute(text("UPDATE camera SET name = '=HYPERLINK(\"http://x\")' WHERE id = (SELECT min(id) FROM camera)"))
    result = _export(session, tmp_path, "cameras", "xlsx", coords="lonlat")
    count = session.execute(text("SELECT count(*) FROM camera")).scalar_one()
    ws = load_workbook(result.path, read_only=True).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("code", "name", "bearing", "fov", "range_m", "status", "lon", "lat")
    assert len(rows) - 1 == result.rows == count
    assert '=HYPERLINK("http://x")' in {r[1] for r in rows[1:]}  # kept as written, as text
    wb = load_workbook(result.path)  # the cell's type: a string, not a formula
    assert all(c.data_type == "s" for c in wb.active["B"][1:] if c.value and str(c.value).startswith("="))


def test_csv_quotes_text_excel_would_run(session: Session, tmp_path: Path) -> None:
    session.execute(text("UPDATE camera SET name = '=1+1' WHERE id = (SELECT min(id) FROM camera)"))
    result = _export(session, tmp_path, "cameras", "csv")
    assert "'=1+1" in result.path.read_text(encoding="utf-8-sig")


def test_territory_applies_to_every_kind(session: Session, tmp_path: Path) -> None:
    user = session.query(AppUser).filter_by(username="worker1").one()
    scope = scopes.resolve(session, user)
    for what, kind in (("households", "household"), ("cameras", "camera"), ("events", "event")):
        expected = session.execute(text(
            "SELECT count(*) FROM grid_membership WHERE kind = :k AND layer_id = :l AND grid_id = ANY(:g)"),
            {"k": kind, "l": scope.layer_id, "g": list(scope.grids)}).scalar_one()
        total = session.execute(text(f"SELECT count(*) FROM {kind}")).scalar_one()
        result = _export(session, tmp_path, what, "geojson", scope=scope, permissions=permissions_of(Role.GRID_WORKER))
        assert result.rows == expected < total
    grids = _export(session, tmp_path, "grids", "gpkg", scope=scope, permissions=permissions_of(Role.GRID_WORKER))
    _, _, fields = _read(grids.path)
    ids = session.execute(text("SELECT code FROM grid WHERE id = ANY(:g)"), {"g": list(scope.visible_grids)}).scalars()
    assert set(fields["code"]) == set(ids)


def test_event_filters_status_category_time_window_and_grid(session: Session, tmp_path: Path) -> None:
    since, until = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC)
    category = session.execute(text("SELECT category FROM event GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
                               ).scalar_one()
    expected = session.execute(text(
        "SELECT count(*) FROM event WHERE status = 'closed' AND category = :c AND reported_at >= :a AND reported_at < :b"
    ), {"c": category, "a": since, "b": until}).scalar_one()
    result = _export(session, tmp_path, "events", "csv",
                     filters=Filters(status="closed", category=category, since=since, until=until))
    assert result.rows == expected > 0
    parent = session.execute(text("SELECT parent_code FROM event_category WHERE code = :c"), {"c": category}).scalar()
    if parent:  # a parent category takes in its children
        under = session.execute(text("SELECT count(*) FROM event e JOIN event_category c ON c.code = e.category"
                                     " WHERE c.parent_code = :p OR c.code = :p"), {"p": parent}).scalar_one()
        assert _export(session, tmp_path, "events", "csv", filters=Filters(category=parent)).rows == under
    grid = session.execute(text("SELECT g.code, count(*) FROM grid_membership m JOIN grid g ON g.id = m.grid_id"
                                " WHERE m.kind = 'event' GROUP BY 1 ORDER BY 2 DESC LIMIT 1")).one()
    assert _export(session, tmp_path, "events", "geojson", filters=Filters(grid=grid[0])).rows == grid[1]


def test_event_descriptions_are_masked_like_everywhere_else(session: Session, tmp_path: Path) -> None:
    session.execute(text("UPDATE event SET description = '电话13812345678 漏水' WHERE id = (SELECT min(id) FROM event)"))
    text_out = _export(session, tmp_path, "events", "csv").path.read_text(encoding="utf-8-sig")
    assert "13812345678" not in text_out and "138****5678" in text_out


@pytest.mark.parametrize(("req", "pointer"), [
    (ExportRequest("people", "gpkg"), "what"),
    (ExportRequest("grids", "pdf"), "format"),
    (ExportRequest("grids", "csv", encoding="gbk"), "encoding"),
    (ExportRequest("grids", "shp", encoding="latin-1"), "encoding"),
    (ExportRequest("grids", "gpkg", coords="lonlat"), "coords"),
    (ExportRequest("grids", "gpkg", purpose="checking"), "purpose"),
])
def test_bad_options_are_named_before_any_work(req: ExportRequest, pointer: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_request(req)
    assert caught.value.pointer == pointer


@pytest.mark.parametrize(("what", "filters", "pointer"), [
    ("grids", Filters(layer="nonesuch"), "layer"),
    ("grids", Filters(status="closed"), "status"),
    ("events", Filters(status="nonesuch"), "status"),
    ("events", Filters(category="nonesuch"), "category"),
    ("households", Filters(division="999999999999"), "division"),
    ("cameras", Filters(grid="99999999999999999"), "grid"),
    ("events", Filters(since=datetime(2026, 2, 1, tzinfo=UTC), until=datetime(2026, 1, 1, tzinfo=UTC)), "since"),
])
def test_bad_filters_are_named(session: Session, tmp_path: Path, what: str, filters: Filters, pointer: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        _export(session, tmp_path, what, "csv", filters=filters)
    assert caught.value.pointer == pointer
    assert not list(tmp_path.iterdir())  # nothing written


def _audit_rows(session: Session) -> list:
    return session.execute(text("SELECT action, purpose, detail FROM audit_log WHERE username = :u ORDER BY id"),
                           {"u": ACTOR.username}).all()


def test_residents_need_pii_export_and_a_purpose_and_are_audited_in_the_same_transaction(
        session: Session, tmp_path: Path) -> None:
    head = session.query(AppUser).filter_by(username="head1").one()
    scope = scopes.resolve(session, head)
    with pytest.raises(Forbidden):
        _export(session, tmp_path, "residents", "csv", scope=scope, permissions=permissions_of(Role.ADMIN),
                purpose="核对 residents")
    with pytest.raises(InvalidInput):
        _export(session, tmp_path, "residents", "csv", scope=scope, permissions=permissions_of(Role.GRID_HEAD))
    assert _audit_rows(session) == []
    result = _export(session, tmp_path, "residents", "xlsx", scope=scope, permissions=permissions_of(Role.GRID_HEAD),
                     purpose="防汛转移人员核对 flood evacuation check")
    expected = session.execute(text(
        "SELECT count(*) FROM resident r JOIN grid_membership m ON m.entity_id = r.household_id AND m.kind = 'household'"
        " WHERE m.layer_id = :l AND m.grid_id = ANY(:g)"), {"l": scope.layer_id, "g": list(scope.grids)}).scalar_one()
    assert result.rows == expected > 0
    (action, purpose, detail), = _audit_rows(session)
    assert action == "pii.export" and purpose.startswith("防汛") and detail["rows"] == result.rows
    from openpyxl import load_workbook

    header = next(load_workbook(result.path, read_only=True).active.iter_rows(values_only=True))
    assert header[:7] == ("id", "household_id", "address", "division_code", "name", "id_number", "phone")


def test_every_other_export_is_audited_too(session: Session, tmp_path: Path) -> None:
    _export(session, tmp_path, "divisions", "geojson", filters=Filters(level="village"))
    (action, purpose, detail), = _audit_rows(session)
    assert action == "export" and purpose is None
    assert detail == {"what": "divisions", "format": "geojson", "rows": detail["rows"], "filters": {"level": "village"}}
    assert detail["rows"] == session.execute(text("SELECT count(*) FROM division WHERE level = 'village'")).scalar_one()


def test_a_permission_the_kind_needs_is_checked(session: Session, tmp_path: Path) -> None:
    with pytest.raises(Forbidden):
        _export(session, tmp_path, "households", "csv", permissions=permissions_of(Role.VIEWER))


def test_large_exports_are_read_in_chunks(session: Session, tmp_path: Path) -> None:
    parts = list(datasets.chunks(session, "households", Filters(), Scope.county(), size=3000))
    total = session.execute(text("SELECT count(*) FROM household")).scalar_one()
    assert len(parts) == -(-total // 3000) and sum(len(p) for p in parts) == total
    assert max(len(p) for p in parts) == 3000
    # The session is usable afterwards: the cursor was this statement's only.
    assert session.execute(text("SELECT 1")).scalar_one() == 1


def test_fusion_problems_export_as_a_layer(session: Session, tmp_path: Path) -> None:
    from geo.fusion.analysis import analyse

    report = analyse(session, Scope.county(), workers=1)
    result = _export(session, tmp_path, "fusion", "gpkg")
    assert result.rows == sum(1 for p in report["problems"] if p["geometry"]) > 0
    meta, geoms, fields = _read(result.path)
    assert {"rank", "kind", "layer", "grids", "area_m2", "households"} <= set(fields)
    assert all(g.geom_type == "MultiPolygon" and g.is_valid for g in geoms)
    assert sorted(fields["rank"]) == sorted(p["rank"] for p in report["problems"] if p["geometry"])


def test_the_file_name_says_where_what_and_when(session: Session, tmp_path: Path) -> None:
    result = _export(session, tmp_path, "grids", "gpkg", filters=Filters(layer="comprehensive"))
    county = session.execute(text("SELECT name FROM division WHERE level = 'county'")).scalar_one()
    assert result.filename.startswith(f"{county}-综合网格-") and result.filename.endswith(".gpkg")


def test_shapefile_names_are_short_unique_and_deterministic() -> None:
    from importers.export.fieldnames import shapefile_names

    assert shapefile_names(["code", "division_code", "parent_code", "valid_from"]) == [
        "code", "division", "parent", "valid_from"]
    names = shapefile_names(["population_total", "population_today", "POPULATION_tomorrow", "x"])
    assert names == ["population", "populati_1", "POPULATI_2", "x"]
    assert all(len(n) <= 10 for n in names) and names == shapefile_names(
        ["population_total", "population_today", "POPULATION_tomorrow", "x"])


def test_events_and_cameras_of_a_village_are_those_of_its_comprehensive_grids(session: Session, tmp_path: Path) -> None:
    village = session.execute(text("SELECT d.code FROM division d WHERE level = 'village' ORDER BY (SELECT count(*)"
                                   " FROM grid g WHERE g.division_id = d.id) DESC LIMIT 1")).scalar_one()
    for what, kind in (("events", "event"), ("cameras", "camera")):
        expected = session.execute(text(
            "SELECT count(DISTINCT m.entity_id) FROM grid_membership m JOIN grid g ON g.id = m.grid_id"
            " JOIN grid_layer l ON l.id = m.layer_id AND l.code = 'comprehensive' JOIN division d ON d.id = g.division_id"
            " WHERE m.kind = :k AND d.code = :v"), {"k": kind, "v": village}).scalar_one()
        assert _export(session, tmp_path, what, "csv", filters=Filters(division=village)).rows == expected
