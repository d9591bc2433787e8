"""A vector basemap (MVT in a PMTiles file made in the test, gzipped as the tools write it), drawn by
protomaps-leaflet with the app's style, in headless Chromium.

The tiles are real MVT made by PostGIS (ST_AsMVT): one 'water' polygon filling each tile, so every
drawn tile must show the style's water colour, and nothing may be asked of another host.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from basemap_files import gzipped, write_pmtiles
from pmtiles.tile import Compression, TileType
from sqlalchemy import Engine, text

from geo.settings import BasemapSettings

from .conftest import LiveServer, elsewhere, network, sign_in, wait_for

WATER = (0xB9, 0xD3, 0xE6)  # basemap-vector.js's water fill
ZOOMS = range(10, 14)


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


@pytest.fixture(scope="module")
def server_basemap(small: Engine, tmp_path_factory: pytest.TempPathFactory) -> BasemapSettings:
    tiles = {}
    with small.connect() as conn:
        west, south, east, north = conn.execute(text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM"
            " (SELECT ST_Extent(geom) AS e FROM division WHERE level = 'county') c")).one()
        for z in ZOOMS:
            (x0, y0), (x1, y1) = _tile(west, north, z), _tile(east, south, z)
            for x in range(x0, x1 + 1):
                for y in range(y0, y1 + 1):
                    mvt = conn.execute(text(
                        "SELECT ST_AsMVT(q, 'water', 4096, 'geom') FROM (SELECT ST_AsMVTGeom("
                        "ST_Expand(ST_TileEnvelope(:z, :x, :y), 1), ST_TileEnvelope(:z, :x, :y)) AS geom) q"),
                        {"z": z, "x": x, "y": y}).scalar_one()
                    tiles[(z, x, y)] = gzipped(bytes(mvt))
    path = write_pmtiles(tmp_path_factory.mktemp("vector") / "county-vector.pmtiles", tiles, tile_type=TileType.MVT,
                         compression=Compression.GZIP, metadata={"vector_layers": [{"id": "water", "fields": {}}],
                                                                 "attribution": "© 测试矢量底图"},
                         bounds=(west, south, east, north))
    return BasemapSettings(basemap_file=path)


# The centre pixel of every drawn basemap tile (canvas), when at least 4 show the water colour; else null.
_WATER_TILES_JS = """(function () {
  const all = [...document.querySelectorAll('.gm-basemap canvas')].filter((c) => c.width > 0).map((c) => {
    const d = c.getContext('2d').getImageData(Math.floor(c.width / 2), Math.floor(c.height / 2), 1, 1).data;
    return [d[0], d[1], d[2]];
  });
  const water = all.filter((c) => c.every((v, i) => Math.abs(v - %s[i]) <= 2));
  return water.length >= 4 ? all : null;
})()""" % (list(WATER),)


def test_vector_tiles_are_drawn_with_the_style(server: LiveServer, driver: Any) -> None:
    network(driver)
    sign_in(driver, server, "viewer")
    assert driver.execute_script("return window.gridmapCtx.basemap.kind") == "vector"
    wait_for(driver, "[...document.querySelectorAll('.gm-basemap canvas')].length >= 4")
    # protomaps-leaflet paints after decoding: wait until the tiles in view show the water colour.
    colours = wait_for(driver, _WATER_TILES_JS)
    assert len(colours) >= 4
    assert "测试矢量底图" in driver.find_element("css selector", ".leaflet-control-attribution").text
    assert elsewhere(network(driver), server) == []
