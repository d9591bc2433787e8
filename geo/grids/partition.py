"""Balanced partitions of points: the building block of "split a grid into N parts of equal households"
and of the demo's 十联户 groups."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
import shapely.geometry
from shapely import wkb
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.errors import Conflict, InvalidInput, NotFound
from geo.grids.shaping import area_m2, exact_pieces


def bisect_balanced(members: np.ndarray, k: int, xy: np.ndarray) -> list[np.ndarray]:
    """Split ``members`` (indices into ``xy``, metres) into ``k`` compact groups whose sizes differ by at most one.

    Recursive bisection along the longer side of the group's spread: simple,
    deterministic, and the groups come out compact enough to draw a boundary around.
    """
    if k <= 1 or len(members) <= 1:
        return [members]
    pts = xy[members]
    axis = int(np.ptp(pts[:, 1]) > np.ptp(pts[:, 0]))
    ordered = members[np.argsort(pts[:, axis], kind="stable")]
    k1 = k // 2
    cut = int(round(len(members) * k1 / k))
    return bisect_balanced(ordered[:cut], k1, xy) + bisect_balanced(ordered[cut:], k - k1, xy)


def suggest_balanced_split(session: Session, scope: Scope, grid_id: int, parts: int) -> list[dict[str, Any]]:
    """``parts`` pieces of a grid with (nearly) equal household counts, for a planner to review and apply.

    Households are split by recursive bisection; each piece is the union of its
    households' Voronoi cells inside the grid, made exact.
    """
    if not 2 <= parts <= 50:
        raise InvalidInput("parts must be between 2 and 50", pointer="parts")
    if not (scope.everything or grid_id in scope.visible_grids):
        raise NotFound(f"no grid with id {grid_id}", pointer="id")
    found = session.execute(text("SELECT ST_AsEWKB(geom) FROM grid WHERE id = :g"), {"g": grid_id}).scalar()
    if found is None:
        raise NotFound(f"no grid with id {grid_id}", pointer="id")
    geom = bytes(found)
    pts = session.execute(text("""
        SELECT ST_X(h.geom), ST_Y(h.geom) FROM grid_membership m JOIN household h ON h.id = m.entity_id
         WHERE m.kind = 'household' AND m.grid_id = :g ORDER BY h.id"""), {"g": grid_id}).all()
    if len(pts) < parts:
        raise Conflict(f"the grid has {len(pts)} households: too few for {parts} parts", pointer="parts")
    whole = wkb.loads(geom)
    lonlat = np.array(pts, dtype=float)
    scale = np.cos(np.radians(lonlat[:, 1].mean()))
    xy = lonlat * np.array([scale, 1.0])  # locally isotropic, so "longer side" means what it says
    groups = bisect_balanced(np.arange(len(xy)), parts, xy)
    envelope = shapely.box(*shapely.buffer(whole, 0.05).bounds)
    cells = np.asarray(shapely.get_parts(shapely.voronoi_polygons(
        shapely.multipoints(lonlat), extend_to=envelope, ordered=True)))
    candidates = [shapely.coverage_union_all(cells[g]) for g in groups]
    pieces = exact_pieces(whole, candidates)
    return [{"households": int(len(g)), "area_m2": round(area_m2(session, p), 1),
             "geometry": shapely.geometry.mapping(p)} for g, p in zip(groups, pieces, strict=False)]
