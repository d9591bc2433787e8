"""The emergency officer's command map in headless Chromium against the real server (issue 15):
they click the map, see the nearest responders in the list and on the map, pick an open event,
dispatch one responder (it turns busy, stored), break the glass with a reason and see an unmasked
phone with a countdown, close it; the auditor's GET /audit shows the reads as pii.break_glass.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from selenium.webdriver.common.by import By
from sqlalchemy import text

from .conftest import DEMO_PASSWORD, LiveServer, click_map_at, elsewhere, network, sign_in, wait_for

READY = "document.querySelector('.gm-command').dataset.state === 'ready'"
RESPONDERS_ON_MAP = """(() => {
let n = 0; window.gridmapCtx.map.eachLayer((l) => {
  if (l.feature && l.feature.properties && l.feature.properties.kind === 'responder') n += 1; });
return n; })()"""


def _incident(server: LiveServer) -> dict[str, Any]:
    """An open event in the emergency account's township with households (with residents) within 250 m;
    every responder's fix made fresh (the template's fixes are as old as the test run)."""
    with server.engine.begin() as conn:
        conn.execute(text("UPDATE staff SET position_at = now() - interval '3 minutes'"))
        row = conn.execute(text("""
            SELECT e.id, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat FROM event e
              JOIN app_user u ON u.username = 'emergency'
             WHERE e.status::text NOT IN ('closed', 'rejected', 'duplicate')
               AND EXISTS (SELECT 1 FROM grid_membership m JOIN grid g ON g.id = m.grid_id
                             JOIN division v ON v.id = g.division_id
                            WHERE m.kind = 'event' AND m.entity_id = e.id AND v.parent_id = u.division_id)
               AND EXISTS (SELECT 1 FROM household h JOIN resident r ON r.household_id = h.id
                            WHERE ST_DWithin(h.geom::geography, e.geom::geography, 250) AND r.phone <> '')
             ORDER BY e.id LIMIT 1""")).mappings().one()
    return dict(row)


def _click(driver: Any, css: str) -> None:
    wait_for(driver, f"document.querySelector({css!r})")
    element = driver.find_element(By.CSS_SELECTOR, css)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def test_officer_dispatches_and_breaks_the_glass(server: LiveServer, driver: Any) -> None:
    incident = _incident(server)
    sign_in(driver, server, "emergency")
    wait_for(driver, "document.querySelector('[data-panel=\"command\"]') && "
                     "document.querySelector('[data-panel=\"command\"]').offsetParent !== null")
    driver.execute_script("window.gridmapCtx.map.setView([arguments[1], arguments[0]], 16)",
                          incident["lon"], incident["lat"])
    wait_for(driver, "!window.gridmapCtx.map._animatingZoom")
    click_map_at(driver, incident["lon"] + 0.0004, incident["lat"])
    # Responders in the list, with their fix time in plain Chinese and distances in metres, and on the map.
    wait_for(driver, READY)
    wait_for(driver, "document.querySelectorAll('.gm-command-responder').length > 0")
    first = driver.find_element(By.CSS_SELECTOR, ".gm-command-responder").text
    assert re.search(r"定位于(刚刚|\d+分钟前)", first) and re.search(r"\d+(米|\.\d公里)", first), first
    assert wait_for(driver, RESPONDERS_ON_MAP) > 0
    assert "周边" in driver.find_element(By.CSS_SELECTOR, ".gm-command-around").text
    # Pick the incident among the open events nearby (the list reloads for that event), then dispatch.
    _click(driver, ".gm-command-event")
    wait_for(driver, READY)
    target = driver.find_element(By.CSS_SELECTOR, ".gm-command-target").text
    event_id = int(re.search(r"事件 (\d+)", target).group(1))
    wait_for(driver, "document.querySelector('.gm-command-dispatch')")
    row = driver.find_element(By.CSS_SELECTOR, ".gm-command-dispatch").find_element(By.XPATH, "..")
    staff_id = int(row.get_attribute("data-staff-id"))
    _click(driver, f"[data-staff-id='{staff_id}'] .gm-command-dispatch")
    wait_for(driver, f"document.querySelector(\"[data-staff-id='{staff_id}']\").dataset.availability === 'busy'")
    assert "已调度至事件" in driver.find_element(By.CSS_SELECTOR, f"[data-staff-id='{staff_id}']").text
    with server.engine.connect() as conn:
        stored = conn.execute(text("SELECT availability::text, busy_event_id FROM staff WHERE id = :s"),
                              {"s": staff_id}).one()
    assert tuple(stored) == ("busy", event_id)
    # Break the glass on that event: a reason, a countdown, unmasked phones.
    reason = driver.find_element(By.CSS_SELECTOR, ".gm-glass-reason")
    reason.send_keys("山洪预警，逐户电话通知转移")
    _click(driver, ".gm-glass-open")
    wait_for(driver, "document.querySelector('.gm-glass-countdown')")
    assert re.search(r"剩余 1小时5\d分\d+秒|剩余 2小时0分\d+秒",
                     driver.find_element(By.CSS_SELECTOR, ".gm-glass-countdown").text)
    wait_for(driver, "document.querySelectorAll('.gm-glass-phone').length > 0", timeout=30)
    phone = driver.find_element(By.CSS_SELECTOR, ".gm-glass-phone").text
    assert re.fullmatch(r"\d{11}", phone), phone
    assert all("****" in p.text or not p.text for p in driver.find_elements(By.CSS_SELECTOR, ".gm-command-phone"))
    # The auditor sees the read as its own kind.
    token = httpx.post(f"{server}/auth/token", data={"username": "auditor", "password": DEMO_PASSWORD},
                       timeout=30).json()["access_token"]
    rows = httpx.get(f"{server}/audit?action=pii.break_glass", headers={"Authorization": f"Bearer {token}"},
                     timeout=30).json()
    assert any(r["username"] == "emergency" and r["detail"]["event_id"] == event_id for r in rows), rows
    # Closed early: the phones go.
    _click(driver, ".gm-glass-close")
    wait_for(driver, "document.querySelectorAll('.gm-glass-phone').length === 0 && "
                     "!document.querySelector('.gm-glass-countdown')")
    assert elsewhere(network(driver), server) == []
