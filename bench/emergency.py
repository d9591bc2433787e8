"""Emergency benchmark (`python -m bench.emergency`): nearest-10 available responders among
100,000, in a district of 1,000,000 households.

1. The query alone (``geo.emergency.responders.nearest`` through SQLAlchemy, and its candidate
   SQL on a bare psycopg2 cursor), over 2,000 random incident points: p50/p99, and
   how often the exactness check needed a second, larger candidate fetch.
2. Over HTTP with wrk: ``GET /responders/nearest?k=10`` (bearer token, scope,
   coarsening, JSON) against the trivial ``GET /health/db`` (SELECT 1) on the same
   server and pool, alternating rounds in one run; medians kept (bench/run.py).
   ``/locate`` runs in the same rounds as a reference for how loaded the machine is.

Own throw-away database: ``gridmap_bench_emergency``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

from sqlalchemy import text

from bench.common import ROUNDS, bench_token, fresh_database, uvicorn_server, wrk
from bench.common import WRK_SCRIPT as LOCATE_SCRIPT
from geo.access.scope import Scope
from geo.db import make_engine, make_sessionmaker, transaction
from geo.emergency import responders
from geo.emergency.around import around
from geo.settings import DatabaseSettings

DATABASE = "gridmap_bench_emergency"
RESPONDERS = 100_000
HOUSEHOLDS = 1_000_000
QUERIES = 2_000

WRK_SCRIPT = """
local points = {%s}
local i = 0
request = function()
  i = i %% #points + 1
  return wrk.format(nil, "/responders/nearest?k=10&lon=" .. points[i][1] .. "&lat=" .. points[i][2])
end
"""


def build(url: str) -> None:
    from importers.demo import PlanParams, clear_district, load_demo

    engine = make_engine(DatabaseSettings(database_url=url, statement_timeout_ms=3_600_000))
    sm = make_sessionmaker(engine)
    start = time.perf_counter()
    with transaction(sm) as s:
        clear_district(s)
        load_demo(s, params=PlanParams(households=HOUSEHOLDS, micro_grids=False), cameras_per_township=50, events=5_000,
                  residents=False, assign=False)
    print(f"  demo district with {HOUSEHOLDS:,} households: {time.perf_counter() - start:.1f} s", flush=True)
    start = time.perf_counter()
    with transaction(sm) as s:
        # Responders where people live, up to ~500 m away; states in the demo's mix; last fixes spread
        # over the past hour, so about half are stale (30 min) and excluded.
        s.execute(text("""
            INSERT INTO staff (name, role, phone, availability, home, position, position_at, position_accuracy_m)
            SELECT 'R' || n,
                   (ARRAY['grid_worker','grid_assistant','grid_head','emergency_team','department']
                     )[1 + floor(random() * 5)::int]::staff_role,
                   '13800138000',
                   (CASE WHEN r < 0.45 THEN 'available' WHEN r < 0.70 THEN 'on_duty' WHEN r < 0.82 THEN 'busy'
                         WHEN r < 0.97 THEN 'off_duty' ELSE 'out_of_service' END)::availability,
                   geom, ST_Translate(geom, (random() - 0.5) * 0.01, (random() - 0.5) * 0.01),
                   now() - random() * interval '60 minutes', 5 + random() * 30
              FROM (SELECT geom, random() AS r, row_number() OVER () AS n
                      FROM (SELECT geom FROM household ORDER BY random() LIMIT :n) h) x"""), {"n": RESPONDERS})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE"))
        mix = dict(c.execute(text("SELECT availability, count(*) FROM staff GROUP BY 1")).all())
    print(f"  {RESPONDERS:,} responders: {time.perf_counter() - start:.1f} s; states {mix}", flush=True)
    engine.dispose()


def _points(url: str, n: int) -> list[tuple[float, float]]:
    engine = make_engine(DatabaseSettings(database_url=url))
    with engine.connect() as c:
        pts = c.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM household ORDER BY random() LIMIT :n"), {"n": n}).all()
    engine.dispose()
    return [(float(x), float(y)) for x, y in pts]


def _pct(values: list[float], p: float) -> float:
    return sorted(values)[min(len(values) - 1, int(p * len(values)))]


def bench_sql(url: str, results: dict[str, float]) -> None:
    """The query without HTTP, as the server's role runs it."""
    pts = _points(url, QUERIES)
    engine = make_engine(DatabaseSettings(database_url=url))
    sm = make_sessionmaker(engine)
    fetches = {"n": 0}
    original = responders.candidates

    def counting(*args: Any, **kwargs: Any) -> list[responders.Candidate]:
        fetches["n"] += 1
        return original(*args, **kwargs)

    responders.candidates = counting  # type: ignore[assignment]
    times = []
    try:
        with sm() as s:
            for lon, lat in pts[:100]:  # warm the cache
                responders.nearest(s, responders.Search(lon, lat, k=10), scope=Scope.county())
            fetches["n"] = 0
            for lon, lat in pts:
                t = time.perf_counter()
                rows = responders.nearest(s, responders.Search(lon, lat, k=10), scope=Scope.county())
                times.append((time.perf_counter() - t) * 1000)
                assert len(rows) == 10
    finally:
        responders.candidates = original  # type: ignore[assignment]
    results["nearest p50 ms"] = statistics.median(times)
    print(f"  geo.emergency.responders.nearest (k=10, exact): p50 {statistics.median(times):.2f} ms, p99 {_pct(times, 0.99):.2f}"
          f" ms, mean {statistics.fmean(times):.2f} ms; candidate fetches per query"
          f" {fetches['n'] / len(pts):.3f}", flush=True)
    n = 10 + 6  # what nearest() fetches first for k=10
    raw = engine.raw_connection()  # a pooled connection: the statement is prepared on it
    try:
        cur = raw.cursor()
        times = []
        for lon, lat in pts:
            t = time.perf_counter()
            cur.execute("EXECUTE gridmap_responders_knn(%s, %s, %s, 30, false, '{}')",
                        (lon, lat, n))
            cur.fetchall()
            times.append((time.perf_counter() - t) * 1000)
        raw.rollback()
    finally:
        raw.close()
    print(f"  its prepared candidate SQL alone on a psycopg2 cursor ({n} rows): p50 {statistics.median(times):.2f} ms,"
          f" p99 {_pct(times, 0.99):.2f} ms", flush=True)

    times = []
    with sm() as s:
        s.execute(text("SELECT set_config('gridmap.scope_all', 'on', true)"))
        for lon, lat in pts[:300]:
            t = time.perf_counter()
            around(s, lon, lat, 200, scope=Scope.county(), limit=50)
            times.append((time.perf_counter() - t) * 1000)
    print(f"  geo.emergency.around.around (200 m: households, cameras by field of view, grids and heads, open events):"
          f" p50 {statistics.median(times):.2f} ms, p99 {_pct(times, 0.99):.2f} ms", flush=True)
    engine.dispose()


def bench_http(url: str, results: dict[str, float], *, seconds: int = 6) -> None:
    if not shutil.which("wrk"):
        print("  wrk is not installed (apt-get install wrk); skipping the HTTP benchmark")
        return
    # A county-wide ``emergency`` account (no pii:read: positions come back coarsened, as in production).
    token = bench_token(url, "bench_dispatch", "emergency")
    points = ",".join(f"{{{x:.6f},{y:.6f}}}" for x, y in _points(url, 2000))
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write(WRK_SCRIPT % points)
    script.close()
    locate = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # reference: /locate, same run
    locate.write(LOCATE_SCRIPT % points)
    locate.close()
    try:
        with uvicorn_server(url) as base:
            wrk(f"{base}/health/db", None, 2, 16)
            wrk(base, script.name, 2, 16, token)
            rounds: dict[str, list[dict[str, float]]] = {"trivial": [], "nearest": [], "locate": []}
            for _ in range(ROUNDS):
                rounds["trivial"].append(wrk(f"{base}/health/db", None, seconds, 16))
                rounds["nearest"].append(wrk(base, script.name, seconds, 16, token))
                rounds["locate"].append(wrk(base, locate.name, seconds, 16, token))
            trivial, nearest, located = (sorted(rounds[k], key=lambda r: r["rps"])[ROUNDS // 2]
                                         for k in ("trivial", "nearest", "locate"))
            ratios = sorted(n["rps"] / t["rps"] for t, n in zip(rounds["trivial"], rounds["nearest"], strict=True))
    finally:
        os.unlink(script.name)
        os.unlink(locate.name)
    for name, r in (("GET /health/db (SELECT 1)", trivial), ("GET /responders/nearest?k=10", nearest),
                    ("GET /locate (reference)", located)):
        print(f"  {name}: {r['rps']:.0f} req/s, p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, non-2xx {r['errors']:.0f}")
        results[f"{name} req/s"] = r["rps"]
    print(f"  /responders/nearest throughput = {nearest['rps'] / trivial['rps']:.0%} of the trivial endpoint (median"
          f" rounds; per-round ratios {', '.join(f'{x:.0%}' for x in ratios)}); /locate in the same run:"
          f" {located['rps'] / trivial['rps']:.0%}", flush=True)


def run(results: dict[str, float]) -> None:
    """``--reuse`` (or bench/run.py's ``--http-only``) measures again on the last database instead of building it."""
    print(f"[emergency] nearest-10 of {RESPONDERS:,} responders, {HOUSEHOLDS:,} households")
    if {"--reuse", "--http-only"} & set(sys.argv):
        from sqlalchemy.engine import make_url

        from geo.settings import DatabaseSettings

        url = make_url(DatabaseSettings().database_url).set(
            database=DATABASE).render_as_string(hide_password=False)
        engine = make_engine(DatabaseSettings(database_url=url))
        with transaction(make_sessionmaker(engine)) as s:  # fresh fixes again, as after build()
            s.execute(text("UPDATE staff SET position_at = now() - random() * interval '60 minutes'"
                           " WHERE name LIKE 'R%'"))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE staff"))  # the update left a dead copy of every row
        engine.dispose()
    else:
        url = fresh_database(DATABASE)
        build(url)
    if "--http-only" not in sys.argv:
        bench_sql(url, results)
    bench_http(url, results)


if __name__ == "__main__":
    print(f"gridmap emergency benchmark on {os.cpu_count()} cores")
    run({})
