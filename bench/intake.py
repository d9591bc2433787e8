"""Sustained report intake over HTTP: POST /events with location resolution, assignment to every
layer, routing, the transition row, the audit row and duplicate suggestions — against
GET /health/db (SELECT 1) on the same server in the same run.

    python -m bench.intake            # builds the demo district in gridmap_bench_intake first
    python -m bench.intake --reuse    # reuses that database
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

from sqlalchemy import create_engine, text

from bench.common import alternate_rounds, bench_token, fresh_database, timed, uvicorn_server, wrk
from geo.db import make_engine, make_sessionmaker, transaction
from geo.settings import DatabaseSettings
from importers.demo import load_demo

DATABASE = "gridmap_bench_intake"
SCRIPT = """
local points = {%s}
local cats = {"environment.garbage", "public_facilities.street_light", "dispute.neighbour", "safety.fire_hazard"}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  local p = points[i %% #points + 1]
  local body = '{"category":"' .. cats[i %% #cats + 1] .. '","description":"bench","source":"app",' ..
               '"location":{"lon":' .. p[1] .. ',"lat":' .. p[2] .. ',"crs":"gcj02"}}'
  return wrk.format(nil, "/events", nil, body)
end
"""


def bench_intake(url: str, results: dict[str, float], *, seconds: int = 6) -> None:
    if not shutil.which("wrk"):
        print("  wrk is not installed (apt-get install wrk); skipping the intake benchmark")
        return
    from geo.spatial.crs import from_wgs84

    engine = create_engine(url)
    with engine.connect() as c:
        pts = c.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM household ORDER BY random() LIMIT 2000")).all()
        before = c.execute(text("SELECT count(*) FROM event")).scalar_one()
    gx, gy = from_wgs84([p[0] for p in pts], [p[1] for p in pts], "gcj02")  # as a phone sends them
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write(SCRIPT % ",".join(f"{{{x:.7f},{y:.7f}}}" for x, y in zip(gx, gy, strict=True)))
    script.close()
    token = bench_token(url)
    try:
        with uvicorn_server(url) as base:
            wrk(f"{base}/health/db", None, 2, 16)
            wrk(base, script.name, 2, 16, token)
            trivial, intake, ratios = alternate_rounds(lambda: wrk(f"{base}/health/db", None, seconds, 16),
                                                       lambda: wrk(base, script.name, seconds, 16, token))
    finally:
        os.unlink(script.name)
    with engine.connect() as c:
        stored = c.execute(text("SELECT count(*) FROM event")).scalar_one() - before
        unrouted = c.execute(text("SELECT count(*) FROM event WHERE description = 'bench' AND assignee_kind IS NULL"
                                  )).scalar_one()
    engine.dispose()
    for name, r in (("GET /health/db (SELECT 1)", trivial), ("POST /events", intake)):
        print(f"  {name}: {r['rps']:.0f} req/s, p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, non-2xx {r['errors']:.0f}")
        results[f"{name} req/s"] = r["rps"]
    print(f"  intake throughput = {intake['rps'] / trivial['rps']:.0%} of the trivial endpoint (median rounds;"
          f" per-round ratios {', '.join(f'{r:.0%}' for r in ratios)}); {stored} events stored, {unrouted} unrouted")
    results["events stored"] = stored


def run(results: dict[str, float]) -> None:
    """``--reuse`` (or bench/run.py's ``--http-only``) measures again on the last database."""
    print("[intake] POST /events vs SELECT 1 on the demo district")
    if {"--reuse", "--http-only"} & set(sys.argv):
        from sqlalchemy.engine import make_url

        url = make_url(DatabaseSettings().database_url).set(
            database=DATABASE).render_as_string(hide_password=False)
    else:
        url = fresh_database(DATABASE)
        sm = make_sessionmaker(make_engine(DatabaseSettings(database_url=url)))
        with timed("demo load", results), transaction(sm) as s:
            load_demo(s)
    bench_intake(url, results)


def main() -> None:
    results: dict[str, float] = {}
    print(f"intake benchmark on {os.cpu_count()} cores")
    run(results)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
