"""Invariants of the generated district, checked in PostGIS."""

from __future__ import annotations

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session


def test_comprehensive_layer_has_no_overlaps(session: Session) -> None:
    # ST_Relate '2********': interiors share an area. ST_Overlaps alone would miss containment.
    n = session.execute(text("""
        SELECT count(*) FROM grid a JOIN grid b ON a.id < b.id AND a.layer_id = b.layer_id AND a.geom && b.geom
        JOIN grid_layer l ON l.id = a.layer_id
        WHERE l.code IN ('comprehensive', 'party', 'emergency') AND ST_Relate(a.geom, b.geom, '2********')
    """)).scalar_one()
    assert n == 0


def test_comprehensive_grids_tile_each_village_without_gaps(session: Session) -> None:
    rows = session.execute(text("""
        SELECT v.code, ST_Area(v.geom::geography) AS village,
               ST_Area(ST_SymDifference(v.geom, ST_Union(g.geom))::geography) AS mismatch
          FROM division v
          JOIN grid g ON g.division_id = v.id
          JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
         WHERE v.level = 'village'
         GROUP BY v.id
    """)).all()
    assert len(rows) == session.execute(text("SELECT count(*) FROM division WHERE level = 'village'")).scalar_one()
    worst = max(r.mismatch for r in rows)
    assert worst < 1e-3, f"gap or overflow of {worst} m² in a village"  # floating-point noise only


def test_villages_tile_the_county(session: Session) -> None:
    county, villages = session.execute(text("""
        SELECT (SELECT ST_Area(geom::geography) FROM division WHERE level = 'county'),
               (SELECT sum(ST_Area(geom::geography)) FROM division WHERE level = 'village')
    """)).one()
    assert abs(county - villages) / county < 1e-9


def test_every_household_is_assigned_in_every_full_cover_layer(session: Session, district) -> None:  # noqa: ANN001
    rows = session.execute(text("""
        SELECT l.code, count(m.entity_id) FROM grid_layer l
        LEFT JOIN grid_membership m ON m.layer_id = l.id AND m.kind = 'household'
        WHERE l.full_cover GROUP BY l.code
    """)).all()
    assert {code: n for code, n in rows} == {
        "comprehensive": district.households, "party": district.households, "emergency": district.households,
    }


def test_assignment_matches_an_independent_shapely_computation(session: Session) -> None:
    """Every stored comprehensive-grid assignment equals Shapely's covers test (STRtree)."""
    grids = session.execute(text("""
        SELECT g.id, g.code, ST_AsBinary(g.geom) FROM grid g JOIN grid_layer l ON l.id = g.layer_id
        WHERE l.code = 'comprehensive' ORDER BY g.code
    """)).all()
    homes = session.execute(text("""
        SELECT h.id, ST_X(h.geom), ST_Y(h.geom), m.grid_id FROM household h
        JOIN grid_membership m ON m.kind = 'household' AND m.entity_id = h.id
        JOIN grid_layer l ON l.id = m.layer_id AND l.code = 'comprehensive'
    """)).all()
    polys = shapely.from_wkb([bytes(g[2]) for g in grids])
    tree = shapely.STRtree(polys)
    xy = np.array([(h[1], h[2]) for h in homes])
    pts = shapely.points(xy)
    pi, gi = tree.query(pts, predicate="covered_by")
    expected = np.full(len(homes), -1)
    expected[pi[::-1]] = gi[::-1]  # first match = smallest code, as grids are in code order
    ids = np.array([g[0] for g in grids])
    assert (ids[expected] == np.array([h[3] for h in homes])).all()


def test_party_grids_are_whole_comprehensive_grids_except_deliberate_misalignments(session: Session, district) -> None:  # noqa: ANN001,E501
    cut = session.execute(text("""
        SELECT DISTINCT p.code FROM grid p
        JOIN grid_layer pl ON pl.id = p.layer_id AND pl.code = 'party'
        JOIN grid c ON c.geom && p.geom
        JOIN grid_layer cl ON cl.id = c.layer_id AND cl.code = 'comprehensive'
        WHERE ST_Relate(p.geom, c.geom, '2********')
          AND ST_Area(ST_Intersection(p.geom, c.geom)::geography) / ST_Area(c.geom::geography) BETWEEN 0.02 AND 0.98
    """)).scalars().all()
    assert sorted(cut) == district.misaligned_party_grids
    assert len(cut) >= 5


def test_grid_codes_follow_the_division_code(session: Session) -> None:
    bad = session.execute(text("""
        SELECT count(*) FROM grid g JOIN division d ON d.id = g.division_id JOIN grid_layer l ON l.id = g.layer_id
        WHERE left(g.code, 12) <> d.code OR substr(g.code, 13, 2) <> l.code_prefix
    """)).scalar_one()
    assert bad == 0


def test_linked_household_groups_have_10_to_15_households(session: Session) -> None:
    """Groups (十联户) stay inside one comprehensive grid; a grid with 20 or more
    households can always be split into groups of 10–15, so only smaller grids
    may have smaller groups."""
    rows = session.execute(text("""
        WITH hg AS (
            SELECT h.group_id, m.grid_id FROM household h
            JOIN grid_membership m ON m.kind = 'household' AND m.entity_id = h.id
            JOIN grid_layer l ON l.id = m.layer_id AND l.code = 'comprehensive'),
        per_grid AS (SELECT grid_id, count(*) AS n FROM hg GROUP BY grid_id)
        SELECT hg.group_id, count(*) AS size, count(DISTINCT hg.grid_id) AS grids, max(p.n) AS grid_households
          FROM hg JOIN per_grid p USING (grid_id) GROUP BY hg.group_id
    """)).all()
    assert all(r.size <= 15 for r in rows)
    assert all(r.size >= 10 or r.grid_households < 20 for r in rows)
    assert sum(r.grids > 1 for r in rows) <= len(rows) * 0.01  # edge households may fall to the neighbour


def test_micro_grids_nest_in_their_comprehensive_grid_without_overlaps(session: Session) -> None:
    outside, total = session.execute(text("""
        SELECT count(*) FILTER (WHERE NOT ST_CoveredBy(m.geom, c.geom) OR cl.code <> 'comprehensive'), count(*)
          FROM grid m JOIN grid_layer ml ON ml.id = m.layer_id AND ml.code = 'micro'
          JOIN grid c ON c.id = m.parent_grid_id JOIN grid_layer cl ON cl.id = c.layer_id
    """)).one()
    assert total > 1000 and outside == 0
    overlaps = session.execute(text("""
        SELECT count(*) FROM grid a JOIN grid b ON a.id < b.id AND a.layer_id = b.layer_id AND a.geom && b.geom
        JOIN grid_layer l ON l.id = a.layer_id AND l.code = 'micro' WHERE ST_Relate(a.geom, b.geom, '2********')
    """)).scalar_one()
    assert overlaps == 0


def test_each_linked_household_group_is_one_micro_grid(session: Session, district) -> None:  # noqa: ANN001
    """十联户: a group's households lie in one micro-grid of 10–15 households."""
    rows = session.execute(text("""
        SELECT h.group_id, count(DISTINCT m.grid_id) AS grids, count(*) AS households
          FROM household h
          JOIN grid_membership m ON m.kind = 'household' AND m.entity_id = h.id
          JOIN grid_layer l ON l.id = m.layer_id AND l.code = 'micro'
         GROUP BY h.group_id
    """)).all()
    assert sum(r.households for r in rows) == district.households  # every household has a micro-grid
    assert sum(r.grids == 1 for r in rows) / len(rows) > 0.995  # a household a centimetre off may differ
