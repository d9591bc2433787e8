"""SourceTables made from what is stored, as an export then a reader would hand them to an importer.

The readers are written beside the importers (importers/files/); these tables have the same shape, so
the importers are tested on real stored shapes without depending on a file format.
"""

from __future__ import annotations

import hashlib
from typing import Any

from shapely import wkb
from sqlalchemy import text
from sqlalchemy.orm import Session

from importers.files.source import SourceTable


def table_of(kind: str, rows: list[dict[str, Any]], name: str = "grids.gpkg") -> SourceTable:
    """A table from dicts with a ``geometry`` (shapely) and the other fields as columns."""
    fields = sorted({k for r in rows for k in r if k != "geometry"})
    digest = hashlib.sha256(repr([(r.get("code"), r["geometry"].wkb if r.get("geometry") is not None else None)
                                  for r in rows]).encode()).hexdigest()
    return SourceTable(name=name, sha256=digest, kind=kind, rows=list(range(1, len(rows) + 1)),
                       columns={f: [r.get(f) for r in rows] for f in fields},
                       geometry=[r.get("geometry") for r in rows], crs="EPSG:4326")


def exported_grids(session: Session, layer: str, division_prefix: str = "") -> list[dict[str, Any]]:
    """A layer as the exports write it: the 7-decimal ``geom_out``, code, name, division code, parent code."""
    rows = session.execute(text("""
        SELECT g.code, g.name, d.code AS division, p.code AS parent_grid, ST_AsBinary(g.geom_out) AS geom
          FROM grid g JOIN grid_layer l ON l.id = g.layer_id JOIN division d ON d.id = g.division_id
          LEFT JOIN grid p ON p.id = g.parent_grid_id
         WHERE l.code = :l AND d.code LIKE :prefix ORDER BY g.code"""), {"l": layer, "prefix": division_prefix + "%"})
    return [{"code": r.code, "name": r.name, "division": r.division, "parent_grid": r.parent_grid,
             "geometry": wkb.loads(bytes(r.geom))} for r in rows]


def exported_divisions(session: Session, level: str, prefix: str = "") -> list[dict[str, Any]]:
    rows = session.execute(text(
        "SELECT code, name, ST_AsBinary(geom_out) AS geom FROM division WHERE level::text = :l AND code LIKE :p"
        " ORDER BY code"), {"l": level, "p": prefix + "%"})
    return [{"code": r.code, "name": r.name, "geometry": wkb.loads(bytes(r.geom))} for r in rows]
