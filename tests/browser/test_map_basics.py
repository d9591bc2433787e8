"""The web map as its users see it, in headless Chromium against the real server and database.

A planner and a viewer sign in; grids load; a click on a grid opens its popup (with counts from the
server), a click where no grid is opens the division the server locates there; the layers control
switches overlays; the reports panel is there for roles that may read reports; an edit's success and
its refusal look different and replace each other; signing out clears the map; and nothing is asked
of any other host.
"""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from sqlalchemy import text

from .conftest import LiveServer, click_map_at, elsewhere, map_state, network, requested, sign_in, wait_for


def _inside_grid(server: LiveServer) -> dict[str, Any]:
    """A comprehensive grid of the planner's county, a point inside it and the village covering that point."""
    with server.engine.connect() as conn:
        row = conn.execute(text(
            "SELECT g.id, g.code, g.name, ST_X(p.pt) AS lon, ST_Y(p.pt) AS lat,"
            "       (SELECT v.name FROM division v WHERE v.level = 'village' AND ST_Covers(v.geom, p.pt)"
            "        ORDER BY v.code LIMIT 1) AS village"
            "  FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive',"
            "       LATERAL (SELECT ST_PointOnSurface(g.geom) AS pt) p"
            " ORDER BY ST_Area(g.geom::geography) DESC LIMIT 1")).mappings().one()
    return dict(row)


def _toggle_overlay(driver: Any, label: str) -> None:
    """Click the layers control's checkbox of the overlay whose label contains ``label``."""
    entry = driver.find_element(
        By.XPATH, f"//div[contains(@class, 'leaflet-control-layers-overlays')]/label[contains(., '{label}')]")
    entry.find_element(By.CSS_SELECTOR, "input").click()


def _zoom_to(driver: Any, lon: float, lat: float, zoom: int = 15) -> None:
    driver.execute_script("window.gridmapCtx.map.setView([arguments[1], arguments[0]], arguments[2], {animate: false})",
                          lon, lat, zoom)
    wait_for(driver, "window.gridmapCtx.grids[0].group.getLayers().length > 0")


def test_planner_sees_grids_popups_layers_and_reports(server: LiveServer, driver: Any) -> None:
    network(driver)
    sign_in(driver, server, "planner")
    state = map_state(driver)
    assert state["user"] == "planner" and not state["login"]
    assert state["grids"]["comprehensive"]["on"] and state["grids"]["comprehensive"]["features"] > 0
    with server.engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM grid g JOIN grid_layer l ON l.id = g.layer_id"
                                  " WHERE l.code = 'comprehensive'")).scalar_one()
    assert state["grids"]["comprehensive"]["features"] == total  # the whole county at the first view
    badge = driver.find_element(By.CSS_SELECTOR, ".gm-user")
    assert "planner" in badge.text and badge.is_displayed()
    # A planner may edit and read reports: the edit toggle and the reports panel are there.
    assert driver.find_element(By.CSS_SELECTOR, ".gm-edit-toggle").is_displayed()
    assert "reports" in state["panels"] and "fusion" in state["panels"]
    wait_for(driver, "document.querySelector('.gm-events-summary')")  # the overdue list came back

    # A click on a grid opens its popup; the counts come from GET /grids/{id}.
    grid = _inside_grid(server)
    _zoom_to(driver, grid["lon"], grid["lat"])
    click_map_at(driver, grid["lon"], grid["lat"])
    assert wait_for(driver, "document.querySelector('.leaflet-popup .gm-popup-title').textContent") == grid["name"]
    wait_for(driver, "document.querySelector('.leaflet-popup tbody.gm-counts th')")
    popup = driver.find_element(By.CSS_SELECTOR, ".leaflet-popup").text
    assert grid["code"] in popup and "Households 户" in popup

    # The layers control: villages on, comprehensive grids off; then the same click finds no grid
    # and the popup is the village the server locates there.
    _toggle_overlay(driver, "Villages")
    wait_for(driver, "window.gridmapCtx.divisions[1].group.getLayers().length > 0")
    _toggle_overlay(driver, "Comprehensive")
    state = map_state(driver)
    assert state["divisions"]["village"]["on"] and not state["grids"]["comprehensive"]["on"]
    assert state["grids"]["comprehensive"]["features"] == 0 or not state["grids"]["comprehensive"]["on"]
    driver.execute_script("window.gridmapCtx.map.closePopup()")
    network(driver)
    click_map_at(driver, grid["lon"], grid["lat"])
    assert wait_for(driver, "document.querySelector('.leaflet-popup .gm-popup-title').textContent") == grid["village"]
    assert any("/locate?" in url for url in requested(network(driver)))
    _toggle_overlay(driver, "Comprehensive")
    _toggle_overlay(driver, "Villages")
    assert elsewhere(network(driver), server) == []


def test_success_and_error_look_different_and_replace_each_other(server: LiveServer, driver: Any) -> None:
    sign_in(driver, server, "planner")
    grid = _inside_grid(server)
    _zoom_to(driver, grid["lon"], grid["lat"])
    driver.find_element(By.CSS_SELECTOR, ".gm-edit-toggle-button").click()
    click_map_at(driver, grid["lon"], grid["lat"])
    wait_for(driver, "document.querySelector('.gm-edit-name')")

    def rename(name: str) -> None:
        rename_button = driver.find_element(By.XPATH, "//button[normalize-space() = '重命名 Rename']")
        rename_button.click()
        for answer in (name, "browser test"):  # today's editor asks with prompt(): name, then reason
            alert = driver.switch_to.alert
            alert.send_keys(answer)
            alert.accept()

    rename(f"{grid['name']}甲")
    wait_for(driver, "document.querySelector('.gm-msg-success')")
    with server.engine.connect() as conn:
        stored = conn.execute(text("SELECT name FROM grid WHERE code = :c"),
                              {"c": grid["code"]}).scalar_one()
    assert stored == f"{grid['name']}甲"
    success = map_state(driver)["messages"]
    assert [m["kind"] for m in success] == ["success"] and "renamed" in success[0]["text"], success
    ok_color = driver.execute_script("return getComputedStyle(document.querySelector('.gm-msg-success')).backgroundColor")

    # Select it again (the overlay reloaded) and send a name the server refuses (over 100 characters).
    wait_for(driver, "!document.querySelector('.gm-edit-name')")
    click_map_at(driver, grid["lon"], grid["lat"])
    wait_for(driver, "document.querySelector('.gm-edit-name')")
    rename("长" * 101)
    wait_for(driver, "document.querySelector('.gm-msg-error')")
    messages = map_state(driver)["messages"]
    assert [m["kind"] for m in messages] == ["error"]  # the error replaced the success, no pile
    bad_color = driver.execute_script("return getComputedStyle(document.querySelector('.gm-msg-error')).backgroundColor")
    assert ok_color != bad_color
    assert driver.find_element(By.CSS_SELECTOR, ".gm-msg-error").get_attribute("role") == "alert"
    driver.find_element(By.CSS_SELECTOR, ".gm-edit-toggle-button").click()  # leave edit mode
    assert elsewhere(network(driver), server) == []


def test_viewer_has_no_edit_control_and_no_reports(server: LiveServer, driver: Any) -> None:
    sign_in(driver, server, "viewer")
    state = map_state(driver)
    assert state["user"] == "viewer" and state["grids"]["comprehensive"]["features"] > 0
    assert not driver.find_element(By.CSS_SELECTOR, ".gm-edit-toggle").is_displayed()
    assert "reports" not in state["panels"]  # viewers may not read reports
    assert "editor" not in state["panels"]
    assert elsewhere(network(driver), server) == []


def test_sign_out_clears_the_map(server: LiveServer, driver: Any) -> None:
    sign_in(driver, server, "planner")
    _toggle_overlay(driver, "Townships")
    wait_for(driver, "window.gridmapCtx.divisions[0].group.getLayers().length > 0")
    driver.find_element(By.CSS_SELECTOR, ".gm-user-signout").click()
    wait_for(driver, "document.querySelector('.gm-login-backdrop').style.display !== 'none'")
    state = map_state(driver)
    assert state["user"] is None and state["login"]
    assert all(layer["features"] == 0 for layer in state["grids"].values())
    assert all(d["features"] == 0 and not d["on"] for d in state["divisions"].values())
    assert state["panels"] == [] and state["messages"] == [] and state["popup"] is None
    assert driver.execute_script("return window.sessionStorage.getItem('gridmap.session')") is None
    assert not driver.find_element(By.CSS_SELECTOR, ".gm-user").is_displayed()
    assert driver.find_element(By.NAME, "username").get_attribute("value") == ""
    assert elsewhere(network(driver), server) == []


def test_the_page_loads_our_modules_under_its_policy(server: LiveServer, driver: Any) -> None:
    import httpx

    page = httpx.get(f"{server}/", timeout=30)
    policy = dict(d.strip().split(" ", 1) for d in page.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'self'" and policy["connect-src"] == "'self'"
    assert "unsafe-inline" not in policy["script-src"]
    network(driver)
    driver.get_log("browser")  # what earlier tests left there
    sign_in(driver, server, "viewer")
    urls = requested(network(driver))
    assert f"{server}/static/js/main.js" in urls and f"{server}/static/js/core/http.js" in urls
    assert f"{server}/static/vendor/leaflet/leaflet.js" in urls
    errors = [e["message"] for e in driver.get_log("browser")
              if e.get("level") == "SEVERE" and "/favicon.ico" not in e["message"]]
    assert errors == []  # no script refused by the policy, no module failing to load
