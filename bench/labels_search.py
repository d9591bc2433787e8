"""Label points and place search (issue 14): what storing the label circles saves, and search latency.

- Label circles (migration 0017): finding every grid's maximum inscribed circle, what each write of a
  shape now pays once (the trigger) and what every map request would pay if they were computed per
  read, against serialising the same grids as GeoJSON (the read path, list_features) with the stored
  label properties and without them.
- GET /search's work (geo.search.search, platform scope, households searched): the median of 7 runs
  of each kind of query on the default demo district (548 grids, 100,000 households).

Run on the demo database of its own, and on the 3 x 10,000-grid database of section 2 when given.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace

from sqlalchemy import text
from sqlalchemy.engine import Engine

from bench.common import fresh_database
from geo.access.scope import Scope
from geo.bulk import analyze_after_load
from geo.db import make_engine, make_sessionmaker, transaction
from geo.search import search
from geo.settings import DatabaseSettings
from geo.spatial import features
from geo.spatial.crs import Crs, from_wgs84


def _median_ms(fn, repeats: int = 7) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _labels(engine: Engine, results: dict[str, float], what: str) -> None:
    sm = make_sessionmaker(engine)
    with sm() as s:
        n = s.execute(text("SELECT count(*) FROM grid")).scalar_one()
        circles = _median_ms(lambda: s.execute(text("SELECT sum(l.size_m) FROM grid, gridmap_label(geom) l")).all(), 3)
        plain = replace(features.COLLECTIONS["grids"], properties={
            k: v for k, v in features.COLLECTIONS["grids"].properties.items() if not k.startswith("label_")})

        def read(collection: features.Collection) -> None:
            saved = features.COLLECTIONS["grids"]
            features.COLLECTIONS["grids"] = collection
            try:
                after = 0
                while after is not None:
                    page = features.list_features(s, "grids", limit=1000, after=after, scope=Scope.platform())
                    after = page.next_after
            finally:
                features.COLLECTIONS["grids"] = saved

        with_labels = _median_ms(lambda: read(features.COLLECTIONS["grids"]), 5)
        without = _median_ms(lambda: read(plain), 5)
    for label, ms in ((f"label circles of all {n} grids ({what}), computed", circles),
                      (f"GeoJSON of all {n} grids with the stored label properties", with_labels),
                      (f"GeoJSON of all {n} grids without them", without)):
        results[label] = ms / 1000
        print(f"  {label}: {ms:.1f} ms", flush=True)


def _search(engine: Engine, results: dict[str, float]) -> None:
    sm = make_sessionmaker(engine)
    with sm() as s:
        grid = s.execute(text("SELECT code, ST_X(label_point), ST_Y(label_point) FROM grid ORDER BY code LIMIT 1")).one()
        village, township = s.execute(text(
            "SELECT v.name, t.name FROM division v JOIN division t ON t.id = v.parent_id"
            " WHERE v.level = 'village' ORDER BY v.code LIMIT 1")).one()
        address = s.execute(text("SELECT address FROM household ORDER BY id LIMIT 1")).scalar_one()
        x, y = (float(v) for v in from_wgs84(grid[1], grid[2], Crs.GCJ02))
        queries = {
            "a grid code": grid[0], "the start of a grid code": grid[0][:14], "a village name": village,
            "township and village": f"{township} {village}", "the district's name (every address starts so)": "花溪",
            "one character": "村", "a whole address": address, "an address without the district": address[6:],
            "a GCJ-02 pair": f"{x:.6f},{y:.6f} gcj02", "a pair with no datum (3 readings)": f"{y:.6f} {x:.6f}",
        }
        for name, q in queries.items():
            ms = _median_ms(lambda q=q: search(s, q, scope=Scope.platform(), households=True))
            results[f"search: {name}"] = ms / 1000
            print(f"  search, {name}: {ms:.1f} ms", flush=True)


def run(results: dict[str, float], scale_url: str | None = None) -> None:
    from importers.demo import load_demo
    from importers.demo.loader import DATA_TABLES

    url = fresh_database("gridmap_bench_labels")
    engine = make_engine(DatabaseSettings.for_bulk(database_url=url))  # the load as `gridmap demo` runs it
    with transaction(make_sessionmaker(engine)) as s:
        load_demo(s)
    analyze_after_load(engine, DATA_TABLES)
    _labels(engine, results, "demo district")
    _search(engine, results)
    engine.dispose()
    if scale_url:
        big = make_engine(DatabaseSettings(database_url=scale_url))
        _labels(big, results, "3 layers x 10,000")
        big.dispose()
