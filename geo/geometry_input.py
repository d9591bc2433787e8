"""Checking geometry that arrives from a planner's drawing, before anything is written.

Every refusal names the reason and, where there is one, the place (the ring and
vertex, or the coordinates GEOS reports), so the map can point at it. Rings
drawn clockwise are accepted and stored counter-clockwise; a geometry is never
silently changed by more than 0.1% of its area.
"""

from __future__ import annotations

import math
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.validation import explain_validity

from geo.errors import InvalidInput

MAX_VERTICES = 20_000
MAX_AREA_CHANGE = 0.001  # relative; beyond this a repair is refused, not applied


def _check_position(pos: Any, where: str) -> tuple[float, float]:
    if not isinstance(pos, (list, tuple)):
        raise InvalidInput(f"{where}: a position must be an array [lon, lat]", pointer=where)
    if len(pos) != 2:
        raise InvalidInput(f"{where}: positions must be [lon, lat]; Z or M values are not accepted "
                           f"(got {len(pos)} numbers)", pointer=where)
    lon, lat = pos
    if isinstance(lon, bool) or isinstance(lat, bool) or not all(isinstance(v, (int, float)) for v in (lon, lat)):
        raise InvalidInput(f"{where}: coordinates must be numbers", pointer=where)
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InvalidInput(f"{where}: coordinates must be finite (no NaN or Infinity)", pointer=where)
    if not -90 <= lat <= 90:
        hint = " (are longitude and latitude swapped?)" if -90 <= lon <= 90 and -180 <= lat <= 180 else ""
        raise InvalidInput(f"{where}: latitude {lat} is out of range{hint}", pointer=where)
    if not -180 <= lon <= 180:
        raise InvalidInput(f"{where}: longitude {lon} is out of range", pointer=where)
    return float(lon), float(lat)


def _check_ring(ring: Any, where: str) -> list[tuple[float, float]]:
    if not isinstance(ring, list):
        raise InvalidInput(f"{where}: a ring must be an array of positions", pointer=where)
    points = [_check_position(p, f"{where}/{i}") for i, p in enumerate(ring)]
    if len(points) < 4:
        raise InvalidInput(f"{where}: a ring needs at least 4 positions (3 corners and the closing one), "
                           f"got {len(points)}", pointer=where)
    if points[0] != points[-1]:
        raise InvalidInput(f"{where}: the ring is not closed (first and last positions differ)", pointer=where)
    return points


def parse_area(geojson: Any, *, pointer: str = "geometry", max_vertices: int = MAX_VERTICES) -> MultiPolygon:
    """A valid, counter-clockwise MultiPolygon in WGS84 from a GeoJSON Polygon or MultiPolygon."""
    if not isinstance(geojson, dict) or "type" not in geojson:
        raise InvalidInput("geometry must be a GeoJSON object with a type", pointer=pointer)
    kind = geojson.get("type")
    coords = geojson.get("coordinates")
    if kind not in ("Polygon", "MultiPolygon"):
        raise InvalidInput(f"geometry must be a Polygon or MultiPolygon, got {kind}", pointer=f"{pointer}/type")
    if not isinstance(coords, list) or not coords:
        raise InvalidInput("geometry has no coordinates", pointer=f"{pointer}/coordinates")
    polygons = [coords] if kind == "Polygon" else coords
    count = 0
    for pi, rings in enumerate(polygons):
        if not isinstance(rings, list) or not rings:
            raise InvalidInput(f"polygon {pi} has no rings", pointer=f"{pointer}/coordinates/{pi}")
        for ri, ring in enumerate(rings):
            base = f"{pointer}/coordinates" + (f"/{pi}" if kind == "MultiPolygon" else "") + f"/{ri}"
            count += len(ring) if isinstance(ring, list) else 0
            if count > max_vertices:
                raise InvalidInput(f"geometry has more than {max_vertices} vertices", pointer=pointer)
            _check_ring(ring, base)
    geom = shape(geojson)
    if geom.is_empty:
        raise InvalidInput("geometry is empty", pointer=pointer)
    if not geom.is_valid:
        raise InvalidInput(f"geometry is not valid: {explain_validity(geom)}", pointer=pointer)
    multi = geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])
    return shapely.orient_polygons(multi)


def ensure_area_kept(before: MultiPolygon | Polygon, after: MultiPolygon | Polygon, what: str) -> None:
    """Refuse a repair or snap that would change the drawn area by more than 0.1%."""
    a0, a1 = before.area, after.area
    if a0 > 0 and abs(a1 - a0) / a0 > MAX_AREA_CHANGE:
        raise InvalidInput(f"{what} would change the drawn area by {abs(a1 - a0) / a0:.2%} (limit 0.1%)",
                           pointer="geometry")


def parse_line(geojson: Any, *, pointer: str = "line") -> shapely.LineString:
    if not isinstance(geojson, dict) or geojson.get("type") != "LineString":
        raise InvalidInput("the cut must be a GeoJSON LineString", pointer=pointer)
    coords = geojson.get("coordinates")
    if not isinstance(coords, list) or len(coords) < 2:
        raise InvalidInput("the cut needs at least 2 positions", pointer=f"{pointer}/coordinates")
    if len(coords) > MAX_VERTICES:
        raise InvalidInput(f"the cut has more than {MAX_VERTICES} vertices", pointer=pointer)
    pts = [_check_position(p, f"{pointer}/coordinates/{i}") for i, p in enumerate(coords)]
    return shapely.LineString(pts)
