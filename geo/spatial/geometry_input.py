"""Checking geometry that arrives from a planner's drawing, before anything is written.

Every refusal names the reason and, where there is one, the place (the ring and
vertex, or the coordinates GEOS reports), so the map can point at it. Rings
drawn clockwise are accepted and stored counter-clockwise; a geometry is never
silently changed by more than 0.1% of its area.

Coordinates arrive in the CRS the request names (``crs``: wgs84, cgcs2000,
gcj02, bd09) and are converted to WGS84 before any check, so validity is judged
on the shape that is stored. A GeoJSON ``crs`` member (GeoJSON 2008) is only
accepted when it says WGS84 (CRS84 / EPSG:4326): the datum is the request's
parameter, never guessed from inside the body.

A shape larger than ``MAX_SPAN_DEG`` in either direction is refused: no grid or
cut is that big, and a whole-world polygon has antipodal edges on which
PostGIS's geography functions fail.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from geo.errors import InvalidInput
from geo.spatial.crs import Crs, to_wgs84

MAX_VERTICES = 20_000
MAX_AREA_CHANGE = 0.001  # relative; beyond this a repair is refused, not applied
MAX_SPAN_DEG = 5.0  # a county is about 1 degree across; no drawn shape is ever wider than a province
_WGS84_NAMES = {"urn:ogc:def:crs:ogc:1.3:crs84", "urn:ogc:def:crs:epsg::4326", "epsg:4326", "crs84",
                "urn:ogc:def:crs:ogc::crs84", "http://www.opengis.net/def/crs/ogc/1.3/crs84",
                "http://www.opengis.net/def/crs/epsg/0/4326"}


def _check_position(pos: Any, where: str) -> tuple[float, float]:
    if not isinstance(pos, (list, tuple)):
        raise InvalidInput(f"{where}: a position must be an array [lon, lat]", pointer=where)
    if len(pos) != 2:
        raise InvalidInput(f"{where}: positions must be [lon, lat]; Z or M values are not accepted "
                           f"(got {len(pos)} numbers)", pointer=where)
    lon, lat = pos
    if isinstance(lon, bool) or isinstance(lat, bool) or not all(isinstance(v, (int, float)) for v in (lon, lat)):
        raise InvalidInput(f"{where}: coordinates must be numbers", pointer=where)
    try:  # a JSON integer of 400 digits is a Python int that no float can hold
        lon, lat = float(lon), float(lat)
    except OverflowError:
        raise InvalidInput(f"{where}: a coordinate is far out of range (too many digits)", pointer=where) from None
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InvalidInput(f"{where}: coordinates must be finite (no NaN or Infinity)", pointer=where)
    if not -90 <= lat <= 90:
        hint = " (are longitude and latitude swapped?)" if -90 <= lon <= 90 and -180 <= lat <= 180 else ""
        raise InvalidInput(f"{where}: latitude {lat} is out of range{hint}", pointer=where)
    if not -180 <= lon <= 180:
        raise InvalidInput(f"{where}: longitude {lon} is out of range", pointer=where)
    return lon, lat


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


def parse_area(geojson: Any, *, pointer: str = "geometry", max_vertices: int = MAX_VERTICES,
               crs: Crs | str = Crs.WGS84) -> MultiPolygon:
    """A valid, counter-clockwise MultiPolygon in WGS84 from a GeoJSON Polygon or MultiPolygon in ``crs``."""
    if not isinstance(geojson, dict) or "type" not in geojson:
        raise InvalidInput("geometry must be a GeoJSON object with a type", pointer=pointer)
    kind = geojson.get("type")
    coords = geojson.get("coordinates")
    if kind not in ("Polygon", "MultiPolygon"):
        raise InvalidInput(f"geometry must be a Polygon or MultiPolygon, got {kind}", pointer=f"{pointer}/type")
    _check_crs_member(geojson, pointer)
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
    geom = _to_wgs84(shape({"type": kind, "coordinates": coords}), crs)
    if geom.is_empty:
        raise InvalidInput("geometry is empty", pointer=pointer)
    _check_span(geom, pointer)
    if not geom.is_valid:
        raise InvalidInput(f"geometry is not valid: {_why_invalid(geom)}", pointer=pointer)
    multi = geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])
    return shapely.orient_polygons(multi)


def _check_crs_member(geojson: dict[str, Any], pointer: str) -> None:
    """Refuse a GeoJSON 2008 ``crs`` member unless it names WGS84; the datum comes from the request's ``crs``."""
    if "crs" not in geojson:
        return
    member = geojson["crs"]
    properties = member.get("properties") if isinstance(member, dict) else None
    name = properties.get("name") if isinstance(properties, dict) else None
    if isinstance(name, str) and name.strip().lower() in _WGS84_NAMES:
        return
    shown = name if isinstance(name, str) else "an unnamed CRS"
    raise InvalidInput(f"the GeoJSON crs member ({shown[:80]}) is not accepted: coordinates are WGS84 (CRS84) unless "
                       "the request's crs parameter says wgs84, cgcs2000, gcj02 or bd09", pointer=f"{pointer}/crs")


def _to_wgs84(geom: shapely.Geometry, crs: Crs | str) -> shapely.Geometry:
    """Convert every vertex from ``crs`` to WGS84 (one vectorised call, no loop over points)."""
    if Crs(crs) in (Crs.WGS84, Crs.CGCS2000):
        return geom

    def convert(xy: np.ndarray) -> np.ndarray:
        lon, lat = to_wgs84(xy[:, 0], xy[:, 1], crs)
        return np.column_stack([lon, lat])

    return shapely.transform(geom, convert)


def _check_span(geom: shapely.Geometry, pointer: str) -> None:
    minx, miny, maxx, maxy = geom.bounds
    if maxx - minx > MAX_SPAN_DEG or maxy - miny > MAX_SPAN_DEG:
        raise InvalidInput(f"the shape spans {maxx - minx:.1f}° × {maxy - miny:.1f}°; a drawn shape may span at most "
                           f"{MAX_SPAN_DEG:g}° in each direction (is it a whole-world or antimeridian-crossing "
                           "polygon?)", pointer=pointer)


def ensure_area_kept(before: MultiPolygon | Polygon, after: MultiPolygon | Polygon, what: str) -> None:
    """Refuse a repair or snap that would change the drawn area by more than 0.1%."""
    a0, a1 = before.area, after.area
    if a0 > 0 and abs(a1 - a0) / a0 > MAX_AREA_CHANGE:
        raise InvalidInput(f"{what} would change the drawn area by {abs(a1 - a0) / a0:.2%} (limit 0.1%)",
                           pointer="geometry")


def parse_line(geojson: Any, *, pointer: str = "line", crs: Crs | str = Crs.WGS84) -> shapely.LineString:
    """A WGS84 LineString from a GeoJSON LineString in ``crs`` (a split's cut)."""
    if not isinstance(geojson, dict) or geojson.get("type") != "LineString":
        raise InvalidInput("the cut must be a GeoJSON LineString", pointer=pointer)
    _check_crs_member(geojson, pointer)
    coords = geojson.get("coordinates")
    if not isinstance(coords, list) or len(coords) < 2:
        raise InvalidInput("the cut needs at least 2 positions", pointer=f"{pointer}/coordinates")
    if len(coords) > MAX_VERTICES:
        raise InvalidInput(f"the cut has more than {MAX_VERTICES} vertices", pointer=pointer)
    pts = [_check_position(p, f"{pointer}/coordinates/{i}") for i, p in enumerate(coords)]
    line = _to_wgs84(shapely.LineString(pts), crs)
    _check_span(line, pointer)
    return line


_WHERE = re.compile(r"^(?P<why>[^\[]*)\[(?P<x>-?[\d.eE+-]+) (?P<y>-?[\d.eE+-]+)\]$")


def _why_invalid(geom: BaseGeometry) -> str:
    """GEOS's reason with its place as ``lon, lat`` to 6 decimals (0.1 m): its own ``Reason[x y]`` prints
    every digit, and a run that long is masked in a problem's detail as if it were an ID number."""
    reason = explain_validity(geom)
    m = _WHERE.match(reason)
    if not m:
        return reason
    return f"{m['why'].strip()} at {float(m['x']):.6f}, {float(m['y']):.6f} (lon, lat)"
