"""Plausible townships, villages and grids inside a real county boundary.

Everything is built in local metres (an affine map, see LocalProjection) and snapped to a
1 cm precision grid (GEOS snap-rounding overlay), so neighbouring cells share
identical vertices: the comprehensive layer tiles each village with no overlap
and no gap, villages tile townships and townships tile the county. Shapes are
Voronoi cells of seeds (relaxed twice, Lloyd-style, so they look like real
administrative units rather than shards), clipped to their parent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import shapely
from shapely.geometry import MultiPoint, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

GRID_SIZE_M = 0.01  # snap-rounding precision of every generated polygon


@dataclass(frozen=True)
class LocalProjection:
    """WGS84 ↔ local metres by an *affine* (equirectangular) map centred on the county.

    Why affine and not a transverse Mercator: an affine map sends straight
    segments to straight segments, so a coverage that is valid and gap-free in
    metres stays exactly so in degrees. With a curved projection, a long edge
    passing a centimetre from a vertex can cross it after the transform (seen:
    two self-intersecting grids and overlaps of ~20 m² once repaired). The
    scale error (<0.2% at the edge of a county) is irrelevant for generated
    shapes; every stored area is measured on the spheroid by PostGIS.
    """

    lon0: float
    lat0: float

    @cached_property
    def _scale(self) -> tuple[float, float]:
        phi = np.radians(self.lat0)
        per_lat = 111132.954 - 559.822 * np.cos(2 * phi) + 1.175 * np.cos(4 * phi)
        per_lon = 111412.84 * np.cos(phi) - 93.5 * np.cos(3 * phi)
        return float(per_lon), float(per_lat)

    def xy_to_metres(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        kx, ky = self._scale
        return (np.asarray(lon) - self.lon0) * kx, (np.asarray(lat) - self.lat0) * ky

    def xy_to_degrees(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        kx, ky = self._scale
        return np.asarray(x) / kx + self.lon0, np.asarray(y) / ky + self.lat0

    def to_metres(self, geom: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geom, lambda c: np.column_stack(self.xy_to_metres(c[:, 0], c[:, 1])))

    def to_degrees(self, geom: BaseGeometry | np.ndarray) -> BaseGeometry | np.ndarray:
        return shapely.transform(geom, lambda c: np.column_stack(self.xy_to_degrees(c[:, 0], c[:, 1])))


def as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    """Keep only the polygonal parts (clipping can leave lines and points behind)."""
    polys = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and not p.is_empty]
    return MultiPolygon(polys)


def random_points_in(geom: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform random points inside ``geom`` (rejection sampling, vectorised)."""
    minx, miny, maxx, maxy = geom.bounds
    out: list[np.ndarray] = []
    got = 0
    shapely.prepare(geom)
    while got < n:
        k = max(64, 2 * (n - got))
        x = rng.uniform(minx, maxx, k)
        y = rng.uniform(miny, maxy, k)
        inside = shapely.contains_xy(geom, x, y)
        pts = np.column_stack([x[inside], y[inside]])
        out.append(pts)
        got += len(pts)
    return np.concatenate(out)[:n]


def partition(
    parent: BaseGeometry, seeds: np.ndarray, *, relax: int = 2, min_area: float = 0.0
) -> list[MultiPolygon]:
    """Split ``parent`` into Voronoi cells of ``seeds``, one per seed, clipped to it.

    The cells cover ``parent`` exactly (snap-rounded to 1 cm) and do not overlap.
    Lloyd relaxation moves each seed to its cell's centroid first, which gives
    compact, plausible shapes.
    """
    if len(seeds) == 1:
        return [as_multipolygon(shapely.set_precision(parent, GRID_SIZE_M))]
    envelope = shapely.box(*shapely.buffer(parent, 1000).bounds)
    pts = np.asarray(seeds, dtype=float)
    for _ in range(relax):
        cells = _cells(parent, pts, envelope)
        cents = shapely.centroid(cells)
        ok = ~shapely.is_empty(cells)
        pts[ok] = shapely.get_coordinates(cents[ok])
    cells = _cells(parent, pts, envelope)
    result = [as_multipolygon(c) for c in cells]
    if min_area > 0:
        result = _absorb_small(result, min_area)
    return result


def _cells(parent: BaseGeometry, pts: np.ndarray, envelope: Polygon) -> np.ndarray:
    vor = shapely.voronoi_polygons(MultiPoint(pts), extend_to=envelope, ordered=True)
    cells = np.asarray(shapely.get_parts(vor))
    return shapely.intersection(cells, parent, grid_size=GRID_SIZE_M)


def _absorb_small(cells: list[MultiPolygon], min_area: float) -> list[MultiPolygon]:
    """Merge cells (and detached fragments) below ``min_area`` into the neighbour sharing most border.

    Clipping a cell to a ragged real boundary can leave a few-square-metre
    shard; no planner would draw one, and such slivers are what the fusion
    analysis is meant to find in *real* data, not in ours.
    """
    cells = [c for c in cells if not c.is_empty]
    changed = True
    while changed:
        changed = False
        for i, cell in enumerate(cells):
            parts = list(cell.geoms)
            small = [p for p in parts if p.area < min_area] if len(parts) > 1 else (
                parts if cell.area < min_area else []
            )
            if not small:
                continue
            for piece in small:
                j = _best_neighbour(piece, cells, exclude=i)
                if j is None:
                    continue
                cells[j] = as_multipolygon(shapely.union(cells[j], piece, grid_size=GRID_SIZE_M))
                cells[i] = as_multipolygon(shapely.difference(cells[i], piece, grid_size=GRID_SIZE_M))
                changed = True
            if changed:
                cells = [c for c in cells if not c.is_empty]
                break
    return cells


def _best_neighbour(piece: Polygon, cells: list[MultiPolygon], exclude: int) -> int | None:
    boundary = piece.boundary
    best, best_len = None, 0.0
    for j, other in enumerate(cells):
        if j == exclude or not other.intersects(piece.buffer(0.05)):
            continue
        shared = shapely.intersection(boundary, other.buffer(0.05)).length
        if shared > best_len:
            best, best_len = j, shared
    return best


def reading_order(geoms: list[BaseGeometry], band: float | None = None) -> list[int]:
    """Indices of ``geoms`` numbered north→south in rows, west→east within a row.

    Grid codes are numbered this way (the convention of unit-grid coding); the
    row height defaults to the median cell height so rows follow the cells.
    """
    if not geoms:
        return []
    pts = shapely.get_coordinates(shapely.point_on_surface(np.asarray(geoms, dtype=object)))
    if band is None:
        heights = [g.bounds[3] - g.bounds[1] for g in geoms]
        band = max(float(np.median(heights)), 1e-9)
    top = pts[:, 1].max()
    rows = np.floor((top - pts[:, 1]) / band)
    return list(np.lexsort((pts[:, 0], rows)))


@dataclass
class Unit:
    """A generated division or grid, in metres until written."""

    geom: MultiPolygon
    name: str
    code: str = ""
    children: list["Unit"] = field(default_factory=list)
