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

from bench.run import SCALE, fresh_database
from geo.assign import assign_all
from geo.db import make_engine, make_sessionmaker, transaction
from geo.migrate import upgrade
from geo.models import MemberKind
from geo.settings import DEFAULT_DATABASE_URL, DatabaseSettings
from importers.demo import clear_district, load_demo

DATABASE = "gridmap_bench_fusion"


def _url() -> str:
    import os

    base = os.environ.get("GRIDMAP_DATABASE_URL", DEFAULT_DATABASE_URL)
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


def bench_fusion(url: str, results: dict[str, float]) -> None:  # filled in below
    raise NotImplementedError


if __name__ == "__main__":
    main()
