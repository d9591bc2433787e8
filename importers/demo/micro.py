"""Households and micro-grids 微网格 of the demo district.

Each linked-household group 十联户 (10–15 neighbours, formed by balanced
bisection inside a comprehensive grid) gets a micro-grid: the union of its
households' Voronoi cells inside the grid, so every household lies in its own
group's micro-grid, noded into the same arrangement as the other layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import MultiPoint, MultiPolygon

from importers.demo.population import linked_groups
from importers.demo.territory import GRID_SIZE_M, as_multipolygon


@dataclass
class Households:
    """Every household of the district, in village order, with its (approximate) grid and group."""

    xy: np.ndarray  # (n, 2) metres
    village: np.ndarray
    grid: np.ndarray  # comprehensive grid index (by the pre-noding shapes: exact up to centimetres)
    group: np.ndarray  # linked-household group index, groups never cross grids


def place_households(villages: list, grids: list[MultiPolygon]) -> Households:
    xy = np.concatenate([v.households for v in villages])
    village = np.concatenate([np.full(len(v.households), vi) for vi, v in enumerate(villages)])
    tree = shapely.STRtree(np.asarray(grids, dtype=object))
    hi, gi = tree.query(shapely.points(xy), predicate="intersects")
    grid = np.full(len(xy), -1)
    grid[hi[::-1]] = gi[::-1]
    lost = np.flatnonzero(grid < 0)  # in a centimetre seam between the pre-noding shapes
    if len(lost):
        grid[lost] = tree.query_nearest(shapely.points(xy[lost]), all_matches=False)[1]
    return Households(xy, village, grid, linked_groups(grid, xy))


def approximate_micro_grids(grids: list[MultiPolygon], homes: Households) -> tuple[list[MultiPolygon], np.ndarray]:
    """A micro-grid per linked-household group: the union of its households' Voronoi cells
    inside their grid, so every household lies in its own group's micro-grid."""
    n_groups = int(homes.group.max()) + 1
    cells: list[MultiPolygon] = [MultiPolygon()] * n_groups
    group_grid = np.full(n_groups, -1)
    first = np.unique(homes.group, return_index=True)[1]
    group_grid[homes.group[first]] = homes.grid[first]
    for g in np.unique(homes.grid):
        members = np.flatnonzero(homes.grid == g)
        grid = grids[g]
        if len(members) == 1:
            cells[int(homes.group[members[0]])] = grid
            continue
        # Voronoi cells of the grid's households, merged per group *before* clipping:
        # one clip per group instead of one per household (15 s → 2 s for the demo).
        envelope = shapely.box(*shapely.buffer(grid, 1000).bounds)
        vor = np.asarray(shapely.get_parts(
            shapely.voronoi_polygons(MultiPoint(homes.xy[members]), extend_to=envelope, ordered=True)))
        groups = homes.group[members]
        for k in np.unique(groups):
            merged = shapely.coverage_union_all(vor[groups == k])
            cells[int(k)] = as_multipolygon(shapely.intersection(merged, grid, grid_size=GRID_SIZE_M))
    return cells, group_grid


def micro_grids_from_faces(
    faces: np.ndarray, reps: np.ndarray, owner: np.ndarray, cells: list[MultiPolygon], cell_grid: np.ndarray
) -> list[MultiPolygon]:
    """Micro-grids as unions of faces, each face given to a micro cell *of its own grid*, so every
    micro-grid nests exactly inside its comprehensive grid."""
    tree = shapely.STRtree(np.asarray(cells, dtype=object))
    label = np.full(len(faces), -1)
    fi, ci = tree.query(reps, predicate="within")
    same = cell_grid[ci] == owner[fi]
    label[fi[same][::-1]] = ci[same][::-1]
    for f in np.flatnonzero(label < 0):  # centimetre slivers: nearest cell of the same grid
        mine = np.flatnonzero(cell_grid == owner[f])
        if len(mine) == 0:
            continue  # a grid without households has no micro-grid
        label[f] = mine[np.argmin(shapely.distance(np.asarray(cells, dtype=object)[mine], reps[f]))]
    return [as_multipolygon(shapely.coverage_union_all(faces[label == k])) for k in range(len(cells))]
