"""Labels, layer styles and place search on the web map, in headless Chromium against the real server.

A planner signs in: township names are on the county view and grid names are not; zoomed in, grid
names and codes appear; with every layer on, no two labels overlap at any zoom; the layer style
panel turns a layer's fill off and on and keeps the choice over a reload. The search box finds a
grid by its code, a village by its name (arrows and Enter) and a GCJ-02 coordinate pair, and the
map goes there; nothing is asked of another host.
"""

from __future__ import annotations

import time
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from sqlalchemy import text

from geo.spatial.crs import Crs, from_wgs84

from .conftest import LiveServer, elsewhere, network, sign_in, wait_for

_LABELS_JS = """
return [...document.querySelectorAll('.gm-labels .gm-label')].map((n) => {
  const r = n.getBoundingClientRect();
  return {kind: [...n.classList].find((c) => c.startsWith('gm-label-')).slice(9), layer: n.dataset.layer,
          text: n.textContent,
          name: (n.querySelector('.gm-label-name') || {}).textContent, code: (n.querySelector('.gm-label-code') || {}).textContent || null,
          x0: r.left, y0: r.top, x1: r.right, y1: r.bottom};
});
"""


def _labels(driver: Any) -> list[dict]:
    return driver.execute_script(_LABELS_JS)


def _set_view(driver: Any, lon: float, lat: float, zoom: int) -> None:
    driver.execute_script("window.gridmapCtx.map.setView([arguments[1], arguments[0]], arguments[2], {animate: false})",
                          lon, lat, zoom)
    wait_for(driver, f"window.gridmapCtx.map.getZoom() === {zoom}")


def _settled(driver: Any) -> list[dict]:
    """The labels once a redraw after the last move has happened (two equal readings in a row)."""
    last = None
    for _ in range(60):
        time.sleep(0.3)
        now = _labels(driver)
        if now == last:
            return now
        last = now
    return last or []


def _grid(server: LiveServer) -> dict:
    with server.engine.connect() as conn:
        return dict(conn.execute(text("""
            SELECT g.id, g.code, g.name, ST_X(g.label_point) AS lon, ST_Y(g.label_point) AS lat, g.label_size_m
              FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
             ORDER BY g.label_size_m DESC LIMIT 1""")).mappings().one())


def _no_overlaps(labels: list[dict]) -> list[tuple[str, str]]:
    return [(a["text"], b["text"]) for i, a in enumerate(labels) for b in labels[i + 1:]
            if a["x0"] < b["x1"] and b["x0"] < a["x1"] and a["y0"] < b["y1"] and b["y0"] < a["y1"]]


def _micro(server: LiveServer) -> dict:
    with server.engine.connect() as conn:
        return dict(conn.execute(text("""
            SELECT g.code, g.name, ST_X(g.label_point) AS lon, ST_Y(g.label_point) AS lat, g.label_size_m
              FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'micro'
             ORDER BY g.label_size_m DESC LIMIT 1""")).mappings().one())


def _overlay(driver: Any, label: str, on: bool = True) -> None:
    box = driver.find_element(
        By.XPATH, f"//div[contains(@class, 'leaflet-control-layers-overlays')]/label[contains(., '{label}')]//input")
    if box.is_selected() != on:
        driver.execute_script("arguments[0].click()", box)


def test_labels_follow_the_zoom_and_never_overlap(server: LiveServer, driver: Any) -> None:
    network(driver)
    sign_in(driver, server, "planner")
    with server.engine.connect() as conn:
        townships = set(conn.execute(text("SELECT name FROM division WHERE level = 'township'")).scalars())
    # The county view: township names; micro-grids (10-15 households each) are far too small for theirs.
    _overlay(driver, "Micro-grid")
    wait_for(driver, "window.gridmapCtx.grids.find((g) => g.layer.code === 'micro').group.getLayers().length > 0")
    wait_for(driver, "document.querySelectorAll('.gm-labels .gm-label-township').length > 0")
    county = _settled(driver)
    assert {lab["name"] for lab in county if lab["kind"] == "township"} == townships
    assert not [lab for lab in county if lab["layer"] == "micro"]
    assert not [lab for lab in county if lab["kind"] == "village"]  # villages from zoom 12
    # Every grid layer and both division levels on: no two labels overlap, at the county view and zoomed in.
    driver.execute_script("const c = window.gridmapCtx;"
                          " c.grids.concat(c.divisions).forEach((o) => c.map.addLayer(o.group))")
    m = _micro(server)
    for zoom in (10, 12, 13, 14, 15, 16, 17):
        _set_view(driver, m["lon"], m["lat"], zoom)
        shown = _settled(driver)
        assert shown and _no_overlaps(shown) == [], zoom
    # Zoomed in on the largest micro-grid, its layer alone: its name, and its code below, at its label point.
    driver.execute_script("const c = window.gridmapCtx; c.grids.filter((g) => g.layer.code !== 'micro')"
                          ".forEach((g) => c.map.removeLayer(g.group))")
    _set_view(driver, m["lon"], m["lat"], 18)
    wait_for(driver, "[...document.querySelectorAll('.gm-label-grid .gm-label-name')]"
                     f".some((n) => n.textContent === {m['name']!r})")
    mine = next(lab for lab in _settled(driver) if lab["kind"] == "grid" and lab["name"] == m["name"])
    assert mine["code"] == m["code"] and mine["layer"] == "micro"
    centre = driver.execute_script(
        "const p = window.gridmapCtx.map.latLngToContainerPoint([arguments[1], arguments[0]]);"
        "const r = window.gridmapCtx.map.getContainer().getBoundingClientRect(); return [p.x + r.left, p.y + r.top]",
        m["lon"], m["lat"])
    assert mine["x0"] <= centre[0] <= mine["x1"] and mine["y0"] <= centre[1] <= mine["y1"]
    assert elsewhere(network(driver), server) == []


def _fill(driver: Any, layer: str) -> list[float]:
    return driver.execute_script(
        "const g = window.gridmapCtx.grids.find((x) => x.layer.code === arguments[0]);"
        "return g.group.getLayers().map((p) => p.options.fillOpacity)", layer)


def test_the_style_panel_switches_fill_and_keeps_it(server: LiveServer, driver: Any) -> None:
    sign_in(driver, server, "planner")
    panel = driver.find_element(By.CSS_SELECTOR, ".gm-panel[data-panel='layer-style']")
    assert panel.is_displayed()
    panel.find_element(By.CSS_SELECTOR, ".gm-panel-title").click()
    row = panel.find_element(By.CSS_SELECTOR, ".gm-style-row[data-layer='comprehensive']")
    mode = row.find_element(By.CSS_SELECTOR, "select")
    assert mode.get_attribute("value") == "fill"  # the first layer is filled by default, the others not
    others = panel.find_elements(By.CSS_SELECTOR, ".gm-style-row:not([data-layer='comprehensive']) select")
    assert others and all(o.get_attribute("value") == "outline" for o in others)
    assert set(_fill(driver, "comprehensive")) == {0.12}
    mode.find_element(By.CSS_SELECTOR, "option[value='outline']").click()
    assert set(_fill(driver, "comprehensive")) == {0}
    mode.find_element(By.CSS_SELECTOR, "option[value='fill']").click()
    slider = row.find_element(By.CSS_SELECTOR, "input[type='range']")
    for _ in range(10):
        slider.send_keys(Keys.ARROW_RIGHT)  # 10 steps of 0.02
    assert abs(_fill(driver, "comprehensive")[0] - 0.32) < 1e-9
    # A reload keeps the session and the style.
    driver.refresh()
    wait_for(driver, "window.gridmapCtx && window.gridmapCtx.grids[0].group.getLayers().length > 0")
    assert abs(_fill(driver, "comprehensive")[0] - 0.32) < 1e-9
    driver.execute_script("sessionStorage.removeItem('gridmap.layerStyle')")


def _search(driver: Any, query: str) -> Any:
    box = driver.find_element(By.CSS_SELECTOR, ".gm-search-input")
    box.clear()
    box.send_keys(query)
    wait_for(driver, "document.querySelectorAll('.gm-search-results .gm-search-item').length > 0")
    return box


def _view_holds(driver: Any, lon: float, lat: float) -> bool:
    return driver.execute_script("return window.gridmapCtx.map.getBounds().contains([arguments[1], arguments[0]])",
                                 lon, lat)


def test_search_finds_a_grid_a_village_and_a_gcj02_point(server: LiveServer, driver: Any) -> None:
    network(driver)
    sign_in(driver, server, "planner")
    g = _grid(server)
    with server.engine.connect() as conn:
        x0, y0, x1, y1 = conn.execute(text("SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM"
                                           " (SELECT geom::box2d AS b FROM grid WHERE code = :c) s"),
                                      {"c": g["code"]}).one()
    county_zoom = driver.execute_script("return window.gridmapCtx.map.getZoom()")
    # A grid by its code: Enter takes the first result; the map fits the grid and outlines it.
    _search(driver, g["code"]).send_keys(Keys.ENTER)
    wait_for(driver, f"window.gridmapCtx.selectedPlace && window.gridmapCtx.selectedPlace.code === {g['code']!r}")
    assert _view_holds(driver, x0, y0) and _view_holds(driver, x1, y1)
    assert driver.execute_script("return window.gridmapCtx.map.getZoom()") > county_zoom
    wait_for(driver, "(() => { let n = 0; window.gridmapCtx.map.eachLayer((l) => {"
                     " if (l.feature && l.options.color === '#ffbf00') n += 1; }); return n > 0; })()")
    # A village by its name: arrow down to it, Enter.
    with server.engine.connect() as conn:
        v = conn.execute(text("SELECT code, name, ST_X(label_point) AS lon, ST_Y(label_point) AS lat FROM division"
                              " WHERE level = 'village' ORDER BY code DESC LIMIT 1")).mappings().one()
    _set_view(driver, g["lon"], g["lat"], 11)
    box = _search(driver, v["name"])
    first = driver.find_element(By.CSS_SELECTOR, ".gm-search-results .gm-search-item")
    assert first.get_attribute("data-kind") == "village" and v["name"] in first.text
    box.send_keys(Keys.ARROW_DOWN)
    assert first.get_attribute("aria-selected") == "true"
    box.send_keys(Keys.ENTER)
    wait_for(driver, f"window.gridmapCtx.selectedPlace && window.gridmapCtx.selectedPlace.code === {v['code']!r}")
    assert _view_holds(driver, v["lon"], v["lat"])
    # Escape closes the list, then clears the box.
    box.send_keys("x")
    box.send_keys(Keys.ESCAPE)
    box.send_keys(Keys.ESCAPE)
    assert box.get_attribute("value") == ""
    # A GCJ-02 pair as a phone app gives it: the marker lands on the WGS84 point, in that grid.
    x, y = (float(c) for c in from_wgs84(g["lon"], g["lat"], Crs.GCJ02))
    _search(driver, f"{x:.6f},{y:.6f} gcj02").send_keys(Keys.ENTER)
    wait_for(driver, "window.gridmapCtx.selectedPlace && window.gridmapCtx.selectedPlace.kind === 'coordinate'")
    hit = driver.execute_script("return window.gridmapCtx.selectedPlace")
    assert hit["crs"] == "gcj02" and hit["grid"]["code"] == g["code"]
    marker = driver.execute_script(
        "let m = null; window.gridmapCtx.map.eachLayer((l) => { if (l instanceof L.Marker) m = l.getLatLng(); });"
        "return m && [m.lng, m.lat]")
    assert abs(marker[0] - g["lon"]) < 2e-5 and abs(marker[1] - g["lat"]) < 2e-5
    tip = driver.find_element(By.CSS_SELECTOR, ".gm-search-tip")
    assert g["code"] in tip.text
    assert elsewhere(network(driver), server) == []
