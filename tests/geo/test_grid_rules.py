"""The grid rules on the generated district: measures, settings, the regroup path, and the stored output copy."""

from __future__ import annotations

import pytest
from shapely import wkb
from shapely.geometry import LineString
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.errors import Conflict, InvalidInput
from geo.grids import editing
from geo.grids.rules import measure
from geo.privacy.audit import Actor
from geo.settings import GridRules

ACTOR = Actor(None, "rules-test")
COUNTY = Scope.county()


def _grid(session: Session) -> dict:
    return dict(session.execute(text("""
        SELECT g.id, g.version, g.code, g.division_id, ST_AsEWKB(g.geom) AS geom, ST_Area(g.geom::geography) AS area,
               ST_XMin(g.geom) x0, ST_XMax(g.geom) x1, ST_Y(ST_Centroid(g.geom)) cy,
               n.id AS nid, n.version AS nversion
          FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
          JOIN grid n ON n.layer_id = g.layer_id AND n.division_id = g.division_id AND n.id <> g.id
               AND ST_Relate(n.geom, g.geom, '****1****')
         WHERE ST_Contains(g.geom, ST_Centroid(g.geom)) ORDER BY g.code LIMIT 1""")).mappings().one())


def test_measure_gives_area_and_width_in_metres(session: Session) -> None:
    g = _grid(session)
    m = measure(session, bytes(g["geom"]))
    assert abs(m.area_m2 - g["area"]) < 1e-6 * g["area"]
    assert 0 < m.width_m ** 2 < 4 * m.area_m2 / 3.14  # the widest circle fits in the grid
    # A strip 1 m wide and 200 m long, just north of the grid's centre line.
    d = 1 / 110_574
    strip = session.execute(text("SELECT ST_AsEWKB(ST_MakeEnvelope(:x, :y, :x + 200 / (111320 * cos(radians(:y))),"
                                 " :y + :d, 4326))"), {"x": g["x0"], "y": g["cy"], "d": d}).scalar_one()
    s = measure(session, bytes(strip))
    assert abs(s.width_m - 1) < 0.02 and abs(s.area_m2 - 200) < 2


def test_the_settings_decide_what_a_sliver_is(session: Session) -> None:
    """A split the defaults allow is refused when the minimum area is above its pieces, and nothing is written."""
    g = _grid(session)
    line = LineString([(g["x0"] - 0.01, g["cy"]), (g["x1"] + 0.01, g["cy"])])
    strict = GridRules(grid_min_area_m2=g["area"])  # no piece can be as large as the whole
    with pytest.raises(InvalidInput, match="a grid must have at least"):
        with session.begin_nested():
            editing.split_grid(session, ACTOR, COUNTY, g["id"], g["version"], line, rules=strict)
    assert session.execute(text("SELECT version FROM grid WHERE id = :g"), {"g": g["id"]}).scalar() == g["version"]
    with session.begin_nested():
        result = editing.split_grid(session, ACTOR, COUNTY, g["id"], g["version"], line, rules=GridRules())
    assert len(result.grids) >= 2


def test_regroup_that_leaves_a_gap_is_refused(session: Session) -> None:
    """reshape_grids (多网融合 regroup) checks the full-cover rule too: two grids shrunk together."""
    g = _grid(session)
    shapes = {i: bytes(s) for i, s in session.execute(text(
        "SELECT id, ST_AsEWKB(ST_Multi(ST_Buffer(geom::geography, -20)::geometry)) FROM grid WHERE id = ANY(:i)"),
        {"i": [g["id"], g["nid"]]}).all()}
    with pytest.raises(Conflict) as refused:
        with session.begin_nested():
            editing.reshape_grids(session, ACTOR, COUNTY, {g["id"]: g["version"], g["nid"]: g["nversion"]}, shapes)
    gap = refused.value.extra["gap"]
    assert gap["area_m2"] > 100 and gap["orphans"]["household"] >= 0
    assert session.execute(text("SELECT version FROM grid WHERE id = :g"), {"g": g["id"]}).scalar() == g["version"]


def test_the_output_copy_is_valid_on_the_grid_and_follows_every_write(session: Session) -> None:
    bad = session.execute(text("""
        SELECT count(*) FROM grid WHERE geom_out IS NULL OR NOT ST_IsValid(geom_out)
            OR ST_Area(ST_SymDifference(geom, geom_out)::geography) > 0.02 * ST_Perimeter(geom::geography)""")
        ).scalar_one()
    assert bad == 0  # valid, and what differs lies within a centimetre or two of the boundary
    g = _grid(session)
    grown = wkb.loads(bytes(session.execute(text(
        "SELECT ST_AsBinary(ST_Multi(ST_Buffer(geom::geography, 10)::geometry)) FROM grid WHERE id = :g"),
        {"g": g["id"]}).scalar_one()))
    with session.begin_nested():
        editing.reshape_grid(session, ACTOR, COUNTY, g["id"], g["version"], grown,
                             options=editing.EditOptions(parent_mode="clip", overlap_mode="trim"))
    same = session.execute(text(
        "SELECT ST_Equals(geom_out, ST_Multi(ST_ReducePrecision(geom, 1e-7))) FROM grid WHERE id = :g"),
        {"g": g["id"]}).scalar_one()
    assert same
    assert session.execute(text("SELECT bool_and(ST_IsValid(geom_out)) FROM grid_version WHERE grid_id = :g"),
                           {"g": g["id"]}).scalar_one()


def test_merge_and_retire_results_pass_the_rules_too(session: Session) -> None:
    """The merged grid and the absorbing grid are checked like any other shape (here with a limit above them)."""
    g = _grid(session)
    huge = GridRules(grid_min_area_m2=1e12)
    with pytest.raises(Conflict, match="the merged grid is"):
        with session.begin_nested():
            editing.merge_grids(session, ACTOR, COUNTY, {g["id"]: g["version"], g["nid"]: g["nversion"]}, rules=huge)
    with pytest.raises(Conflict, match="with " + g["code"]):
        with session.begin_nested():
            editing.retire_grid(session, ACTOR, COUNTY, g["id"], g["version"], rules=huge)
    assert session.execute(text("SELECT count(*) FROM grid WHERE id = ANY(:i)"),
                           {"i": [g["id"], g["nid"]]}).scalar_one() == 2
