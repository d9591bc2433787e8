"""Benchmarks: `make bench` (python -m bench.run). Not part of the test suite.

1. Demo load: the default demo district (548 grids, 100k households), timed;
   then splitting a grid of ~500 households and merging two grids on it
   (`--editing-only` stops there).
2. Bulk assignment of ~1,000,000 households to three layers of ~10,000 grids
   each, persisted, against the obvious way (one UPDATE … FROM … WHERE
   ST_Covers per layer into per-layer columns), same data, same run; results
   compared row by row.
3. /locate over HTTP against a trivial SELECT 1 endpoint on the same server
   and pool, with wrk: throughput and p50/p99 latency.
4. The multi-net fusion analysis of the three layers (bench/fusion.py).
5.–7. Emergency response, report intake, heavy requests (their modules).
8. Importing 1,000,000 households from a GCJ-02 CSV, committed, against ogr2ogr
   (bench/import_households.py).
10. Label circles per write against per read, and place search (bench/labels_search.py).
Figures go to stdout; record them in bench/README.md with the core count.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.common import SCALE, WRK_SCRIPT, alternate_rounds, bench_token, fresh_database, timed, uvicorn_server, wrk
from geo.bulk import analyze_after_load
from geo.db import make_engine, make_sessionmaker, transaction
from geo.locating.assign import assign_all
from geo.models import MemberKind
from geo.settings import DatabaseSettings
from importers.demo import clear_district, load_demo
from importers.demo.loader import DATA_TABLES


def bench_demo_load(results: dict[str, float]) -> str:
    url = fresh_database("gridmap_bench_demo")
    engine = make_engine(DatabaseSettings(database_url=url))
    sm = make_sessionmaker(engine)
    with timed("demo load (548 grids, 100k households, committed)", results), transaction(sm) as s:
        load_demo(s)
    with timed("VACUUM (ANALYZE) after the commit, as `gridmap demo` does (geo.bulk.analyze_after_load)", results):
        analyze_after_load(engine, DATA_TABLES)
    engine.dispose()
    return url


def bench_editing(url: str, results: dict[str, float], repeats: int = 7) -> None:
    """Split the most populous grid in two and merge two neighbours, each with reassignment and history.

    Each run is its own transaction, rolled back, so every run edits the same grids; the median is kept.
    """
    import statistics

    from shapely.geometry import LineString

    from geo.access.scope import Scope
    from geo.grids import editing
    from geo.privacy.audit import Actor

    engine = make_engine(DatabaseSettings(database_url=url))
    actor, county = Actor(None, "bench"), Scope.county()
    with engine.connect() as c:
        g = c.execute(text("""
            SELECT g.id, g.version, ST_XMin(g.geom) x0, ST_XMax(g.geom) x1, ST_Y(ST_Centroid(g.geom)) cy,
                   (SELECT count(*) FROM grid_membership m WHERE m.grid_id = g.id AND m.kind = 'household') n,
                   n.id AS nid, n.version AS nversion,
                   (SELECT count(*) FROM grid_membership m WHERE m.grid_id = n.id AND m.kind = 'household') nn
              FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
              JOIN LATERAL (SELECT * FROM grid n WHERE n.layer_id = g.layer_id AND n.division_id = g.division_id
                             AND n.id <> g.id AND ST_Relate(n.geom, g.geom, '****1****') ORDER BY n.id LIMIT 1) n ON true
             WHERE ST_Contains(g.geom, ST_Centroid(g.geom))
             ORDER BY abs((SELECT count(*) FROM grid_membership m WHERE m.grid_id = g.id AND m.kind = 'household')
                          - 500) LIMIT 1""")).mappings().one()
    line = LineString([(g["x0"] - 0.01, g["cy"]), (g["x1"] + 0.01, g["cy"])])
    sm = make_sessionmaker(engine)

    def once(edit) -> float:  # noqa: ANN001
        s = sm()
        try:
            start = time.perf_counter()
            edit(s)
            s.flush()
            return time.perf_counter() - start
        finally:
            s.rollback()
            s.close()

    split = [once(lambda s: editing.split_grid(s, actor, county, g["id"], g["version"], line)) for _ in range(repeats)]
    merge = [once(lambda s: editing.merge_grids(s, actor, county, {g["id"]: g["version"], g["nid"]: g["nversion"]}))
             for _ in range(repeats)]
    results["split ms"] = statistics.median(split) * 1000
    results["merge ms"] = statistics.median(merge) * 1000
    print(f"  split a grid of {g['n']} households in two (reassignment, history, audit): "
          f"median {results['split ms']:.0f} ms of {repeats} (min {min(split) * 1000:.0f}, "
          f"first {split[0] * 1000:.0f})")
    print(f"  merge it with a neighbour of {g['nn']} households: "
          f"median {results['merge ms']:.0f} ms of {repeats} (min {min(merge) * 1000:.0f}, "
          f"first {merge[0] * 1000:.0f})")
    print(f"  load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    engine.dispose()


def bench_assignment(url: str, results: dict[str, float]) -> None:
    engine = make_engine(DatabaseSettings(database_url=url, statement_timeout_ms=3_600_000))
    sm = make_sessionmaker(engine)
    with timed("generate 1M households, 3 x ~10k grids (not assigned)", results), transaction(sm) as s:
        clear_district(s)
        load_demo(s, params=SCALE, cameras_per_township=50, events=5_000, residents=False, assign=False)
    with transaction(sm) as s:
        layers = dict(s.execute(text(
            "SELECT l.code, l.id FROM grid_layer l WHERE l.code IN ('comprehensive', 'party', 'emergency')")).all())
        grids = dict(s.execute(text("SELECT l.code, count(*) FROM grid g JOIN grid_layer l ON l.id = g.layer_id"
                                    " GROUP BY l.code")).all())
        n = s.execute(text("SELECT count(*) FROM household")).scalar_one()
    print(f"  data: {n:,} households; grids per layer {grids}")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE"))  # settled statistics and visibility map for both runs

    with timed("ours: set-based assignment to 3 layers, persisted", results), transaction(sm) as s:
        assign_all(s, kinds=[MemberKind.HOUSEHOLD], layer_ids=list(layers.values()))

    # The obvious design: a column per layer on the household table itself, indexed so that
    # "what is inside this grid" is an index lookup too, filled by one UPDATE per layer. The copy
    # carries household's own indexes, as the real table would.
    naive_sql = [
        "DROP TABLE IF EXISTS naive_household",
        "CREATE TABLE naive_household (LIKE household INCLUDING ALL)",
        "INSERT INTO naive_household SELECT * FROM household",
        *(f"ALTER TABLE naive_household ADD COLUMN {code}_id int" for code in layers),
        *(f"CREATE INDEX ON naive_household ({code}_id)" for code in layers),
        "ANALYZE naive_household",
    ]
    with transaction(sm) as s:
        for sql in naive_sql:
            s.execute(text(sql))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE naive_household"))
    with timed("naive: one UPDATE … FROM … WHERE ST_Covers per layer", results), transaction(sm) as s:
        for code, layer_id in layers.items():
            s.execute(text(
                f"UPDATE naive_household h SET {code}_id = g.id FROM grid g"
                " WHERE g.layer_id = :l AND ST_Covers(g.geom, h.geom)"), {"l": layer_id})
    with transaction(sm) as s:
        for code, layer_id in layers.items():
            diff, ties = s.execute(text(f"""
                SELECT count(*) FILTER (WHERE m.grid_id IS DISTINCT FROM h.{code}_id),
                       count(*) FILTER (WHERE m.grid_id IS DISTINCT FROM h.{code}_id
                                        AND ST_Covers((SELECT geom FROM grid WHERE id = h.{code}_id), h.geom))
                  FROM naive_household h
                  LEFT JOIN grid_membership m ON m.kind = 'household' AND m.entity_id = h.id AND m.layer_id = :l
            """), {"l": layer_id}).one()
            print(f"  {code}: {diff} households differ between the two, {ties} of them on a shared edge (tie rule)")
        s.execute(text("DROP TABLE naive_household"))
    ratio = results["naive: one UPDATE … FROM … WHERE ST_Covers per layer"] / results[
        "ours: set-based assignment to 3 layers, persisted"]
    print(f"  speed-up: {ratio:.1f}x")
    engine.dispose()



def bench_http(url: str, results: dict[str, float], *, seconds: int = 6) -> None:
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)
    if not shutil.which("wrk"):
        print("  wrk is not installed (apt-get install wrk); skipping the HTTP benchmark")
        return
    token = bench_token(url)
    engine = create_engine(url)
    with engine.connect() as c:
        pts = c.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM household ORDER BY random() LIMIT 2000")).all()
    engine.dispose()
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write(WRK_SCRIPT % ",".join(f"{{{x:.6f},{y:.6f}}}" for x, y in pts))
    script.close()
    try:
        with uvicorn_server(url) as base:
            wrk(f"{base}/health/db", None, 2, 16)  # warm up both workers and pools
            wrk(base, script.name, 2, 16, token)
            trivial, locate, ratios = alternate_rounds(lambda: wrk(f"{base}/health/db", None, seconds, 16),
                                                       lambda: wrk(base, script.name, seconds, 16, token))
    finally:
        os.unlink(script.name)
    for name, r in (("GET /health/db (SELECT 1)", trivial), ("GET /locate", locate)):
        print(f"  {name}: {r['rps']:.0f} req/s, p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, non-2xx {r['errors']:.0f}")
        results[f"{name} req/s"] = r["rps"]
    print(f"  /locate throughput = {locate['rps'] / trivial['rps']:.0%} of the trivial endpoint (median rounds;"
          f" per-round ratios {', '.join(f'{r:.0%}' for r in ratios)})")


def main() -> None:
    results: dict[str, float] = {}
    print(f"gridmap benchmarks on {os.cpu_count()} cores")
    if not {"--skip-demo", "--http-only"} & set(sys.argv):
        print("[1] demo load, then editing on it")
        demo_url = bench_demo_load(results)
        bench_editing(demo_url, results)
        if "--editing-only" in sys.argv:
            return
    if "--http-only" in sys.argv:  # reuse the database of the last full run
        url = make_url(DatabaseSettings().database_url).set(
            database="gridmap_bench").render_as_string(hide_password=False)
    else:
        print("[2] bulk assignment at scale")
        url = fresh_database("gridmap_bench")
        bench_assignment(url, results)
    print("[3] HTTP /locate vs SELECT 1 (1M households, 3 x 10k grids)")
    bench_http(url, results)
    from bench.fusion import bench_fusion  # heavy imports: load it only when needed

    print("[4] multi-net fusion analysis (same database)")
    bench_fusion(url, results)
    from bench import emergency, intake  # each has its own database

    print("[5] emergency response")
    emergency.run(results)
    print("[6] report intake")
    intake.run(results)
    from bench import heavy  # its own database

    print("[7] heavy requests against /locate (one account, 30 at once)")
    heavy.run(results)
    from bench import import_households  # its own database

    print("[8] household import: 1,000,000 rows from a GCJ-02 CSV, against ogr2ogr on the same file")
    import_households.run(results)
    from bench import import_grids  # its own database

    print("[9] importing 10,000 grids with full validation")
    import_grids.run(results)
    from bench import labels_search  # its own database, and section 2's

    print("[10] label circles and place search")
    labels_search.run(results, url)


if __name__ == "__main__":
    main()
