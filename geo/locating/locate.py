"""Which grid covers a point, in every layer, and which divisions contain it.

Covers, not contains: a point on a grid's edge is inside it. Where several
grids of one layer cover the point (a shared edge or corner) the one with the
smallest code wins — the same rule ``geo.locating.assign`` stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.db import PreparedStatement, register_prepared
from geo.errors import NotFound
from geo.spatial.crs import Crs, to_wgs84

# One round trip. Divisions: only the village level is tested spatially (villages
# tile the county exactly, and a village polygon is far smaller than the county's
# 2,000-vertex boundary); township and county follow by parent id. Grids: one
# GiST probe for all layers (a probe per layer made the planner AND the GiST
# index with the layer index: 1.0 ms → 0.4 ms), smallest code first per layer;
# layers with no covering grid still appear, with NULLs. Several counties (migration 0011): the
# village found names the county, and the grid probe carries it, so it walks the
# (county_code, layer_id, geom) GiST index of that county alone (docs/scale.md); the village probe
# is the routing step (villages of different counties never overlap).
_LOCATE = register_prepared(PreparedStatement(
    name="gridmap_locate",
    params=(("lon", "float8"), ("lat", "float8")),
    sql="""
    WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g),
    village AS (
        SELECT d.* FROM division d, pt
         WHERE d.level = 'village' AND ST_Covers(d.geom, pt.g) ORDER BY d.code LIMIT 1)
    SELECT 'division' AS what, 'village' AS key, v.code, v.name, v.id, NULL AS layer_name, 0 AS ord FROM village v
    UNION ALL
    SELECT 'division', t.level::text, t.code, t.name, t.id, NULL, 0
      FROM village v JOIN division t ON t.id = v.parent_id
    UNION ALL
    SELECT 'division', c.level::text, c.code, c.name, c.id, NULL, 0
      FROM village v JOIN division t ON t.id = v.parent_id JOIN division c ON c.id = t.parent_id
    UNION ALL
    SELECT 'grid', l.code, h.code, h.name, h.id, l.name, l.sort_order
      FROM grid_layer l
      LEFT JOIN (SELECT DISTINCT ON (grid.layer_id) grid.layer_id, grid.id, grid.code, grid.name
                   FROM grid, pt, village v WHERE grid.county_code = v.county_code AND ST_Covers(grid.geom, pt.g)
                  ORDER BY grid.layer_id, grid.code) h ON h.layer_id = l.id
    ORDER BY ord
    """,
))


@dataclass(frozen=True)
class Location:
    lon: float  # WGS84
    lat: float
    divisions: dict[str, dict[str, Any]]
    grids: dict[str, dict[str, Any] | None]


def locate(session: Session, lon: float, lat: float, crs: Crs = Crs.WGS84, *, scope: Scope) -> Location:
    """Divisions and the covering grid of every layer at a point given in ``crs``.

    A point outside the caller's territory is answered like a point outside the district.
    """
    wlon, wlat = (float(v) for v in to_wgs84(lon, lat, crs))
    rows = _LOCATE.execute(session, {"lon": wlon, "lat": wlat}).all()
    divisions = {r.key: {"code": r.code, "name": r.name, "id": r.id} for r in rows if r.what == "division"}
    if "county" not in divisions:
        raise NotFound(
            f"the point ({lon}, {lat}) in {Crs(crs).value} (WGS84 {wlon:.6f}, {wlat:.6f}) is outside the district",
            pointer="lon",
        )
    grids = {
        r.key: ({"code": r.code, "name": r.name, "id": r.id, "layer_name": r.layer_name} if r.id else None)
        for r in rows if r.what == "grid"
    }
    if not scope.everything and not {g["id"] for g in grids.values() if g} & set(scope.grids):
        raise NotFound(f"the point ({lon}, {lat}) in {Crs(crs).value} is outside your jurisdiction", pointer="lon")
    return Location(wlon, wlat, divisions, grids)
