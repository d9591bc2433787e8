"""Concurrent edits from several connections: one winner per conflict, no deadlock, nothing lost.

These edits really commit, so they run on a small district in a database of their own.
"""

from __future__ import annotations

import threading

from shapely.geometry import LineString
from sqlalchemy import Engine, text

from geo.access.scope import Scope
from geo.db import make_sessionmaker, transaction
from geo.errors import Conflict, NotFound, PreconditionFailed
from geo.grids import editing
from geo.privacy.audit import Actor

ACTOR = Actor(None, "concurrency-test")
COUNTY = Scope.county()


def _run_all(jobs: list, timeout: float = 60) -> list[object]:
    results: list[object] = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def run(i: int, job) -> None:  # noqa: ANN001
        barrier.wait()
        try:
            results[i] = job()
        except Exception as exc:  # noqa: BLE001 - collected and asserted on below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "an edit hung: deadlock?"
    return results


def _grid_pair(engine: Engine) -> tuple[dict, dict]:
    with engine.connect() as c:
        rows = c.execute(text("""
            SELECT g.id, g.version, ST_XMin(g.geom) AS x0, ST_XMax(g.geom) AS x1, ST_Y(ST_Centroid(g.geom)) AS cy,
                   n.id AS nid, n.version AS nversion
              FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
              JOIN grid n ON n.layer_id = g.layer_id AND n.division_id = g.division_id AND n.id > g.id
                   AND ST_Relate(n.geom, g.geom, '****1****')
             WHERE ST_Contains(g.geom, ST_Centroid(g.geom))
             ORDER BY g.id LIMIT 1""")).mappings().one()
    return dict(rows), {"id": rows["nid"], "version": rows["nversion"]}


def invariants(c) -> None:  # noqa: ANN001 - a Connection or Session
    """No overlaps, comprehensive grids tile the county, every household in exactly one grid,
    and the history's open versions are exactly the current grids."""
    if True:
        overlaps = c.execute(text("""
            SELECT count(*) FROM grid a JOIN grid b ON a.id < b.id AND a.layer_id = b.layer_id AND a.geom && b.geom
            JOIN grid_layer l ON l.id = a.layer_id AND NOT l.allow_overlap
            WHERE ST_Relate(a.geom, b.geom, '2********')
              AND ST_Area(ST_Intersection(a.geom, b.geom)::geography) > 0.01""")).scalar_one()
        # Conservation is checked in the storage plane (edges are straight in lon/lat): on the
        # spheroid a new 5 km cut edge is a geodesic, which alone moves areas by ~3e-6.
        county, grids = c.execute(text("""
            SELECT (SELECT ST_Area(geom) FROM division WHERE level = 'county'),
                   (SELECT sum(ST_Area(g.geom)) FROM grid g JOIN grid_layer l ON l.id = g.layer_id
                     WHERE l.code = 'comprehensive')""")).one()
        unassigned, doubled = c.execute(text("""
            SELECT (SELECT count(*) FROM household h WHERE NOT EXISTS (
                        SELECT 1 FROM grid_membership m JOIN grid_layer l ON l.id = m.layer_id
                         AND l.code = 'comprehensive' WHERE m.kind = 'household' AND m.entity_id = h.id)),
                   (SELECT count(*) FROM (SELECT m.entity_id FROM grid_membership m JOIN grid_layer l
                     ON l.id = m.layer_id AND l.code = 'comprehensive' WHERE m.kind = 'household'
                     GROUP BY m.entity_id HAVING count(*) > 1) s)""")).one()
        stale_versions = c.execute(text("""
            SELECT count(*) FROM grid g WHERE NOT EXISTS (
                SELECT 1 FROM grid_version v WHERE v.grid_id = g.id AND v.version = g.version
                  AND v.valid_to IS NULL AND ST_Equals(v.geom, g.geom))""")).scalar_one()
    assert overlaps == 0
    assert abs(county - grids) / county < 1e-9
    assert unassigned == 0 and doubled == 0
    assert stale_versions == 0  # history replays to the current state


def test_same_grid_one_winner(small: Engine) -> None:
    g, _ = _grid_pair(small)
    sm = make_sessionmaker(small)

    def rename(i: int):  # noqa: ANN202
        def job() -> object:
            with transaction(sm) as s:
                return editing.update_attributes(s, ACTOR, COUNTY, g["id"], g["version"], name=f"名{i}")
        return job

    results = _run_all([rename(i) for i in range(6)])
    wins = [r for r in results if isinstance(r, editing.EditResult)]
    assert len(wins) == 1, results
    assert all(isinstance(r, PreconditionFailed) for r in results if r not in wins)
    with small.connect() as c:
        assert c.execute(text("SELECT version FROM grid WHERE id = :g"), {"g": g["id"]}).scalar() == g["version"] + 1


def test_neighbour_edits_in_parallel_never_deadlock_or_lose_updates(small: Engine) -> None:
    g, n = _grid_pair(small)
    sm = make_sessionmaker(small)
    line = LineString([(g["x0"] - 0.01, g["cy"]), (g["x1"] + 0.01, g["cy"])])

    def split() -> object:
        with transaction(sm) as s:
            return editing.split_grid(s, ACTOR, COUNTY, g["id"], g["version"], line)

    def merge() -> object:
        with transaction(sm) as s:
            return editing.merge_grids(s, ACTOR, COUNTY, {g["id"]: g["version"], n["id"]: n["version"]})

    def retire() -> object:
        with transaction(sm) as s:
            return editing.retire_grid(s, ACTOR, COUNTY, n["id"], n["version"])

    def rename() -> object:
        with transaction(sm) as s:
            return editing.update_attributes(s, ACTOR, COUNTY, n["id"], n["version"], name="邻居")

    results = _run_all([split, merge, retire, rename, split, merge])
    wins = [r for r in results if isinstance(r, editing.EditResult)]
    losers = [r for r in results if not isinstance(r, editing.EditResult)]
    assert wins, results
    assert all(isinstance(r, (PreconditionFailed, NotFound, Conflict)) for r in losers), losers
    with small.connect() as c:
        invariants(c)
