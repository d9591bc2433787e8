"""Benchmark: importing 1,000,000 households from a CSV in GCJ-02 (issue 13), against ogr2ogr.

The county is the assignment benchmark's (bench.common.SCALE: 1,000 villages, ~10,000 grids in each
of three layers). Its generated households are written out as a register would be — 户编号, address,
village code, 十联户 group code, residents, needs, and GCJ-02 coordinates as an AMap picker gives
them — and removed from the database; then the file is imported the real way: read, converted to
WGS84 (geo/spatial/crs.py), planned (every check of importers/load/households.py), applied (groups,
households, assignment to every layer, audit) and committed, in one transaction.

Yardstick, same file, same run: ``ogr2ogr -f PostgreSQL`` loading the CSV into a fresh table (COPY,
its own GiST index) with no conversion, no checks and no assignment. Target: under 60 s, and at
most twice ogr2ogr's time.

The file is read by importers/files' own reader (read_source), as ``gridmap import`` does;
``--rows N`` runs a smaller county and file.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.common import SCALE, fresh_database, timed
from geo.access.scope import Scope
from geo.bulk import analyze_after_load
from geo.db import make_engine, make_sessionmaker, transaction
from geo.privacy.audit import Actor
from geo.settings import DatabaseSettings
from geo.spatial.crs import wgs84_to_gcj02
from importers.demo import PlanParams, clear_district, load_demo
from importers.files.read import read_source
from importers.files.source import SourceTable
from importers.load import households
from importers.load.context import ImportContext

# Column names that importers/files (imp-read's readers) recognise by default, so the same file can
# be read by them too.
HEADER = ["户编号", "地址", "区划代码", "十联户编号", "人口数", "帮扶对象", "经度", "纬度"]
NEEDS = {"elderly_alone": "独居老人", "disabled": "残疾人"}


def build_county(url: str, params: PlanParams, results: dict[str, float]) -> None:
    engine = make_engine(DatabaseSettings(database_url=url, statement_timeout_ms=3_600_000))
    with timed(f"generate the county: {params.grids:,} grids per layer, {params.households:,} households",
               results), transaction(make_sessionmaker(engine)) as s:
        clear_district(s)
        load_demo(s, params=params, cameras_per_township=5, events=10, residents=False, assign=False)
    engine.dispose()


def write_register(url: str, path: str) -> int:
    """The generated households as a county's register CSV (GCJ-02), then removed from the database."""
    engine = make_engine(DatabaseSettings(database_url=url, statement_timeout_ms=3_600_000))
    with engine.connect() as c:
        rows = c.execute(text("""
            SELECT 'HX' || lpad(CAST(h.id AS text), 8, '0'), h.address, d.code, g.code, h.residents,
                   array_to_string(CAST(h.needs_help AS text[]), '、'), ST_X(h.geom), ST_Y(h.geom)
              FROM household h JOIN division d ON d.id = h.division_id
              LEFT JOIN linked_household_group g ON g.id = h.group_id ORDER BY h.id""")).all()
    cols = list(zip(*rows))
    lon, lat = wgs84_to_gcj02(np.array(cols[6]), np.array(cols[7]))
    needs = [v.replace("elderly_alone", NEEDS["elderly_alone"]).replace("disabled", NEEDS["disabled"]) for v in cols[5]]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(zip(cols[0], cols[1], cols[2], cols[3], cols[4], needs,
                        (f"{x:.7f}" for x in lon), (f"{y:.7f}" for y in lat)))
    with engine.begin() as c:
        c.execute(text("TRUNCATE household, linked_household_group RESTART IDENTITY CASCADE"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return len(rows)


def read_register(path: str) -> SourceTable:
    """The real path: importers/files' CSV reader (Arrow), the default Chinese column names, GCJ-02 declared."""
    return read_source(path, "households", crs="gcj02")


def run_ogr2ogr(url: str, path: str) -> float:
    u = make_url(url)
    dsn = f"PG:host={u.host or 'localhost'} port={u.port or 5432} dbname={u.database} user={u.username}"
    env = {**os.environ, "PGPASSWORD": u.password or ""}
    with make_engine(DatabaseSettings(database_url=url)).begin() as c:
        c.execute(text("DROP TABLE IF EXISTS ogr_household"))
    start = time.perf_counter()
    subprocess.run(["ogr2ogr", "-f", "PostgreSQL", dsn, path, "-nln", "ogr_household", "-a_srs", "EPSG:4326",
                    "-oo", "X_POSSIBLE_NAMES=经度", "-oo", "Y_POSSIBLE_NAMES=纬度", "-lco", "GEOMETRY_NAME=geom"],
                   check=True, env=env, capture_output=True)
    elapsed = time.perf_counter() - start
    with make_engine(DatabaseSettings(database_url=url)).begin() as c:
        n = c.execute(text("SELECT count(*) FROM ogr_household")).scalar_one()
        c.execute(text("DROP TABLE ogr_household"))
    print(f"  ogr2ogr -f PostgreSQL (COPY, GiST index; no conversion, checks or assignment): {elapsed:.2f} s,"
          f" {n:,} rows", flush=True)
    return elapsed


def import_register(url: str, path: str, results: dict[str, float]) -> None:
    engine = make_engine(DatabaseSettings(database_url=url, statement_timeout_ms=3_600_000))
    ctx = ImportContext(actor=Actor(None, "bench"), scope=Scope.county())
    start = time.perf_counter()
    table = read_register(path)
    read = time.perf_counter() - start
    with transaction(make_sessionmaker(engine)) as s:
        t0 = time.perf_counter()
        report = households.apply(s, table, ctx)
        applied = time.perf_counter() - t0
        t1 = time.perf_counter()
    total = time.perf_counter() - start
    results["household import, committed"] = total
    print(f"  ours: read + GCJ-02→WGS84 {read:.2f} s, plan + apply (checks, groups, households, 3 layers, audit)"
          f" {applied:.2f} s, commit {time.perf_counter() - t1:.2f} s; total {total:.2f} s", flush=True)
    print(f"  report: {report.counts}, {len(report.problems)} problems, reassigned {report.reassigned}")
    with engine.connect() as c:
        n, members = c.execute(text("SELECT (SELECT count(*) FROM household),"
                                    " (SELECT count(*) FROM grid_membership WHERE kind = 'household')")).one()
    print(f"  stored {n:,} households, {members:,} memberships")
    analyze_after_load(engine, ["household", "linked_household_group", "grid_membership"])
    with transaction(make_sessionmaker(engine)) as s:
        start = time.perf_counter()
        again = households.plan(s, read_register(path), ctx)
        results["household dry run of the same file"] = time.perf_counter() - start
    print(f"  the same file again, dry run: {again.counts} in {results['household dry run of the same file']:.2f} s")
    engine.dispose()


def run(results: dict[str, float], rows: int = 1_000_000) -> None:
    print(f"  {os.cpu_count()} cores, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    params = SCALE if rows == SCALE.households else PlanParams(
        townships=4, villages_per_township=10, grids=max(50, rows // 100), households=rows, micro_grids=False)
    url = fresh_database("gridmap_bench_import")
    build_county(url, params, results)
    path = os.path.join(tempfile.mkdtemp(prefix="gridmap-bench-"), "households_gcj02.csv")
    try:
        n = write_register(url, path)
        print(f"  register: {n:,} rows, {os.path.getsize(path) / 1e6:.0f} MB", flush=True)
        ogr = run_ogr2ogr(url, path) if shutil.which("ogr2ogr") else None
        if ogr is None:
            print("  ogr2ogr is not installed (make gdal); no comparison")
        import_register(url, path, results)
        if ogr is not None:
            ogr2 = run_ogr2ogr(url, path)
            best = min(ogr, ogr2)
            results["ogr2ogr"] = best
            print(f"  ours / ogr2ogr (its faster run) = {results['household import, committed'] / best:.2f}"
                  f" (target ≤ 2); load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


if __name__ == "__main__":
    n = int(sys.argv[sys.argv.index("--rows") + 1]) if "--rows" in sys.argv else 1_000_000
    run({}, n)
