"""Basemap benchmarks (issue 14): ``python -m bench.basemap [--reuse]``. Not part of the test suite.

1. Reading tiles from a PMTiles and an MBTiles file of the same ~22,000 tiles (Huaxi's extent,
   zooms 8–16, small PNGs), random addresses, one thread: the reader's cost per tile, which is what
   GET /basemap/{z}/{x}/{y} adds to the HTTP stack.
2. GET /basemap/settlements' query on the demo district (100,000 households): the whole county at
   zoom 11 and a 2 km view at zoom 16, as the county-wide admin.
Figures go to stdout; record them in bench/README.md with the core count.
"""

from __future__ import annotations

import math
import random
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.common import fresh_database
from geo.access.scope import Scope
from geo.db import make_sessionmaker, transaction
from geo.settings import BasemapSettings, DatabaseSettings
from tiles.basemap import open_basemap
from tiles.basemap.settlements import settlement_cells

HUAXI = (106.45, 26.25, 106.85, 26.62)
READS = 20_000


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def _tiles() -> dict[tuple[int, int, int], bytes]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "tiles"))
    from basemap_files import png

    west, south, east, north = HUAXI
    out = {}
    for z in range(8, 17):
        (x0, y0), (x1, y1) = _tile(west, north, z), _tile(east, south, z)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                out[(z, x, y)] = png(((x * 7) % 255, (y * 11) % 255, z * 10), size=16)
    return out


def bench_readers() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "tiles"))
    from basemap_files import write_mbtiles, write_pmtiles

    tiles = _tiles()
    keys = random.Random(14).choices(list(tiles), k=READS)
    with tempfile.TemporaryDirectory() as tmp:
        for name, write in (("pmtiles", write_pmtiles), ("mbtiles", write_mbtiles)):
            path = write(Path(tmp) / f"huaxi.{name}", tiles)
            source = open_basemap(BasemapSettings(basemap_file=path)).file
            start = time.perf_counter()
            for z, x, y in keys:
                assert source.tile(z, x, y) is not None
            per = (time.perf_counter() - start) / READS * 1e6
            print(f"  {name}: {len(tiles)} tiles, {path.stat().st_size / 1e6:.1f} MB; {per:.0f} µs per random tile read")


def bench_settlements(reuse: bool) -> None:
    name = "gridmap_bench_basemap"
    if reuse:
        url = make_url(DatabaseSettings().database_url).set(database=name).render_as_string(hide_password=False)
    else:
        from importers.demo import load_demo

        url = fresh_database(name)
        with transaction(make_sessionmaker(create_engine(url))) as session:
            load_demo(session, residents=False)
    engine = create_engine(url)
    with make_sessionmaker(engine)() as session:
        households = session.execute(text("SELECT count(*) FROM household")).scalar_one()
        w, s, e, n = session.execute(text("SELECT ST_XMin(x), ST_YMin(x), ST_XMax(x), ST_YMax(x)"
                                          " FROM (SELECT ST_Extent(geom) AS x FROM household) h")).one()
        cx, cy = (w + e) / 2, (s + n) / 2
        views = {"county, zoom 11": ((w, s, e, n), 11),
                 "2 km view, zoom 16": ((cx - 0.01, cy - 0.009, cx + 0.01, cy + 0.009), 16)}
        for label, (bbox, zoom) in views.items():
            settlement_cells(session, bbox=bbox, zoom=zoom, scope=Scope.platform())  # warm
            runs = []
            for _ in range(5):
                start = time.perf_counter()
                answer = settlement_cells(session, bbox=bbox, zoom=zoom, scope=Scope.platform())
                runs.append(time.perf_counter() - start)
            print(f"  settlements, {label}: {len(answer['cells'])} cells of {answer['cell_m']} m from "
                  f"{households} households, median {sorted(runs)[2] * 1000:.0f} ms")
    engine.dispose()


def run() -> None:
    print("[basemap 1] tile readers")
    bench_readers()
    print("[basemap 2] settlements query")
    bench_settlements("--reuse" in sys.argv)


if __name__ == "__main__":
    run()
