"""The GCJ-02 shift, in headless Chromium: over an AMap-style (GCJ-02) basemap the grids are drawn where
their GCJ-02 coordinates fall, and a click comes back in WGS84.

The expected pixel is computed here, not by the page: the vertex's WGS84 coordinate (from the database)
converted by the server's converter (geo.spatial.crs), then Web Mercator at zoom 18.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from basemap_files import png, write_pmtiles
from pyproj import Geod
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from sqlalchemy import text

from geo.settings import BasemapSettings
from geo.spatial.crs import gcj02_to_wgs84, wgs84_to_gcj02

from .conftest import LiveServer, elsewhere, network, sign_in, wait_for

ZOOM = 18
GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def server_basemap(tmp_path_factory: pytest.TempPathFactory) -> BasemapSettings:
    path = write_pmtiles(tmp_path_factory.mktemp("gcj") / "amap-style.pmtiles", {(0, 0, 0): png((240, 240, 240))})
    return BasemapSettings(basemap_file=path, basemap_datum="gcj02")


def _world_px(lon: float, lat: float, zoom: int) -> tuple[float, float]:
    """Web Mercator pixel of (lon, lat) at ``zoom`` (256-px tiles), as Leaflet's EPSG:3857 computes it."""
    scale = 256 * 2**zoom
    r = 6378137.0
    x = r * math.radians(lon)
    y = r * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    half = math.pi * r
    return scale * (x + half) / (2 * half), scale * (half - y) / (2 * half)


def _from_world_px(px: float, py: float, zoom: int) -> tuple[float, float]:
    scale = 256 * 2**zoom
    r = 6378137.0
    half = math.pi * r
    x = px / scale * 2 * half - half
    y = half - py / scale * 2 * half
    return math.degrees(x / r), math.degrees(2 * math.atan(math.exp(y / r)) - math.pi / 2)


def _corner(server: LiveServer) -> dict[str, Any]:
    """A comprehensive grid and its sharpest outer-ring vertex (kept by any line simplification)."""
    with server.engine.connect() as conn:
        return dict(conn.execute(text("""
            WITH g AS (SELECT g.id, g.code, ST_ExteriorRing(ST_GeometryN(g.geom, 1)) AS ring FROM grid g
                       JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
                       ORDER BY ST_Area(g.geom::geography) DESC LIMIT 1),
                 v AS (SELECT g.id, g.code, (dp).path[1] AS i, (dp).geom AS p, ST_NPoints(g.ring) AS n, g.ring
                       FROM g, ST_DumpPoints(g.ring) dp)
            SELECT v.id, v.code, ST_X(v.p) AS lon, ST_Y(v.p) AS lat
            FROM v ORDER BY abs(pi() - abs(ST_Angle(
                ST_PointN(v.ring, CASE WHEN v.i = 1 THEN v.n - 1 ELSE v.i - 1 END), v.p,
                ST_PointN(v.ring, CASE WHEN v.i = v.n THEN 2 ELSE v.i + 1 END)))) DESC LIMIT 1
        """)).mappings().one())


_VIEW_JS = """
const m = window.gridmapCtx.map;
const origin = m.getPixelOrigin(), pane = L.DomUtil.getPosition(m.getPane('mapPane'));
const layer = window.gridmapCtx.grids[0].group.getLayers().flatMap((l) => l.getLayers ? l.getLayers() : [l])
  .find((l) => l.feature && l.feature.properties && l.feature.properties.code === arguments[0]);
const parts = layer ? (layer._parts || []).flat().map((p) => [p.x + pane.x, p.y + pane.y]) : [];
return {origin: [origin.x, origin.y], pane: [pane.x, pane.y], parts, crs: m.options.crs.code, zoom: m.getZoom()};
"""


def test_grids_sit_on_their_gcj02_pixels_and_clicks_come_back_in_wgs84(server: LiveServer, driver: Any) -> None:
    network(driver)
    sign_in(driver, server, "admin")
    corner = _corner(server)
    lon, lat = corner["lon"], corner["lat"]
    driver.execute_script("window.gridmapCtx.map.setView([arguments[1], arguments[0]], arguments[2], {animate: false})",
                          lon, lat, ZOOM)
    view = wait_for(driver, "(function () {" + _VIEW_JS.replace("arguments[0]", repr(corner["code"]))
                    .replace("return {", "const v = {") + "; return v.parts.length ? v : null; })()")
    assert view["crs"] == "GCJ02-Mercator" and view["zoom"] == ZOOM

    glon, glat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    wx, wy = _world_px(glon, glat, ZOOM)
    expected = (wx - view["origin"][0] + view["pane"][0], wy - view["origin"][1] + view["pane"][1])
    nearest = min(math.dist(expected, p) for p in view["parts"])
    assert nearest < 1.0, f"the vertex is drawn {nearest:.2f} px from its GCJ-02 pixel"
    # The shift is real: where plain Web Mercator would put the vertex is far from where it is drawn.
    px_wgs = _world_px(lon, lat, ZOOM)
    assert math.dist((wx, wy), px_wgs) > 100

    # A click on that pixel comes back as the WGS84 vertex.
    container = driver.find_element(By.CSS_SELECTOR, ".leaflet-container")
    size = container.size
    cx, cy = round(expected[0]), round(expected[1])
    driver.execute_script("window.__click = null; window.gridmapCtx.map.once('preclick',"
                          " (e) => { window.__click = [e.latlng.lng, e.latlng.lat, e.containerPoint.x, e.containerPoint.y]; });")
    ActionChains(driver).move_to_element_with_offset(
        container, cx - size["width"] // 2, cy - size["height"] // 2).click().perform()
    clicked = wait_for(driver, "window.__click")
    _, _, metres = GEOD.inv(lon, lat, clicked[0], clicked[1])
    assert metres < 0.5, f"the click came back {metres:.3f} m from the vertex"
    # And exactly (to the centimetre) the WGS84 of the pixel clicked, by the server's converter.
    clicked_world = (clicked[2] - view["pane"][0] + view["origin"][0], clicked[3] - view["pane"][1] + view["origin"][1])
    elon, elat = (float(v) for v in gcj02_to_wgs84(*_from_world_px(*clicked_world, ZOOM)))
    _, _, err = GEOD.inv(elon, elat, clicked[0], clicked[1])
    assert err < 0.01, f"the page's inverse is {err:.4f} m off the server's"
    assert elsewhere(network(driver), server) == []
