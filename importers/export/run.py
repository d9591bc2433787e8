"""One export, start to end: check the request, read inside the territory, write the file, audit.

Shared by ``gridmap export`` and ``GET /exports/{what}``: the options are checked before any row is
read (a bad one is InvalidInput naming it: 422 or exit 2), the permission of the kind is checked
here (so neither surface can forget it), and the file is spooled to a directory the caller owns.
The audit row is written in the caller's transaction, which commits once the file is complete:
an export of residents that is handed out is always on record, and one that failed never claims
to have happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access import scope as scopes
from geo.access.permissions import Permission
from geo.access.scope import Scope
from geo.access.security import Forbidden
from geo.errors import InvalidInput
from geo.privacy import audit
from geo.privacy.audit import Actor
from geo.privacy.pii import check_purpose
from importers.export import datasets, fusion, writers
from importers.export.datasets import DATASETS, Filters

WHATS = ("grids", "divisions", "households", "cameras", "events", "residents", "fusion")
# format -> (file extension, media type)
FORMATS = {
    "gpkg": (".gpkg", "application/geopackage+sqlite3"),
    "shp": (".zip", "application/zip"),
    "kml": (".kml", "application/vnd.google-earth.kml+xml"),
    "geojson": (".geojson", "application/geo+json"),
    "csv": (".csv", "text/csv; charset=utf-8"),
    "xlsx": (".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}
ENCODINGS = {"utf-8": "UTF-8", "gbk": "GBK"}  # Shapefile .dbf encodings offered (GBK: older desktop GIS tools)
COORDS = ("wkt", "lonlat")
PERMISSION = {"grids": Permission.MAP_READ, "divisions": Permission.MAP_READ, "fusion": Permission.MAP_READ,
              "households": Permission.HOUSEHOLDS_READ, "cameras": Permission.CAMERAS_READ,
              "events": Permission.EVENTS_READ, "residents": Permission.PII_EXPORT}
LABELS = {"grids": "网格", "divisions": "行政区划", "households": "户", "cameras": "摄像头", "events": "事件",
          "residents": "居民", "fusion": "多网融合问题"}


@dataclass(frozen=True)
class ExportRequest:
    what: str
    format: str
    filters: Filters = Filters()
    encoding: str = "utf-8"  # Shapefile only
    coords: str = "wkt"  # CSV and XLSX: a WKT column, or lon/lat columns
    purpose: str | None = None  # residents only: why personal data leaves the system (audited)


@dataclass(frozen=True)
class ExportFile:
    path: Path
    filename: str  # for people (Chinese): the county or division, what, the layer, the date
    media_type: str
    rows: int


def check_request(req: ExportRequest) -> None:
    """The options alone, before the database is asked anything: each mistake named where it is."""
    if req.what not in WHATS:
        raise InvalidInput(f"cannot export {req.what!r}; choose from {', '.join(WHATS)}", pointer="what")
    if req.format not in FORMATS:
        raise InvalidInput(f"unknown format {req.format!r}; choose from {', '.join(FORMATS)}", pointer="format")
    if req.encoding not in ENCODINGS:
        raise InvalidInput(f"unknown encoding {req.encoding!r}; choose from {', '.join(ENCODINGS)}",
                           pointer="encoding")
    if req.encoding != "utf-8" and req.format != "shp":
        raise InvalidInput("encoding applies to Shapefile only (format=shp); the other formats are UTF-8",
                           pointer="encoding")
    if req.coords not in COORDS:
        raise InvalidInput(f"unknown coords {req.coords!r}; choose from {', '.join(COORDS)}", pointer="coords")
    if req.coords != "wkt" and req.format not in ("csv", "xlsx"):
        raise InvalidInput("coords applies to csv and xlsx only; the other formats carry the geometry itself",
                           pointer="coords")
    if req.purpose is not None and req.what != "residents":
        raise InvalidInput("purpose is asked for residents only (personal data)", pointer="purpose")


def _filename(session: Session, req: ExportRequest, scope: Scope) -> str:
    code = req.filters.division
    if code is None and not scope.everything and scope.own_divisions:
        code = session.execute(text(
            "SELECT code FROM division WHERE id = ANY(:own) AND (parent_id IS NULL OR NOT parent_id = ANY(:own))"
            " LIMIT 1"), {"own": list(scope.own_divisions)}).scalar()
    place = session.execute(
        text("SELECT name FROM division WHERE code = :c") if code else
        text("SELECT name FROM division WHERE parent_id IS NULL ORDER BY code LIMIT 1"), {"c": code}).scalar()
    layer = req.filters.layer and session.execute(
        text("SELECT name FROM grid_layer WHERE code = :c"), {"c": req.filters.layer}).scalar()
    parts = [place or "gridmap", layer or LABELS[req.what], datetime.now(UTC).strftime("%Y%m%d")]
    return "-".join(p for p in parts if p) + FORMATS[req.format][0]


def run_export(session: Session, req: ExportRequest, *, scope: Scope, actor: Actor,
               permissions: frozenset[Permission], out_dir: Path) -> ExportFile:
    """Write the export into ``out_dir`` (the caller removes it) and record it in the audit log.

    Residents need ``pii:export`` and a purpose, and are read with the scope bound for row-level
    security. Every other kind needs the permission that reads it on the map or the API.
    """
    check_request(req)
    needed = PERMISSION[req.what]
    if needed not in permissions:
        raise Forbidden(f"exporting {req.what} needs the permission {needed.value}")
    purpose = check_purpose(req.purpose) if req.what == "residents" else None
    datasets.check_filters(session, req.what, req.filters)
    if req.what == "residents":
        scopes.bind(session, scope)
    if req.what == "fusion":
        columns, geometry_type = list(fusion.COLUMNS), fusion.GEOMETRY_TYPE
        chunks = fusion.fusion_chunks(session, req.filters, scope)
    else:
        ds = DATASETS[req.what]
        columns, geometry_type = list(ds.columns), ds.geometry_type
        # GeoJSON and KML are text at 7 decimals (RFC 7946): polygons from the copy already snapped to that
        # grid, which stays valid; the binary formats and WKT carry the stored doubles exactly.
        rounded = req.format in ("geojson", "kml")
        chunks = datasets.chunks(session, req.what, req.filters, scope, rounded=rounded)
    name = _filename(session, req, scope)
    stem = f"{req.what}_{req.filters.layer}" if req.filters.layer else req.what
    path = out_dir / (stem + FORMATS[req.format][0])
    if req.format in writers.VECTOR_DRIVERS:
        target = out_dir / f"{stem}.shp" if req.format == "shp" else path
        rows = writers.write_vector(req.format, target, columns, geometry_type, chunks, layer=stem,
                                    encoding=ENCODINGS[req.encoding])
        if req.format == "shp":
            writers.zip_shapefile(target, path)
    elif req.format == "csv":
        rows = writers.write_csv(path, columns, chunks, coords=req.coords)
    else:
        rows = writers.write_xlsx(path, columns, chunks, coords=req.coords, sheet=LABELS[req.what])
    detail = {"what": req.what, "format": req.format, "rows": rows, "filters": _plain(req.filters)}
    audit.record(session, actor, action="pii.export" if req.what == "residents" else "export",
                 entity="resident" if req.what == "residents" else req.what, purpose=purpose, detail=detail)
    return ExportFile(path, name, FORMATS[req.format][1], rows)


def _plain(filters: Filters) -> dict[str, object]:
    return {k: (v.isoformat() if isinstance(v, datetime) else list(v) if isinstance(v, tuple) else v)
            for k, v in filters.given().items()}
