"""Which grid covers a point, in every layer, and which divisions contain it.

Covers, not contains: a point on a grid's edge is inside it. Where several
grids of one layer cover the point (a shared edge or corner) the one with the
smallest code wins — the same rule ``geo.assign`` stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import Crs, to_wgs84
from geo.errors import NotFound

_LOCATE_SQL = text(
    """
    WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g)
    SELECT 'division' AS what, d.level::text AS key, d.code, d.name, d.id, NULL AS layer_name
      FROM (SELECT DISTINCT ON (level) * FROM division, pt
             WHERE ST_Covers(division.geom, pt.g) ORDER BY level, code) d
    UNION ALL
    SELECT 'grid', l.code, g.code, g.name, g.id, l.name
      FROM grid_layer l
      JOIN LATERAL (SELECT grid.* FROM grid, pt WHERE grid.layer_id = l.id AND ST_Covers(grid.geom, pt.g)
                     ORDER BY grid.code LIMIT 1) g ON true
    """
)


@dataclass(frozen=True)
class Location:
    lon: float  # WGS84
    lat: float
    divisions: dict[str, dict[str, Any]]
    grids: dict[str, dict[str, Any] | None]


def locate(session: Session, lon: float, lat: float, crs: Crs = Crs.WGS84) -> Location:
    """Divisions and the covering grid of every layer at a point given in ``crs``."""
    wlon, wlat = (float(v) for v in to_wgs84(lon, lat, crs))
    rows = session.execute(_LOCATE_SQL, {"lon": wlon, "lat": wlat}).all()
    divisions = {r.key: {"code": r.code, "name": r.name, "id": r.id} for r in rows if r.what == "division"}
    if "county" not in divisions:
        raise NotFound(
            f"the point ({lon}, {lat}) in {Crs(crs).value} (WGS84 {wlon:.6f}, {wlat:.6f}) is outside the district",
            pointer="lon",
        )
    layers = session.execute(text("SELECT code FROM grid_layer ORDER BY sort_order, id")).scalars().all()
    found = {r.key: {"code": r.code, "name": r.name, "id": r.id, "layer_name": r.layer_name}
             for r in rows if r.what == "grid"}
    return Location(wlon, wlat, divisions, {code: found.get(code) for code in layers})
