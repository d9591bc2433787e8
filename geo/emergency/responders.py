"""Nearest available responders: exact geodesic k-nearest-neighbours, index-assisted.

The problem: PostGIS's geography ``<->`` (the only KNN operator the GiST index
can walk for geography) measures on a sphere of radius 6,371,008.8 m, while the
right distance is the geodesic on the WGS84 spheroid (``ST_Distance`` on
geography). The two orders can differ, so "ORDER BY <-> LIMIT k" alone is not
exactly right.

The fix, with a proof of exactness:

1. *Candidate generation* walks the index by sphere distance ``s`` and takes
   the first ``n`` rows that pass the filters (dispatchable, fresh, role,
   territory, radius), computing the spheroid distance ``d`` of each.
2. *Ranking* orders the candidates by their cost (``ranker``; by default ``d``).
3. *Stopping rule.* Everything not fetched has ``s ≥ S`` (``S``: the sphere
   distance of the last fetched row), and for any two points on Earth the
   spheroid geodesic is at least ``(1 − SLACK)·s``: the smallest radius of
   curvature of the WGS84 ellipsoid (the meridian at the equator, 6,335,439 m)
   is 0.558% below the sphere's radius, so no geodesic is shorter than the
   sphere distance by more than that; ``SLACK`` = 0.6% leaves margin for
   rounding. So if the k-th ranked cost is below ``(1 − SLACK)·S``, no unseen
   responder can enter the top k, and the answer is exact. Otherwise ``n`` is
   multiplied by four and step 1 runs again (rare: the first ``n`` is
   ``k + max(6, k/2)``). If fewer than ``n`` rows came back, every candidate was seen.

The seam for road-network distance (pgRouting): a ranker may replace the
straight-line cost with a route length. A route is never shorter than the
geodesic, so ``(1 − SLACK)·S`` stays a lower bound of every unseen responder's
cost and the same stopping rule keeps the answer exact; only the ranker
changes (e.g. one ``pgr_dijkstraCost`` call from the incident's vertex to the
candidates' vertices).

Dispatchable means ``available`` or ``on_duty`` (on shift, not yet committed to
a task); ``busy``, ``off_duty`` and ``out_of_service`` never are. A responder
with no position cannot be measured and is never listed; a position older than
the stale age is excluded, or listed with ``stale: true`` when asked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope, member_filter
from geo.db import PreparedStatement, register_prepared
from geo.models.people import Availability, StaffRole
from geo.privacy.pii import mask_phone

DISPATCHABLE = (Availability.AVAILABLE, Availability.ON_DUTY)
SLACK = 0.006  # max shortfall of the spheroid geodesic below the sphere distance, with margin (see above)
MAX_K = 100


@dataclass(frozen=True)
class Candidate:
    id: int
    sphere_m: float
    geodesic_m: float
    lon: float
    lat: float
    row: dict[str, Any]


# A ranker gives each candidate its cost in metres, never less than its geodesic distance.
Ranker = Callable[[Session, tuple[float, float], Sequence[Candidate]], list[float]]


def straight_line(session: Session, origin: tuple[float, float], candidates: Sequence[Candidate]) -> list[float]:
    """The first version: geodesic distance on the WGS84 spheroid (already computed with the candidates)."""
    return [c.geodesic_m for c in candidates]


@dataclass(frozen=True)
class Search:
    """What to look for; ``lon``/``lat`` in WGS84."""

    lon: float
    lat: float
    k: int = 10
    roles: tuple[StaffRole, ...] = ()
    max_m: float | None = None
    include_stale: bool = False
    stale_minutes: int = 30
    grid_ids: tuple[int, ...] | None = None  # only responders serving one of these grids


# One index walk: the KNN scan yields rows in sphere-distance order, the filters drop rows as it
# goes, and LIMIT stops it; the geodesic is computed for the returned rows only. Filters that every
# query has are parameters, so the common form — county-wide, no radius — is a prepared statement
# (the first cut took 1.09 ms in process, this ~0.45 ms; bench/README.md). Its plan does not depend
# on the values (a KNN walk of the partial index), so a generic plan is as good as a custom one.
# Territory, radius and grid filters are added as SQL and planned with their actual values: a
# generic plan cannot know how many grids a territory has (one seen here scanned grid_membership).
_SELECT = """
SELECT s.id, s.name, s.role, s.phone, s.availability, s.grid_id,
       (SELECT code FROM grid WHERE id = s.grid_id) AS grid_code, s.position_at,
       s.position_accuracy_m AS accuracy_m, s.position_at < now() - make_interval(mins => :stale_min) AS stale,
       ST_X(s.position) AS lon, ST_Y(s.position) AS lat,
       s.position::geography <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography AS sphere_m,
       ST_Distance(s.position::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography) AS geodesic_m
  FROM staff s
 WHERE s.position IS NOT NULL
   AND s.availability IN ('available', 'on_duty')  -- DISPATCHABLE; matches the partial index (0005)
   AND (:allow_stale OR s.position_at >= now() - make_interval(mins => :stale_min))
   AND (cardinality(CAST(:roles AS staff_role[])) = 0 OR s.role = ANY(CAST(:roles AS staff_role[]))){extra}
 ORDER BY s.position::geography <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography
 LIMIT :lim
"""
_KNN = register_prepared(PreparedStatement(
    name="gridmap_responders_knn",
    params=(("lon", "float8"), ("lat", "float8"), ("lim", "int"), ("stale_min", "int"), ("allow_stale", "bool"),
            ("roles", "text[]")),
    sql=_SELECT.format(extra=""),
))


def _params(search: Search, n: int) -> dict[str, Any]:
    return {"lon": search.lon, "lat": search.lat, "lim": n, "stale_min": search.stale_minutes,
            "allow_stale": search.include_stale,
            "roles": [StaffRole(r).value for r in search.roles]}


def candidates(session: Session, search: Search, scope: Scope, n: int) -> list[Candidate]:
    """The first ``n`` responders passing the filters, in sphere-distance order (index KNN)."""
    params = _params(search, n)
    extra = []
    if search.max_m is not None:
        # Index-assisted radius on the sphere, widened so no responder within max_m on the spheroid is lost;
        # it also stops the index walk at the radius when fewer than n responders are inside.
        extra.append("ST_DWithin(s.position::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography,"
                     " :sphere_max, false)")
        params["sphere_max"] = search.max_m / (1 - SLACK)
    if search.grid_ids is not None:
        extra.append("s.grid_id = ANY(:grid_ids)")
        params["grid_ids"] = list(search.grid_ids)
    if not scope.everything:
        clause, scoped = member_filter(scope, "staff", "s")
        extra.append(clause.removeprefix(" AND "))
        params.update(scoped)
    if extra:
        rows = [dict(r) for r in session.execute(
            text(_SELECT.format(extra="".join(f"\n   AND {e}" for e in extra))), params).mappings()]
    else:
        rows = _execute_knn(session, params)
    return [Candidate(r["id"], r["sphere_m"], r["geodesic_m"], r["lon"], r["lat"], r) for r in rows]


def _execute_knn(session: Session, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The prepared KNN on the DBAPI cursor of the session's connection (same transaction).

    Why not ``PreparedStatement.execute``: on this hot path SQLAlchemy's text() compilation and
    result wrapping cost a quarter of the whole query (measured, median of 5 × 1,000: 0.70 → 0.53 ms per
    query with 16 rows); the rows are the same psycopg2 values either way.
    """
    conn = session.connection()
    if _KNN.name not in conn.connection.info.get("gridmap_prepared", ()):
        return [dict(r) for r in _KNN.execute(session, params).mappings()]
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(f"EXECUTE {_KNN.name}({', '.join(['%s'] * len(_KNN.params))})",
                       [params[name] for name, _ in _KNN.params])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        cursor.close()


def nearest(session: Session, search: Search, *, scope: Scope, ranker: Ranker = straight_line) -> list[dict[str, Any]]:
    """The k responders with the lowest cost (default: geodesic metres), exact; see the module docstring."""
    k = search.k
    n = k + max(6, k // 2)  # measured: one fetch suffices for >99% of k=10 queries (bench/README.md)
    while True:
        cands = candidates(session, search, scope, n)
        costs = ranker(session, (search.lon, search.lat), cands)
        ranked = sorted(((cost, c.id, c) for cost, c in zip(costs, cands, strict=True)
                         if search.max_m is None or cost <= search.max_m), key=lambda t: (t[0], t[1]))
        if len(cands) < n:
            break  # every candidate was seen
        bound = cands[-1].sphere_m * (1 - SLACK)  # no unseen responder costs less than this
        if (search.max_m is not None and bound > search.max_m) or (len(ranked) >= k and ranked[k - 1][0] < bound):
            break
        n *= 4
    return [{**c.row, "distance_m": cost} for cost, _, c in ranked[:k]]


def nearest_own_grid_first(
    session: Session, search: Search, own_grids: Sequence[int], *, scope: Scope, ranker: Ranker = straight_line,
) -> list[dict[str, Any]]:
    """Responders serving one of ``own_grids`` first (nearest first), then the nearest others, k in all.

    Both lists are exact: the others are the nearest responders overall minus those already listed.
    """
    own = (nearest(session, Search(**{**search.__dict__, "grid_ids": tuple(own_grids)}), scope=scope, ranker=ranker)
           if own_grids else [])
    seen = {r["id"] for r in own}
    rest = [r for r in nearest(session, search, scope=scope, ranker=ranker) if r["id"] not in seen]
    return [{**r, "own_grid": True} for r in own] + [{**r, "own_grid": False} for r in rest][: search.k - len(own)]


def grids_at(session: Session, lon: float, lat: float) -> list[int]:
    """Every grid (all layers) covering a WGS84 point: the point's "own" grids."""
    return list(session.execute(text(
        "SELECT id FROM grid WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"),
        {"lon": lon, "lat": lat}).scalars())


def event_point(session: Session, event_id: int, scope: Scope) -> tuple[float, float, list[int]]:
    """An event's WGS84 position and its grids (from grid_membership), or NotFound (also outside ``scope``)."""
    from geo.spatial.features import get_feature

    get_feature(session, "events", event_id, scope=scope)
    lon, lat = session.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM event WHERE id = :e"), {"e": event_id}).one()
    grids = list(session.execute(text("SELECT grid_id FROM grid_membership WHERE kind = 'event' AND entity_id = :e"),
                                 {"e": event_id}).scalars())
    return lon, lat, grids


COARSE_M = 100.0  # without pii:read, distances come in 100 m steps and radii are widened to them


def coarse_radius(max_m: float | None) -> float | None:
    """The radius a caller without ``pii:read`` is answered for: the next 100 m step, so moving the radius
    by a metre at a time cannot find a responder's exact distance (and, from three points, their position)."""
    return None if max_m is None else math.ceil(max_m / COARSE_M) * COARSE_M


def present(row: dict[str, Any], *, unmasked: bool) -> dict[str, Any]:
    """A responder as the caller may see them: without ``pii:read`` the phone is masked, the position
    coarsened to ~100 m and the distance given to the nearest 100 m — exact distances from three
    points would give the exact position back. The ranking itself is exact either way."""
    if unmasked:
        return {k: v for k, v in row.items() if k != "sphere_m"}
    out = {k: v for k, v in row.items() if k not in ("sphere_m", "phone")}
    out["phone"] = mask_phone(row.get("phone") or "")
    out["lon"], out["lat"] = round(row["lon"], 3), round(row["lat"], 3)
    out["distance_m"] = max(COARSE_M, round(row["distance_m"] / COARSE_M) * COARSE_M)
    out["position_coarsened"] = True
    return out
