"""Undo and history on the web map, in headless Chromium against the real server and database.

As a planner: an edit made through the API is undone with the panel's button (dry run drawn, reason
typed, confirmed) and the grid's shape is back; the grid's history (opened from its popup) lists the
versions with author and reason and draws one; after a split, the lineage of the split grid shows
what it "became", reached through the parts' "came from" link. Nothing is asked of another host.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from selenium.webdriver.common.by import By
from sqlalchemy import text

from .conftest import DEMO_PASSWORD, LiveServer, click_map_at, elsewhere, network, sign_in, wait_for


def _token(server: LiveServer, username: str) -> dict[str, str]:
    r = httpx.post(f"{server}/auth/token", data={"username": username, "password": DEMO_PASSWORD}, timeout=60)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _etag(server: LiveServer, auth: dict[str, str], grid_id: int) -> str:
    r = httpx.get(f"{server}/grids/{grid_id}", headers=auth, timeout=60)
    assert r.status_code == 200, r.text
    return r.headers["etag"]


def _pair(server: LiveServer, skip: tuple[int, ...] = ()) -> dict[str, Any]:
    """Two neighbouring comprehensive grids of one village, a point well inside the first, its strip shrunk."""
    with server.engine.connect() as conn:
        row = conn.execute(text("""
            SELECT g.id, g.code, g.name, n.id AS nid, ST_X(p.pt) AS lon, ST_Y(p.pt) AS lat,
                   ST_AsGeoJSON(ST_Difference(g.geom, ST_Buffer(n.geom::geography, 30)::geometry), 15) AS shrunk,
                   ST_X(ST_Centroid(g.geom)) AS cx, ST_Y(ST_Centroid(g.geom)) AS cy,
                   ST_XMin(g.geom) AS x0, ST_XMax(g.geom) AS x1
              FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
              JOIN grid n ON n.layer_id = g.layer_id AND n.division_id = g.division_id AND n.id <> g.id
                   AND ST_Relate(n.geom, g.geom, '****1****'),
                   LATERAL (SELECT ST_PointOnSurface(ST_Buffer(g.geom::geography, -60)::geometry) AS pt) p
             WHERE NOT g.id = ANY(:skip) AND NOT n.id = ANY(:skip) AND ST_Area(g.geom::geography) > 200000
               AND ST_Contains(g.geom, ST_Centroid(g.geom))
             ORDER BY g.code LIMIT 1"""), {"skip": list(skip)}).mappings().one()
    return dict(row)


_HAS_GRID_JS = """
const code = arguments[0], found = [];
window.gridmapCtx.grids[0].group.eachLayer(function visit(layer) {
  if (layer.eachLayer) layer.eachLayer(visit);
  else if (layer.feature && layer.feature.properties.code === code) found.push(layer);
});
return found.length > 0;
"""


def wait_still(driver: Any) -> bool:
    """Whether the map stays at zoom 16 for a second (nothing else moves it)."""
    time.sleep(1)
    return driver.execute_script("return window.gridmapCtx.map.getZoom() === 16")


def _open_history_from_popup(driver: Any, code: str, lon: float, lat: float) -> None:
    """Click the grid ``code`` at (lon, lat) once its overlay holds it, then its popup's History button."""
    deadline = time.monotonic() + 60
    # the map fits itself to the planner's territory once it is known: go to the grid after that
    while not driver.execute_script(
            "const m = window.gridmapCtx.map; m.closePopup(); m.setView([arguments[1], arguments[0]], 16, {animate: false});"
            " return m.getZoom() === 16", lon, lat) or not wait_still(driver):
        assert time.monotonic() < deadline, "the map did not stay at the grid"
    while not driver.execute_script(_HAS_GRID_JS, code):
        assert time.monotonic() < deadline, f"{code} never appeared on the map"
        time.sleep(0.2)
    time.sleep(1)  # the view's reload settles (moveend is debounced)
    click_map_at(driver, lon, lat)
    wait_for(driver, "document.querySelector('.leaflet-popup .gm-history-open')")
    driver.find_element(By.CSS_SELECTOR, ".leaflet-popup .gm-history-open").click()
    wait_for(driver, "document.querySelectorAll('.gm-history .gm-history-version').length > 0")


def test_planner_undoes_an_edit_with_the_button_and_reads_the_history(server: LiveServer, driver: Any) -> None:
    network(driver)
    planner = _token(server, "planner")
    g = _pair(server)
    tags = f"{_etag(server, planner, g['id'])}, {_etag(server, planner, g['nid'])}"
    r = httpx.put(f"{server}/grids/{g['id']}/geometry", headers={**planner, "If-Match": tags}, timeout=120,
                  json={"geometry": json.loads(g["shrunk"]), "fill_gap_into": g["nid"], "reason": "road moved"})
    assert r.status_code == 200, r.text

    sign_in(driver, server, "planner")
    wait_for(driver, "document.querySelector('[data-panel=undo] .gm-undo-button:not([disabled])')")
    panel = driver.find_element(By.CSS_SELECTOR, "[data-panel=undo]").text
    assert g["code"] in panel
    driver.find_element(By.CSS_SELECTOR, "[data-panel=undo] .gm-undo-button").click()
    # The dry run comes first: what comes back is drawn and listed, then the reason is asked.
    wait_for(driver, "document.querySelector('[data-panel=undo] .gm-confirm-apply')")
    assert g["code"] in driver.find_element(By.CSS_SELECTOR, "[data-panel=undo] .gm-confirm-grids").text
    with server.engine.connect() as conn:
        assert conn.execute(text("SELECT version FROM grid WHERE id = :g"), {"g": g["id"]}).scalar_one() == 2
    assert not driver.find_element(By.CSS_SELECTOR, ".gm-confirm-apply").is_enabled()  # a reason first
    driver.find_element(By.CSS_SELECTOR, ".gm-confirm-reason").send_keys("wrong road")
    driver.find_element(By.CSS_SELECTOR, ".gm-confirm-apply").click()
    wait_for(driver, "[...document.querySelectorAll('.gm-messages .gm-message.gm-msg-success')]"
                     ".some((m) => m.textContent.includes('#'))")
    with server.engine.connect() as conn:
        back = conn.execute(text(
            "SELECT g.version, ST_Equals(g.geom, v.geom) FROM grid g JOIN grid_version v ON v.grid_id = g.id"
            " AND v.version = 1 WHERE g.id = :g"), {"g": g["id"]}).one()
    assert back == (3, True)  # a new version, with the first version's shape
    # The undo itself is now the last edit, and may not be undone: the button says why.
    wait_for(driver, "document.querySelector('[data-panel=undo] .gm-undo-button[disabled]')")
    assert "undo" in driver.find_element(By.CSS_SELECTOR, ".gm-undo-why").text

    # The history, from the grid's popup: three versions, newest first, with authors and reasons.
    _open_history_from_popup(driver, g["code"], g["lon"], g["lat"])
    versions = driver.find_elements(By.CSS_SELECTOR, ".gm-history .gm-history-version")
    assert [v.get_attribute("data-version") for v in versions] == ["3", "2", "1"]
    assert "planner" in versions[0].text and "undo of edit" in versions[0].text and "wrong road" in versions[0].text
    assert "planner" in versions[1].text and "road moved" in versions[1].text
    versions[1].find_element(By.CSS_SELECTOR, ".gm-history-show").click()
    wait_for(driver, "document.querySelector('.gm-history-version[data-version=\"2\"] .gm-history-show.gm-on')")
    assert wait_for(driver, "window.gridmapCtx.history.drawn.getLayers().length") == 1
    assert elsewhere(network(driver), server) == []


def test_lineage_after_a_split_shows_what_the_grid_became(server: LiveServer, driver: Any) -> None:
    planner = _token(server, "planner")
    with server.engine.connect() as conn:  # not the grids of the other test
        used = tuple(conn.execute(text("SELECT DISTINCT unnest(grid_ids) FROM grid_edit")).scalars())
    g = _pair(server, used)
    line = {"type": "LineString", "coordinates": [[g["x0"] - 0.01, g["cy"]], [g["x1"] + 0.01, g["cy"]]]}
    r = httpx.post(f"{server}/grids/{g['id']}/split", json={"line": line, "reason": "two villages"}, timeout=120,
                   headers={**planner, "If-Match": _etag(server, planner, g["id"])})
    assert r.status_code == 201, r.text
    parts = {p["code"] for p in r.json()["grids"]}
    with server.engine.connect() as conn:  # a point well inside one of the parts
        code, lon, lat = conn.execute(text(
            "SELECT code, ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(ST_Buffer(geom::geography, -40)::geometry) AS p"
            " , code FROM grid WHERE id = :g) s"), {"g": r.json()["grids"][0]["id"]}).one()

    sign_in(driver, server, "planner")
    _open_history_from_popup(driver, code, lon, lat)
    came_from = driver.find_element(By.CSS_SELECTOR, ".gm-history-from")
    assert g["code"] in came_from.text
    came_from.find_element(By.CSS_SELECTOR, ".gm-history-link").click()
    wait_for(driver, f"document.querySelector('.gm-history .gm-edit-code').textContent.includes('{g['code']}')")
    became = driver.find_element(By.CSS_SELECTOR, ".gm-history-became").text
    assert all(code in became for code in parts) and "retired" in driver.find_element(
        By.CSS_SELECTOR, ".gm-history .gm-edit-code").text
    # the retired grid is drawn from its history where it was, and the map zooms to it
    assert wait_for(driver, "window.gridmapCtx.history.drawn.getLayers().length") == 1
    assert driver.execute_script(
        "return window.gridmapCtx.map.getBounds().contains([arguments[1], arguments[0]])", g["lon"], g["lat"])
