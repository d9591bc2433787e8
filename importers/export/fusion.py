"""The fusion problems (多网融合: overlaps, gaps, slivers, grids outside their parent, misalignments) as rows.

The analysis is geo.fusion.analysis.analyse, the same one ``GET /fusion`` runs; this only turns its
problems into one chunk with the columns of geo.fusion.export's CSV, so the township's list and
the GIS layer agree. A county has hundreds of problems, not millions: one chunk is enough.
"""

from __future__ import annotations

from collections.abc import Iterator

import shapely
from shapely.geometry import shape
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.fusion.analysis import analyse
from geo.fusion.export import KIND_LABELS
from importers.export.datasets import Chunk, Column, Filters

COLUMNS = (Column("rank", "", "int"), Column("township", ""), Column("kind", ""), Column("layer", ""),
           Column("grids", ""), Column("area_m2", "", "float"), Column("households", "", "int"),
           Column("share_area", "", "float"), Column("suggestion", ""))
GEOMETRY_TYPE = "MultiPolygon"


def fusion_chunks(session: Session, filters: Filters, scope: Scope) -> Iterator[Chunk]:
    report = analyse(session, scope, division_code=filters.division, layer_codes=list(filters.layers) or None)
    problems = [p for p in report["problems"] if p.get("geometry")]
    geoms = shapely.force_2d([shape(p["geometry"]) for p in problems])
    # Every part a polygon, so one MultiPolygon layer holds them all (GeoPackage and Shapefile need one type).
    multi = [g if g.geom_type == "MultiPolygon" else
             shapely.MultiPolygon([q for q in shapely.get_parts(g) if q.geom_type == "Polygon"]) for g in geoms]
    columns = {
        "rank": [p["rank"] for p in problems],
        "township": [" ".join(filter(None, (p.get("township"), p.get("township_name")))) or None for p in problems],
        "kind": [KIND_LABELS.get(p["kind"], p["kind"]) for p in problems],
        "layer": [p["layer"] for p in problems],
        "grids": [" / ".join(p["grids"]) for p in problems],
        "area_m2": [float(p["area_m2"]) for p in problems],
        "households": [int(p["households"]) for p in problems],
        "share_area": [float(p["share_area"]) if "share_area" in p else None for p in problems],
        "suggestion": [p.get("suggestion") or None for p in problems],
    }
    yield Chunk(columns, [shapely.to_wkb(g) for g in multi])
