"""Markup in grid names and edit reasons is shown as text in the editor's new UI (headless Chromium).

A planner names a grid ``<img src=x onerror=...>`` and gives a reason with ``<b>`` and ``<script>``;
the search list, the grid's popup and the history timeline show those
characters literally, and no element they describe is ever made (the handler never runs).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from sqlalchemy import text

from .conftest import DEMO_PASSWORD, LiveServer, click_map_at, sign_in, wait_for

NAME = '<img src=x onerror="window.__xss=1">'
REASON = '<b class="xss-b">bold</b><script>window.__xss=2</script>'
_INJECTED_JS = ("return [window.__xss || null, document.querySelectorAll('img[src=\"x\"], .xss-b').length]")


def _auth(server: LiveServer) -> dict[str, str]:
    r = httpx.post(f"{server}/auth/token", data={"username": "planner", "password": DEMO_PASSWORD}, timeout=60)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _rename(server: LiveServer) -> dict[str, Any]:
    """The largest comprehensive grid (its label is drawn) renamed to NAME with REASON, through the API."""
    with server.engine.connect() as conn:
        g = dict(conn.execute(text("""
            SELECT g.id, g.code, ST_X(g.label_point) AS lon, ST_Y(g.label_point) AS lat FROM grid g
              JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
             ORDER BY g.label_size_m DESC LIMIT 1""")).mappings().one())
    auth = _auth(server)
    tag = httpx.get(f"{server}/grids/{g['id']}", headers=auth, timeout=60).headers["etag"]
    r = httpx.patch(f"{server}/grids/{g['id']}", headers={**auth, "If-Match": tag}, timeout=60,
                    json={"name": NAME, "reason": REASON})
    assert r.status_code == 200, r.text
    return g


def test_names_and_reasons_with_markup_are_shown_as_text(server: LiveServer, driver: Any) -> None:
    g = _rename(server)
    sign_in(driver, server, "planner")
    wait_for(driver, "document.querySelector('[data-panel=undo] .gm-undo-button')")  # the undo panel lists the edit
    # The search list, then the place chosen.
    box = driver.find_element(By.CSS_SELECTOR, ".gm-search-input")
    box.send_keys(g["code"])
    wait_for(driver, "document.querySelectorAll('.gm-search-results .gm-search-item').length > 0")
    assert NAME in driver.find_element(By.CSS_SELECTOR, ".gm-search-results").text
    box.send_keys(Keys.ENTER)
    # The history timeline, from the grid's popup.
    driver.execute_script("const m = window.gridmapCtx.map; m.closePopup();"
                          " m.setView([arguments[1], arguments[0]], 15, {animate: false})", g["lon"], g["lat"])
    time.sleep(1.5)  # the view's reload settles (moveend is debounced)
    click_map_at(driver, g["lon"], g["lat"])
    wait_for(driver, "document.querySelector('.leaflet-popup .gm-history-open')")
    assert NAME in driver.find_element(By.CSS_SELECTOR, ".leaflet-popup").text
    driver.find_element(By.CSS_SELECTOR, ".leaflet-popup .gm-history-open").click()
    wait_for(driver, "document.querySelectorAll('.gm-history .gm-history-version').length > 1")
    assert "<b class" in driver.find_element(By.CSS_SELECTOR, ".gm-history").text
    assert driver.execute_script(_INJECTED_JS) == [None, 0]
