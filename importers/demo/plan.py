"""The territorial plan of a demo district: divisions and every grid layer.

Steps (all in metres, see territory.LocalProjection):
1. townships, then villages: relaxed Voronoi partitions of the real boundary;
2. settlements of households in each village (the grids follow them);
3. comprehensive grids: a Voronoi partition of each village, as many per
   village as its share of households asks for;
4. one planar arrangement of all those edges (plus the cut lines of the
   deliberate misalignments), polygonised into faces. Every final polygon is a
   union of faces, so every layer shares exact edges with every other: the
   comprehensive net tiles each village with no overlap and no gap, party grids
   are whole comprehensive grids except where we cut them on purpose, and
   emergency grids are whole villages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Point
from shapely.geometry.base import BaseGeometry

from importers.demo.micro import (
    Households,
    approximate_micro_grids,
    micro_grids_from_faces,
    place_households,
)
from importers.demo.names import place_names, township_suffixes, village_suffixes
from importers.demo.territory import GRID_SIZE_M, LocalProjection, as_multipolygon, partition, random_points_in


class CountyKind(StrEnum):
    """What kind of county the district is, which decides its divisions and settlements (see scale.py).

    ``suburban`` is Huaxi's kind and the generator's historical behaviour: a few streets 街道 at the
    centre, towns 镇 and townships 乡 around them, villages 村 with a few communities 社区.
    """

    URBAN = "urban"  # 城区: streets 街道 and communities 社区 only, households in dense blocks
    SUBURBAN = "suburban"  # 城郊区 (Huaxi)
    RURAL = "rural"  # 县: a county-seat street or two, then towns and townships
    REMOTE = "remote"  # 边远大县: towns and townships, sparse settlements along the roads between their seats


@dataclass(frozen=True)
class PlanParams:
    townships: int = 12
    villages_per_township: int = 12
    grids: int = 548  # the seed figure for Huaxi's rural governance grids
    households: int = 100_000
    party_merge_share: float = 0.35  # share of party grids made of two comprehensive grids
    misalignments: int = 8  # deliberate party/comprehensive misalignments
    villages_per_emergency_grid: int = 3
    # When set, emergency grids are instead an independent partition of the county into this many
    # cells (the benchmark's third layer of 10,000 grids), still noded into the same arrangement.
    emergency_grids: int | None = None
    # Micro-grids 微网格: one per linked-household group (十联户), nested in its comprehensive grid.
    micro_grids: bool = True
    dedicated_per_township: int = 2
    kind: CountyKind = CountyKind.SUBURBAN


@dataclass
class Village:
    name: str
    township: int
    geom: MultiPolygon
    households: np.ndarray  # (n, 2) metres
    settlements: np.ndarray  # (k, 2) metres


@dataclass
class PartyGrid:
    village: int
    grids: list[int]  # comprehensive grids it is made of
    geom: MultiPolygon = field(default_factory=MultiPolygon)
    misaligned_with: int | None = None  # comprehensive grid it cuts, when deliberate


@dataclass
class DistrictPlan:
    proj: LocalProjection
    county: MultiPolygon
    township_names: list[str]
    townships: list[MultiPolygon]
    villages: list[Village]
    grids: list[MultiPolygon]  # comprehensive
    grid_village: np.ndarray
    party: list[PartyGrid]
    emergency: list[tuple[int, list[int], MultiPolygon]]  # township, villages, geom
    dedicated: list[tuple[int, str, MultiPolygon]]  # village, name, geom
    households: Households
    micro: list[MultiPolygon]  # one per linked-household group, empty when not generated


def build_plan(boundary_m: MultiPolygon, proj: LocalProjection, params: PlanParams, seed: int) -> DistrictPlan:
    rng = np.random.default_rng(seed)
    towns = partition(boundary_m, random_points_in(boundary_m, params.townships, rng), min_area=1e5)
    # Suburban (Huaxi) names its townships at the end, as it always did, so its district is unchanged;
    # the other kinds decide them first, because their villages' names depend on them.
    town_kinds = None if params.kind == CountyKind.SUBURBAN else township_suffixes(
        _rank_from_centre(towns), params.kind)
    villages = _villages(towns, params, rng, town_kinds)
    approx_grids, grid_village = _approx_grids(villages, params, rng)
    party = _party_groups(approx_grids, grid_village, params, rng)
    sites = _misalignment_sites(approx_grids, party, params, rng)
    free_cells = (
        partition(boundary_m, random_points_in(boundary_m, params.emergency_grids, rng), relax=1)
        if params.emergency_grids else []
    )
    homes = place_households(villages, approx_grids)
    micro_cells, micro_grid = (
        approximate_micro_grids(approx_grids, homes) if params.micro_grids else ([], np.empty(0, int))
    )
    grids, party_geoms, free_geoms, micro = _exact_layers(
        boundary_m, approx_grids, party, sites, free_cells, micro_cells, micro_grid
    )
    for p, geom in zip(party, party_geoms, strict=True):
        p.geom = geom
    village_geoms = [_union([grids[i] for i in np.flatnonzero(grid_village == v)]) for v in range(len(villages))]
    for v, geom in zip(villages, village_geoms, strict=True):
        v.geom = geom
    town_geoms = [_union([v.geom for v in villages if v.township == t]) for t in range(len(towns))]
    town_names = (_township_names(town_geoms, rng) if town_kinds is None
                  else [n + k for n, k in zip(place_names(rng, len(town_geoms), [""]), town_kinds, strict=True)])
    return DistrictPlan(
        proj=proj,
        county=_union(town_geoms),
        township_names=town_names,
        townships=town_geoms,
        villages=villages,
        grids=grids,
        grid_village=grid_village,
        party=party,
        emergency=_free_emergency(free_geoms, villages) if free_geoms else _emergency(villages, len(towns), params, rng),
        dedicated=_dedicated(villages, params, rng),
        households=homes,
        micro=micro,
    )


def _union(geoms: list[MultiPolygon]) -> MultiPolygon:
    return as_multipolygon(shapely.coverage_union_all(geoms)) if len(geoms) > 1 else geoms[0]


def _rank_from_centre(towns: list[MultiPolygon]) -> np.ndarray:
    """Each township's rank by distance from the county's centre (0: the nearest, the county seat)."""
    centre = shapely.centroid(shapely.union_all(towns))
    order = np.argsort([centre.distance(t.centroid) for t in towns])
    rank = np.empty(len(towns), dtype=int)
    rank[order] = np.arange(len(towns))
    return rank


def _township_names(towns: list[MultiPolygon], rng: np.random.Generator) -> list[str]:
    """The townships nearest the county's centre are urban streets 街道, the rest towns and townships."""
    centre = shapely.centroid(shapely.union_all(towns))
    order = np.argsort([centre.distance(t.centroid) for t in towns])
    names = place_names(rng, len(towns), ["镇", "乡"])
    for rank, idx in enumerate(order):
        if rank < max(1, len(towns) // 4):
            names[idx] = names[idx][:2] + "街道"
    return names


def _villages(
    towns: list[MultiPolygon], params: PlanParams, rng: np.random.Generator, town_kinds: list[str] | None
) -> list[Village]:
    villages: list[Village] = []
    total_area = sum(t.area for t in towns)
    for ti, town in enumerate(towns):
        k = max(2, int(round(params.villages_per_township * len(towns) * town.area / total_area)))
        for cell in partition(town, random_points_in(town, k, rng), min_area=2e4):
            villages.append(Village("", ti, cell, np.empty((0, 2)), np.empty((0, 2))))
    if town_kinds is None:
        names = place_names(rng, len(villages), ["村", "村", "村", "社区"])
    else:
        suffixes = village_suffixes([v.township for v in villages], town_kinds, rng)
        names = [n + k for n, k in zip(place_names(rng, len(villages), [""]), suffixes, strict=True)]
    for v, name in zip(villages, names, strict=True):
        v.name = name
    if params.kind == CountyKind.URBAN:
        _settle_blocks(villages, params.households, rng)
    elif params.kind == CountyKind.REMOTE:
        _settle(villages, params.households, rng, centres=_along_roads(towns, villages), sigma=(40, 150))
    else:
        _settle(villages, params.households, rng)
    return villages


CentreChooser = Callable[[int, int, np.random.Generator], np.ndarray]


def _settle(
    villages: list[Village],
    total: int,
    rng: np.random.Generator,
    *,
    centres: CentreChooser | None = None,
    sigma: tuple[float, float] = (60, 220),
) -> None:
    """Place households in settlements: Gaussian clusters around a few centres per village.

    ``centres(village, k, rng)`` chooses a village's ``k`` settlement centres (default: anywhere in it).
    """
    weights = np.array([np.sqrt(v.geom.area) for v in villages]) * rng.lognormal(0, 0.5, len(villages))
    counts = _allocate(total, weights, minimum=1)
    for vi, (v, n) in enumerate(zip(villages, counts, strict=True)):
        k = 1 + rng.poisson(2)
        where = centres(vi, k, rng) if centres else random_points_in(v.geom, k, rng)
        _scatter(v, where, int(n), sigma, rng)


def _scatter(v: Village, centres: np.ndarray, n: int, sigma: tuple[float, float], rng: np.random.Generator) -> None:
    """``n`` households in Gaussian clusters around ``centres``, inside the village (never in a hole)."""
    k = len(centres)
    shapely.prepare(v.geom)
    pts: list[np.ndarray] = []
    need = n
    while need > 0:
        which = rng.integers(0, k, 2 * need)
        spread = rng.uniform(*sigma, k)[which][:, None]
        cand = centres[which] + rng.normal(0, 1, (2 * need, 2)) * spread
        cand = cand[shapely.contains_xy(v.geom, cand[:, 0], cand[:, 1])][:need]
        pts.append(cand)
        need -= len(cand)
    v.households = np.concatenate(pts) if pts else np.empty((0, 2))
    v.settlements = centres


URBAN_HOUSEHOLDS_PER_BLOCK = 80  # a residential block of a few buildings 小区


def _settle_blocks(villages: list[Village], total: int, rng: np.random.Generator) -> None:
    """Urban communities: households in blocks of ~80 spread over the whole community, by area.

    A city has no empty land between hamlets: density is even, so a community's share of the
    households follows its area, and each block is a tight cluster (σ 8–25 m) of flats.
    """
    weights = np.array([v.geom.area for v in villages]) * rng.lognormal(0, 0.25, len(villages))
    counts = _allocate(total, weights, minimum=1)
    for v, n in zip(villages, counts, strict=True):
        k = max(1, int(round(n / URBAN_HOUSEHOLDS_PER_BLOCK)))
        _scatter(v, random_points_in(v.geom, k, rng), int(n), (8, 25), rng)


def _along_roads(towns: list[MultiPolygon], villages: list[Village]) -> CentreChooser:
    """Settlement centres near the roads of a remote county.

    We have no road or terrain data offline, so the roads are generated: trunk roads form the
    shortest tree joining the township seats (a point inside each township), and every village's
    seat has a feeder road to the nearest trunk. A village's settlements are the points of a random
    sample of it nearest those roads, so they string along them.
    """
    roads = generated_roads(towns, [v.geom for v in villages])

    def choose(vi: int, k: int, rng: np.random.Generator) -> np.ndarray:
        cand = random_points_in(villages[vi].geom, 12 * k, rng)
        near = np.argsort(shapely.distance(roads, shapely.points(cand)))
        return cand[near[:k]]

    return choose


def generated_roads(towns: list[MultiPolygon], villages: list[MultiPolygon]) -> BaseGeometry:
    """Trunk roads joining the township seats (their shortest tree) and a feeder from each village's
    seat to the nearest trunk road; the seats are points inside each division."""
    seats = shapely.get_coordinates(shapely.point_on_surface(np.asarray(towns, dtype=object)))
    trunk = (shapely.multilinestrings([[seats[a], seats[b]] for a, b in _spanning_tree(seats)]) if len(seats) > 1
             else shapely.points(seats[0]))
    village_seats = shapely.point_on_surface(np.asarray(villages, dtype=object))
    return shapely.union_all([trunk, *shapely.shortest_line(village_seats, trunk)])


def _spanning_tree(points: np.ndarray) -> list[tuple[int, int]]:
    """Edges of the Euclidean minimum spanning tree of ``points`` (Prim; a county has ≤ 40 seats)."""
    n = len(points)
    dist = np.hypot(*(points[:, None, :] - points[None, :, :]).transpose(2, 0, 1))
    inside = np.zeros(n, dtype=bool)
    inside[0] = True
    best = dist[0].copy()
    parent = np.zeros(n, dtype=int)
    edges = []
    for _ in range(n - 1):
        nxt = int(np.argmin(np.where(inside, np.inf, best)))
        edges.append((int(parent[nxt]), nxt))
        inside[nxt] = True
        closer = dist[nxt] < best
        parent[closer] = nxt
        best = np.minimum(best, dist[nxt])
    return edges


def _allocate(total: int, weights: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder), each ≥ ``minimum``."""
    n = len(weights)
    rest = total - minimum * n
    if rest < 0:
        raise ValueError(f"cannot give {n} parts at least {minimum} each out of {total}")
    share = weights / weights.sum() * rest
    counts = np.floor(share).astype(int)
    counts[np.argsort(counts - share)[: rest - counts.sum()]] += 1
    return counts + minimum


def _approx_grids(
    villages: list[Village], params: PlanParams, rng: np.random.Generator
) -> tuple[list[MultiPolygon], np.ndarray]:
    """Comprehensive grids per village, seeded on households so grids follow settlements."""
    # Every village gets a grid, even when relaxation left a few more villages than asked for.
    total = max(params.grids, len(villages))
    counts = _allocate(total, np.array([len(v.households) + 1.0 for v in villages]), minimum=1)
    grids: list[MultiPolygon] = []
    owner: list[int] = []
    for vi, (v, k) in enumerate(zip(villages, counts, strict=True)):
        k = int(min(k, max(1, len(v.households))))
        if len(v.households) >= k:
            seeds = v.households[rng.choice(len(v.households), k, replace=False)]
        else:
            seeds = random_points_in(v.geom, k, rng)
        cells = partition(v.geom, seeds, relax=1, min_area=500)
        grids.extend(cells)
        owner.extend([vi] * len(cells))
    return grids, np.asarray(owner)


def _adjacent(geoms: list[MultiPolygon]) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(geoms, dtype=object)
    tree = shapely.STRtree(arr)
    a, b = tree.query(shapely.buffer(arr, 0.05), predicate="intersects")
    keep = a < b
    return a[keep], b[keep]


def _party_groups(
    grids: list[MultiPolygon], grid_village: np.ndarray, params: PlanParams, rng: np.random.Generator
) -> list[PartyGrid]:
    """Group comprehensive grids into party grids: mostly one each, some adjacent pairs (双网合一)."""
    a, b = _adjacent(grids)
    same = grid_village[a] == grid_village[b]
    pairs = list(zip(a[same], b[same], strict=True))
    rng.shuffle(pairs)
    taken = np.zeros(len(grids), dtype=bool)
    groups: list[PartyGrid] = []
    want = int(params.party_merge_share * len(grids) / 2)
    for i, j in pairs:
        if len(groups) >= want:
            break
        if not taken[i] and not taken[j]:
            taken[i] = taken[j] = True
            groups.append(PartyGrid(int(grid_village[i]), [int(i), int(j)]))
    groups += [PartyGrid(int(grid_village[i]), [int(i)]) for i in np.flatnonzero(~taken)]
    return groups


@dataclass(frozen=True)
class _Site:
    """A deliberate misalignment: the part of grid ``victim`` inside ``disc`` goes to party grid ``to_party``."""

    victim: int
    to_party: int
    disc: object


def _misalignment_sites(
    grids: list[MultiPolygon], party: list[PartyGrid], params: PlanParams, rng: np.random.Generator
) -> list[_Site]:
    party_of = np.empty(len(grids), dtype=int)
    for pi, p in enumerate(party):
        party_of[p.grids] = pi
    a, b = _adjacent(grids)
    village = np.empty(len(grids), dtype=int)
    for p in party:
        village[p.grids] = p.village
    # Same village only: a party grid must stay inside its village; the misalignment is with the
    # comprehensive grids, not with the village boundary (the topology report flags that).
    cand = [(i, j) for i, j in zip(a, b, strict=True) if party_of[i] != party_of[j] and village[i] == village[j]]
    rng.shuffle(cand)
    sites: list[_Site] = []
    used: set[int] = set()
    for i, j in cand:
        if len(sites) >= params.misalignments:
            break
        if {int(i), int(j), party_of[i], party_of[j]} & used:
            continue
        border = shapely.intersection(grids[i].boundary, grids[j].buffer(0.05))
        if border.length < 50:
            continue
        centre = shapely.line_interpolate_point(shapely.line_merge(border), 0.5, normalized=True)
        if centre.is_empty:
            centre = border.centroid
        radius = 0.3 * np.sqrt(min(grids[i].area, grids[j].area))
        disc = Point(centre.x, centre.y).buffer(radius, 16)
        sites.append(_Site(victim=int(j), to_party=int(party_of[i]), disc=disc))
        used |= {int(i), int(j), int(party_of[i]), int(party_of[j])}
    return sites


def _exact_layers(
    boundary: MultiPolygon,
    approx: list[MultiPolygon],
    party: list[PartyGrid],
    sites: list[_Site],
    free_cells: list[MultiPolygon],
    micro_cells: list[MultiPolygon],
    micro_grid: np.ndarray,
) -> tuple[list[MultiPolygon], list[MultiPolygon], list[MultiPolygon], list[MultiPolygon]]:
    """Rebuild every polygon from one noded arrangement so that all layers share exact edges."""
    edges = [shapely.boundary(g) for g in approx + free_cells + micro_cells] + [boundary.boundary]
    edges += [shapely.intersection(s.disc.boundary, approx[s.victim].buffer(1.0)) for s in sites]
    noded = shapely.union_all(edges, grid_size=GRID_SIZE_M)
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))))
    reps = shapely.point_on_surface(faces)
    tree = shapely.STRtree(np.asarray(approx, dtype=object))
    owner = np.full(len(faces), -1)
    fi, gi = tree.query(reps, predicate="within")
    owner[fi[::-1]] = gi[::-1]
    faces, reps, owner = _drop_holes(boundary, faces, reps, owner)
    lost = np.flatnonzero(owner < 0)  # centimetre slivers between near-identical edges
    if len(lost):
        owner[lost] = tree.query_nearest(reps[lost], all_matches=False)[1]
    grids = [as_multipolygon(shapely.coverage_union_all(faces[owner == i])) for i in range(len(approx))]

    party_of_grid = np.empty(len(approx), dtype=int)
    for pi, p in enumerate(party):
        party_of_grid[p.grids] = pi
    face_party = party_of_grid[owner]
    for s in sites:
        inside = (owner == s.victim) & shapely.within(reps, s.disc)
        face_party[inside] = s.to_party
        # Both party grids now split comprehensive grid ``victim``: the one that took a piece and the one
        # that kept the rest.
        party[s.to_party].misaligned_with = s.victim
        party[party_of_grid[s.victim]].misaligned_with = s.victim
    party_geoms = [as_multipolygon(shapely.coverage_union_all(faces[face_party == pi])) for pi in range(len(party))]
    free_geoms: list[MultiPolygon] = []
    if free_cells:
        free_tree = shapely.STRtree(np.asarray(free_cells, dtype=object))
        free_owner = free_tree.query_nearest(reps, all_matches=False)[1]  # the cell containing it, or nearest
        free_geoms = [as_multipolygon(shapely.coverage_union_all(faces[free_owner == k])) for k in range(len(free_cells))]
        free_geoms = [g for g in free_geoms if not g.is_empty]
    micro = micro_grids_from_faces(faces, reps, owner, micro_cells, micro_grid) if micro_cells else []
    return grids, party_geoms, free_geoms, micro


HOLE_TOLERANCE_M = 0.05  # farther than this outside the boundary, a face is not a snap-rounding sliver


def _drop_holes(
    boundary: MultiPolygon, faces: np.ndarray, reps: np.ndarray, owner: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Remove the faces that lie in the county's holes (an enclave of another county, a reservoir).

    Polygonising the noded edges also fills every ring, a hole's included: such a face lies in
    no approximate grid, and giving it to the nearest one (as we do for centimetre slivers)
    filled Hechuan's 1,540 m² hole. A sliver's point lies on or within centimetres of the
    boundary; a hole's lies clearly outside it.
    """
    lost = np.flatnonzero(owner < 0)
    if len(lost) == 0:
        return faces, reps, owner
    outside = lost[~shapely.dwithin(boundary, reps[lost], HOLE_TOLERANCE_M)]
    keep = np.ones(len(faces), dtype=bool)
    keep[outside] = False
    return faces[keep], reps[keep], owner[keep]


def _free_emergency(cells: list[MultiPolygon], villages: list[Village]) -> list[tuple[int, list[int], MultiPolygon]]:
    """Emergency grids of an independent partition, each filed under the township of its largest overlap."""
    tree = shapely.STRtree(np.asarray([v.geom for v in villages], dtype=object))
    out = []
    for cell in cells:
        hits = tree.query(cell.representative_point(), predicate="intersects")
        vi = int(hits[0]) if len(hits) else int(tree.query_nearest(cell.representative_point())[0])
        out.append((villages[vi].township, [vi], cell))
    return out


def _emergency(
    villages: list[Village], n_towns: int, params: PlanParams, rng: np.random.Generator
) -> list[tuple[int, list[int], MultiPolygon]]:
    """Emergency grids: whole adjacent villages of one township, a few at a time."""
    out = []
    for t in range(n_towns):
        members = [i for i, v in enumerate(villages) if v.township == t]
        remaining = set(members)
        while remaining:
            start = min(remaining, key=lambda i: villages[i].geom.centroid.x)
            group = [start]
            remaining.discard(start)
            while len(group) < params.villages_per_emergency_grid and remaining:
                union = _union([villages[i].geom for i in group])
                touching = [i for i in remaining if villages[i].geom.buffer(0.05).intersects(union)]
                if not touching:
                    break
                nxt = min(touching, key=lambda i: villages[i].geom.centroid.distance(union.centroid))
                group.append(nxt)
                remaining.discard(nxt)
            out.append((t, group, _union([villages[i].geom for i in group])))
    return out


def _dedicated(
    villages: list[Village], params: PlanParams, rng: np.random.Generator
) -> list[tuple[int, str, MultiPolygon]]:
    """Dedicated grids 专属网格: a school, market or clinic site at a settlement centre."""
    kinds = ["中心学校", "农贸市场", "卫生院", "工业园区", "小学"]
    out = []
    for t in sorted({v.township for v in villages}):
        members = [i for i, v in enumerate(villages) if v.township == t and len(v.settlements)]
        for vi in rng.choice(members, min(len(members), params.dedicated_per_township), replace=False):
            v = villages[int(vi)]
            cx, cy = v.settlements[0]
            w, h = rng.uniform(120, 300, 2)
            # No snap-rounding here: it could push the site a centimetre outside its village.
            site = shapely.intersection(shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), v.geom)
            site = as_multipolygon(site)
            if not site.is_empty:
                out.append((int(vi), v.name + str(rng.choice(kinds)), site))
    return out
