"""Benchmark: multi-net fusion analysis (多网融合) at county scale. `python -m bench.fusion`.

Data: bench/run.py's scale district (bench_assignment's builder): ~1M households,
three layers of ~10,000 grids each (comprehensive; party with 50 deliberate
misalignment sites; emergency as an independent partition of the county), all
households assigned. Built once into its own database ``gridmap_bench_fusion``
(``--reuse`` skips the build when it is there).

Measured, same run, same data:
1. ours: geo.fusion.analyse over the three layers for the whole county (the
   per-layer topology checks, every configured rule between them, and the
   scores), median of a few runs;
2. naive: for one pair of layers, Shapely all-pairs (every grid of A against
   every grid of B, intersection area in a metric projection) on a sample of A,
   extrapolated to all of A and to the three rules — it would take hours whole.
"""

from __future__ import annotations

import statistics
import sys
import time

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.common import SCALE, fresh_database
from geo.access.scope import Scope
from geo.db import make_engine, make_sessionmaker, transaction
from geo.fusion.analysis import analyse
from geo.fusion.pairs import pair_pieces
from geo.fusion.rules import list_rules
from geo.grids.topology import get_layer_row, layer_problems, region_of
from geo.locating.assign import assign_all
from geo.migrate import upgrade
from geo.models import MemberKind
from geo.settings import DatabaseSettings
from importers.demo import clear_district, load_demo

DATABASE = "gridmap_bench_fusion"


def _url() -> str:

    base = DatabaseSettings().database_url
    return make_url(base).set(database=DATABASE).render_as_string(hide_password=False)


def build(results: dict[str, float]) -> str:
    """The scale district, assigned, in its own database (about 3 minutes here)."""
    url = fresh_database(DATABASE)
    engine = make_engine(DatabaseSettings(database_url=url, statement_timeout_ms=3_600_000))
    sm = make_sessionmaker(engine)
    start = time.perf_counter()
    with transaction(sm) as s:
        clear_district(s)
        summary = load_demo(s, params=SCALE, cameras_per_township=50, events=5_000, residents=False, assign=False)
    with transaction(sm) as s:
        layers = list(s.execute(text(
            "SELECT id FROM grid_layer WHERE code IN ('comprehensive', 'party', 'emergency')")).scalars())
        assign_all(s, kinds=[MemberKind.HOUSEHOLD], layer_ids=layers)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE"))
    results["build s"] = time.perf_counter() - start
    print(f"  built in {results['build s']:.0f} s: {summary.households:,} households, grids {summary.grids},"
          f" {len(summary.misaligned_party_grids)} deliberately misaligned party grids", flush=True)
    engine.dispose()
    return url


def _exists(url: str) -> bool:
    base = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with base.connect() as c:
            return bool(c.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": DATABASE}).scalar())
    finally:
        base.dispose()


def main() -> None:
    results: dict[str, float] = {}
    url = _url()
    if "--reuse" in sys.argv and _exists(url):
        upgrade(url)
    else:
        print("[fusion] building the scale district", flush=True)
        url = build(results)
    if "--build-only" in sys.argv:
        return
    bench_fusion(url, results)


def _median_run(sm, workers: int, repeats: int) -> tuple[float, dict]:  # noqa: ANN001
    times, report = [], {}
    for _ in range(repeats):
        with sm() as s:
            start = time.perf_counter()
            report = analyse(s, Scope.county(), workers=workers)
            times.append(time.perf_counter() - start)
    return statistics.median(times), report


def bench_ours(url: str, results: dict[str, float], repeats: int = 3) -> None:
    engine = make_engine(DatabaseSettings(database_url=url, statement_timeout_ms=600_000))
    sm = make_sessionmaker(engine)
    with sm() as s:
        grids = dict(s.execute(text("SELECT l.code, count(*) FROM grid g JOIN grid_layer l ON l.id = g.layer_id"
                                    " GROUP BY l.code")).all())
        households = s.execute(text("SELECT count(*) FROM household")).scalar_one()
    print(f"  data: {households:,} households; grids {grids}")
    for workers in (2, 1):
        t, report = _median_run(sm, workers, repeats)
        results[f"ours, {workers} connection(s) s"] = t
        print(f"  ours, whole county, 3 layers, {len(report['rules'])} rules, {workers} connection(s):"
              f" median {t:.2f} s of {repeats}", flush=True)
    with sm() as s:  # where the time goes, one check at a time on one connection
        region = region_of(s, s.execute(text("SELECT id FROM division WHERE level = 'county'")).scalar_one())
        parts = []
        for rule in (r for r in list_rules(s) if r.enabled and r.fine.layer_code != "micro"):
            start = time.perf_counter()
            pair_pieces(s, rule, region)
            parts.append(f"{rule.fine.name} in {rule.coarse.name} {time.perf_counter() - start:.2f} s")
        for code in ("comprehensive", "party", "emergency"):
            start = time.perf_counter()
            layer_problems(s, get_layer_row(s, code), region[0], region)
            parts.append(f"{code} topology {time.perf_counter() - start:.2f} s")
    print("  one by one: " + "; ".join(parts))
    print(f"  found: {report['summary']}; {len(report['suggestions'])} suggestions;"
          f" county area score {report['score']['area_score']:.4f}")
    party = [p for p in report["problems"] if p["kind"] == "misalignment" and p["layer"] == "layer:party"]
    with sm() as s:
        deliberate = set(s.execute(text("SELECT code FROM grid WHERE notes LIKE 'demo: deliberately misaligned%'"))
                         .scalars())
    found = {p["grids"][0] for p in party}
    print(f"  deliberately misaligned party grids found: {len(found & deliberate)} of {len(deliberate)};"
          f" other party grids flagged: {len(found - deliberate)}")
    engine.dispose()


def bench_naive(url: str, results: dict[str, float], sample: int = 40) -> None:
    """Shapely all-pairs, the way a script would do it: every comprehensive grid against every party
    grid, intersection areas in a metric projection, no spatial index. Run on a sample, extrapolated."""
    import numpy as np
    import shapely
    from pyproj import Transformer

    engine = create_engine(url)
    with engine.connect() as c:
        rows = c.execute(text("""SELECT l.code, ST_AsBinary(g.geom) FROM grid g JOIN grid_layer l ON l.id = g.layer_id
                                 WHERE l.code IN ('comprehensive', 'party') ORDER BY g.id""")).all()
        lon, lat = c.execute(text("SELECT ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom)) FROM division"
                                  " WHERE level = 'county'")).one()
    engine.dispose()
    start = time.perf_counter()
    to_m = Transformer.from_crs("EPSG:4326", f"+proj=tmerc +lon_0={lon} +lat_0={lat} +ellps=GRS80 +units=m",
                                always_xy=True)
    geoms = {"comprehensive": [], "party": []}
    for code, wkb in rows:
        geoms[code].append(shapely.from_wkb(bytes(wkb)))
    fine = shapely.transform(np.asarray(geoms["comprehensive"]), lambda xy: np.column_stack(to_m.transform(
        xy[:, 0], xy[:, 1])))
    coarse = shapely.transform(np.asarray(geoms["party"]), lambda xy: np.column_stack(to_m.transform(
        xy[:, 0], xy[:, 1])))
    setup = time.perf_counter() - start
    start = time.perf_counter()
    for f in fine[:sample]:
        areas = shapely.area(shapely.intersection(f, coarse))
        _shares = areas[areas > 0] / f.area
    per_fine = (time.perf_counter() - start) / sample
    estimate = setup + per_fine * len(fine)
    results["naive pair s (extrapolated)"] = estimate
    print(f"  naive (Shapely all-pairs, no index): {sample} of {len(fine):,} comprehensive grids against all"
          f" {len(coarse):,} party grids in {per_fine * sample:.1f} s ({per_fine * 1000:.0f} ms each);"
          f" projecting {setup:.1f} s; extrapolated for ONE pair of layers: {estimate:.0f} s"
          f" ({estimate / 60:.1f} min), without households, overlaps or gaps")


def bench_fusion(url: str, results: dict[str, float]) -> None:
    bench_ours(url, results)
    bench_naive(url, results)
    ours = results["ours, 2 connection(s) s"]
    print(f"  naive one pair / ours everything: {results['naive pair s (extrapolated)'] / ours:.0f}x")


if __name__ == "__main__":
    main()
