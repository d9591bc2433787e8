"""The basemap from a PMTiles file made in the test, as a user sees it in headless Chromium.

The file's tiles each have a colour of their own, so the test sees that the page draws the right tile
in the right place (z/x/y as asked, colour as stored) under the grids; tiles load without a session
(before sign-in and with no bearer token), the attribution is the file's, and nothing goes to another host.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from basemap_files import png, write_pmtiles
from sqlalchemy import Engine, text

from geo.settings import BasemapSettings

from .conftest import LiveServer, elsewhere, network, sign_in, wait_for

ZOOMS = range(9, 14)
ATTRIBUTION = "© 测试县测绘院 test survey"


def _colour(z: int, x: int, y: int) -> tuple[int, int, int]:
    return (30 + (x * 37 + z * 11) % 200, 30 + (y * 53) % 200, 30 + (z * 40) % 200)


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


@pytest.fixture(scope="module")
def server_basemap(small: Engine, tmp_path_factory: pytest.TempPathFactory) -> BasemapSettings:
    with small.connect() as conn:
        west, south, east, north = conn.execute(text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM"
            " (SELECT ST_Extent(geom) AS e FROM division WHERE level = 'county') c")).one()
    tiles = {}
    for z in ZOOMS:
        (x0, y0), (x1, y1) = _tile(west, north, z), _tile(east, south, z)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                tiles[(z, x, y)] = png(_colour(z, x, y))
    path = write_pmtiles(tmp_path_factory.mktemp("basemap") / "county.pmtiles", tiles,
                         metadata={"attribution": ATTRIBUTION}, bounds=(west, south, east, north))
    return BasemapSettings(basemap_file=path)


_TILES_JS = """
return [...document.querySelectorAll('.gm-basemap img.leaflet-tile-loaded')].map((img) => {
  const c = document.createElement('canvas');
  c.width = c.height = 1;
  const g = c.getContext('2d');
  g.drawImage(img, 128, 128, 1, 1, 0, 0, 1, 1);
  return [img.src, Array.from(g.getImageData(0, 0, 1, 1).data.slice(0, 3))];
});
"""


def _drawn_tiles(driver: Any) -> dict[tuple[int, int, int], tuple[int, ...]]:
    out = {}
    for src, rgb in driver.execute_script(_TILES_JS):
        found = re.search(r"/basemap/(\d+)/(\d+)/(\d+)$", src)
        assert found, src
        out[tuple(int(v) for v in found.groups())] = tuple(rgb)
    return out


def test_tiles_load_before_sign_in_without_a_token(server: LiveServer, driver: Any) -> None:
    network(driver)
    driver.get(f"{server}/")
    driver.execute_script("window.sessionStorage.clear()")
    driver.get(f"{server}/")
    wait_for(driver, "document.querySelectorAll('.gm-basemap img.leaflet-tile-loaded').length >= 4")
    events = network(driver)
    tile_requests = [e["params"]["request"] for e in events if e["method"] == "Network.requestWillBeSent"
                     and "/basemap/" in e["params"]["request"]["url"]]
    assert tile_requests and not any("Authorization" in r["headers"] for r in tile_requests)
    assert elsewhere(events, server) == []


def test_the_page_draws_the_files_tiles_under_the_grids(server: LiveServer, driver: Any) -> None:
    network(driver)
    sign_in(driver, server, "viewer")
    wait_for(driver, "document.querySelectorAll('.gm-basemap img.leaflet-tile-loaded').length >= 4")
    drawn = _drawn_tiles(driver)
    zoom = driver.execute_script("return window.gridmapCtx.map.getZoom()")
    assert drawn and {z for z, _, _ in drawn} == {zoom}
    assert all(rgb == _colour(*key) for key, rgb in drawn.items()), drawn
    # Under the overlays: the tile pane stacks below the pane the grids are drawn in.
    tile_z, overlay_z = driver.execute_script(
        "const m = window.gridmapCtx.map; return [+getComputedStyle(m.getPane('tilePane')).zIndex,"
        " +getComputedStyle(m.getPane('overlayPane')).zIndex]")
    assert tile_z < overlay_z
    assert ATTRIBUTION in driver.find_element("css selector", ".leaflet-control-attribution").text
    # Zoomed in, the tiles of the new zoom are drawn, and still only this server is asked.
    driver.execute_script("window.gridmapCtx.map.setZoom(window.gridmapCtx.map.getZoom() + 1, {animate: false})")
    wait_for(driver, f"[...document.querySelectorAll('.gm-basemap img.leaflet-tile-loaded')]"
                     f".some((img) => img.src.includes('/basemap/{zoom + 1}/'))")
    deeper = {k: v for k, v in _drawn_tiles(driver).items() if k[0] == zoom + 1}
    assert deeper and all(rgb == _colour(*key) for key, rgb in deeper.items())
    assert elsewhere(network(driver), server) == []
