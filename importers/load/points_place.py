"""Where imported points fall: their village, and whether they are inside the importer's territory.

Why Shapely and not a per-row SQL lookup: a million points against a county's villages is the
"loop over polygons" shape of geo/locating/assign.py — each polygon prepared once and tested against
all the points its envelope holds (``STRtree`` of the points, queried with the polygons) — and the
staged points need no spatial index for it. A per-point index probe with an unprepared
point-in-polygon test costs several times as much.

Ties follow the assignment rule: a point on a shared edge belongs to the village (or grid) with the
smallest code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from importers.files.source import SourceTable
from importers.load.points_stage import positions, stage


def _covering(polygons: np.ndarray, order: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Index (into ``polygons``) of the covering polygon of each point with the smallest ``order``; -1 where none."""
    found = np.full(len(lon), -1, dtype=np.int64)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any() or len(polygons) == 0:
        return found
    where = np.flatnonzero(ok)
    tree = shapely.STRtree(shapely.points(lon[where], lat[where]))
    poly_idx, point_idx = tree.query(polygons, predicate="covers")
    if len(poly_idx) == 0:
        return found
    first = np.lexsort((order[poly_idx], point_idx))  # by point, then by code: the first of each point wins
    point_idx, poly_idx = point_idx[first], poly_idx[first]
    keep = np.ones(len(point_idx), dtype=bool)
    keep[1:] = point_idx[1:] != point_idx[:-1]
    found[where[point_idx[keep]]] = poly_idx[keep]
    return found


def villages_at(session: Session, lon: np.ndarray, lat: np.ndarray, county: str | None) -> np.ndarray:
    """The id of the village covering each point (0 where none: outside the county, or no position)."""
    rows = session.execute(text(
        "SELECT id, ST_AsBinary(geom) FROM division WHERE level = 'village'"
        " AND (CAST(:county AS text) IS NULL OR code LIKE :county || '%') ORDER BY code"),
        {"county": county}).all()
    if not rows:
        return np.zeros(len(lon), dtype=np.int64)
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    polygons = shapely.from_wkb([bytes(r[1]) for r in rows])
    idx = _covering(polygons, np.arange(len(rows)), lon, lat)
    return np.where(idx >= 0, ids[np.maximum(idx, 0)], 0)


def in_territory(session: Session, scope: Scope, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Whether each point lies in one of the scope's grids (everywhere, for a county-wide user)."""
    if scope.everything:
        return np.ones(len(lon), dtype=bool)
    rows = session.execute(text("SELECT ST_AsBinary(geom) FROM grid WHERE id = ANY(:ids)"),
                           {"ids": list(scope.grids)}).scalars().all()
    polygons = shapely.from_wkb([bytes(r) for r in rows]) if rows else np.array([], dtype=object)
    return _covering(polygons, np.arange(len(rows)), lon, lat) >= 0


def stage_points(session: Session, name: str, table: SourceTable, scope: Scope, county: str | None,
                 texts: dict[str, list[Any]]) -> None:
    """COPY a point table into the TEMP table ``name``: each row's number and position, whether it is a
    point with sane coordinates, the village it falls in and whether it lies in ``scope``, beside the
    kind's text columns. Households and cameras stage the same way; only their texts differ."""
    lon, lat, not_point, bad_coords = positions(table)
    village = villages_at(session, lon, lat, county)
    inside = in_territory(session, scope, lon, lat)
    stage(session, name, {
        "row": ("int", np.asarray(table.rows)), "lon": ("float8", lon), "lat": ("float8", lat),
        "not_point": ("boolean", not_point), "bad_coords": ("boolean", bad_coords),
        "pos_village": ("bigint", village), "pos_in_scope": ("boolean", inside),
    }, texts)
