"""The map with no basemap configured, in headless Chromium: it still looks like a map.

Townships filled in soft colours, village boundaries and the settlements (household counts per cell)
are drawn from the app's own data, under the grids and without taking their clicks; each user sees
their own territory's, nothing survives a sign-out, no basemap tile is asked for, and nothing goes
to another host.
"""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from sqlalchemy import text

from .conftest import LiveServer, click_map_at, elsewhere, map_state, network, requested, sign_in, wait_for

LOOK = "window.gridmapCtx.basemap.look"
_LOOK_JS = f"""
const look = {LOOK}, m = window.gridmapCtx.map;
const pane = m.getPane('gmOwnLook');
return {{kind: window.gridmapCtx.basemap.kind, loaded: look.loaded, cells: look.cells,
        discs: look.settlements.getLayers().length, divisions: look.divisions.getLayers().length,
        paneZ: +getComputedStyle(pane).zIndex, paneClicks: getComputedStyle(pane).pointerEvents,
        tileZ: +getComputedStyle(m.getPane('tilePane')).zIndex, overlayZ: +getComputedStyle(m.getPane('overlayPane')).zIndex,
        ownLook: m.getContainer().classList.contains('gm-own-look'),
        background: getComputedStyle(m.getContainer()).backgroundColor,
        canvases: pane.querySelectorAll('canvas').length}};
"""


def _look(driver: Any) -> dict:
    wait_for(driver, f"{LOOK} && {LOOK}.loaded && {LOOK}.cells > 0")
    return driver.execute_script(_LOOK_JS)


def test_divisions_and_settlements_are_drawn_under_the_grids(server: LiveServer, driver: Any) -> None:
    network(driver)
    sign_in(driver, server, "admin")
    look = _look(driver)
    with server.engine.connect() as conn:
        divisions = conn.execute(text("SELECT count(*) FROM division WHERE level IN ('township', 'village')")).scalar_one()
    assert look["kind"] == "own" and look["ownLook"] and look["background"] != "rgba(0, 0, 0, 0)"
    assert look["divisions"] == divisions  # every township fill and village line of the county
    assert look["discs"] == look["cells"] > 0 and look["canvases"] >= 1
    assert look["tileZ"] < look["paneZ"] < look["overlayZ"] and look["paneClicks"] == "none"
    events = network(driver)
    assert not [u for u in requested(events) if "/basemap/" in u and "/basemap/settlements" not in u]
    assert elsewhere(events, server) == []


def test_a_grid_under_the_look_still_takes_its_click(server: LiveServer, driver: Any) -> None:
    sign_in(driver, server, "planner")
    _look(driver)
    with server.engine.connect() as conn:
        grid = conn.execute(text(
            "SELECT g.name, ST_X(p) AS lon, ST_Y(p) AS lat FROM grid g JOIN grid_layer l ON l.id = g.layer_id"
            " AND l.code = 'comprehensive', LATERAL ST_PointOnSurface(g.geom) p"
            " ORDER BY ST_Area(g.geom::geography) DESC LIMIT 1")).mappings().one()
    driver.execute_script("window.gridmapCtx.map.setView([arguments[1], arguments[0]], 15, {animate: false})",
                          grid["lon"], grid["lat"])
    wait_for(driver, "window.gridmapCtx.grids[0].group.getLayers().length > 0")
    click_map_at(driver, grid["lon"], grid["lat"])
    wait_for(driver, "document.querySelector('.leaflet-popup .gm-popup-title')")
    assert map_state(driver)["popup"].startswith(grid["name"]) or grid["name"] in map_state(driver)["popup"]


def test_each_user_sees_their_territory_and_nothing_survives_sign_out(server: LiveServer, driver: Any) -> None:
    with server.engine.connect() as conn:  # a demo account of one village or township, with households in it
        account, households = conn.execute(text(
            "SELECT u.username, count(h.id) AS n FROM app_user u JOIN division d ON d.id = u.division_id"
            " JOIN household h ON h.division_id IN (SELECT v.id FROM division v WHERE v.id = d.id OR v.parent_id = d.id)"
            " WHERE d.level <> 'county' GROUP BY u.username ORDER BY n DESC, u.username LIMIT 1")).one()
    assert households > 0, "no demo account of a village or township has a household in it"
    sign_in(driver, server, "admin")
    admin = _look(driver)
    sign_in(driver, server, account)  # part of the county: fewer settlements than the whole of it
    worker = _look(driver)
    assert 0 < worker["cells"] < admin["cells"]
    driver.find_element(By.CSS_SELECTOR, ".gm-user-signout").click()
    wait_for(driver, f"!window.gridmapCtx.auth.signedIn() && {LOOK}.cells === 0")
    gone = driver.execute_script(_LOOK_JS)
    assert gone["discs"] == 0 and gone["divisions"] == 0
