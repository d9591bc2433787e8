"""The issue's acceptance test: what gridmap exports, gridmap's importers read back as no change.

A layer exported to GeoPackage, then read (importers.files) and planned as a dry run
(importers.load.grids), reports 0 created, 0 changed, 0 retired; so does a GBK Shapefile, and so
do the divisions. No field map is given: the exported field names are the importers' defaults.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.permissions import Permission
from geo.access.scope import Scope
from geo.privacy.audit import Actor
from importers.export.datasets import Filters
from importers.export.run import ExportRequest, run_export
from importers.files.read import read_source
from importers.load import importer_for
from importers.load.context import ImportContext

ACTOR = Actor(None, "round-trip")


def _export(session: Session, tmp_path: Path, req: ExportRequest) -> Path:
    return run_export(session, req, scope=Scope.county(), actor=ACTOR, permissions=frozenset(Permission),
                      out_dir=tmp_path).path


def _count(session: Session, layer: str) -> int:
    return session.execute(text("SELECT count(*) FROM grid g JOIN grid_layer l ON l.id = g.layer_id"
                                " WHERE l.code = :l"), {"l": layer}).scalar_one()


@pytest.mark.parametrize(("fmt", "encoding", "layer"), [
    ("gpkg", "utf-8", "comprehensive"),
    ("gpkg", "utf-8", "party"),
    ("shp", "gbk", "comprehensive"),
])
def test_a_layer_exported_then_imported_as_a_dry_run_reports_no_change(
        session: Session, tmp_path: Path, fmt: str, encoding: str, layer: str) -> None:
    path = _export(session, tmp_path, ExportRequest("grids", fmt, Filters(layer=layer), encoding=encoding))
    table = read_source(path, "grids")  # no --encoding, no --map: the .cpg and the default names suffice
    if fmt == "shp":
        assert (table.encoding or "").lower().replace("-", "") in ("gbk", "cp936", "gb18030")
    assert len(table) == _count(session, layer)
    assert not [p for p in table.problems if p.severity == "error"], table.problems[:5]
    report = importer_for("grids").plan(session, table, ImportContext(actor=ACTOR, scope=Scope.county(),
                                                                      layer=layer))
    assert report.ok, report.problems[:5]
    assert report.counts == {"created": 0, "changed": 0, "unchanged": len(table), "retired": 0}
    assert report.changes == []


@pytest.mark.parametrize("level", ["township", "village"])
def test_divisions_exported_then_imported_report_no_change(session: Session, tmp_path: Path, level: str) -> None:
    # One level a file: the divisions importer takes townships and villages, and refuses a county's row
    # (a county's boundary is not the county's to change).
    path = _export(session, tmp_path, ExportRequest("divisions", "gpkg", Filters(level=level)))
    table = read_source(path, "divisions")
    report = importer_for("divisions").plan(session, table, ImportContext(actor=ACTOR, scope=Scope.county()))
    assert report.ok, report.problems[:5]
    assert report.counts == {"created": 0, "changed": 0, "unchanged": len(table), "retired": 0}
    assert len(table) == session.execute(text("SELECT count(*) FROM division WHERE level = :l"),
                                         {"l": level}).scalar_one() > 0


@pytest.mark.parametrize("fmt", ["xlsx", "csv", "gpkg"])
def test_cameras_exported_then_imported_report_no_change(session: Session, tmp_path: Path, fmt: str) -> None:
    # A spreadsheet keeps 15 significant digits: bearings and ranges read back a last digit off
    # (115.27246142373939 → 115.2724614237394), which once counted as 1,541 changed cameras of 2,319.
    path = _export(session, tmp_path, ExportRequest("cameras", fmt, Filters()))
    table = read_source(path, "cameras", crs="wgs84")
    report = importer_for("cameras").plan(session, table, ImportContext(actor=ACTOR, scope=Scope.county()))
    assert report.ok, report.problems[:5]
    stored = session.execute(text("SELECT count(*) FROM camera")).scalar_one()
    assert report.counts == {"created": 0, "changed": 0, "unchanged": stored, "retired": 0}, report.changes[:3]
