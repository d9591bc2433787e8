"""A grid worker on a 390×844 phone: logs a household visit from the map, then runs a short patrol with a
check-in; the phone's position comes from DevTools' geolocation override, as a real phone's GPS would."""

from __future__ import annotations

import time
from typing import Any

from selenium.webdriver.common.by import By
from sqlalchemy import text

from .conftest import LiveServer, click_map_at, elsewhere, network, sign_in, wait_for


def _place(driver: Any, lon: float, lat: float, accuracy: float = 5) -> None:
    driver.execute_cdp_cmd("Emulation.setGeolocationOverride", {"latitude": lat, "longitude": lon, "accuracy": accuracy})


def _tap(driver: Any, css: str) -> None:
    wait_for(driver, f"document.querySelector({css!r}) && !document.querySelector({css!r}).disabled")
    driver.find_element(By.CSS_SELECTOR, css).click()


def _worker1_on_the_fullest_grid(server: LiveServer) -> None:
    """worker1's demo grid may be nearly empty in so small a district: give them the fullest one (and its
    grid worker's staff record), and make sure one of its households was never visited."""
    from importers.demo.users import link_demo_staff

    with server.engine.begin() as c:
        c.execute(text("""
            UPDATE app_user SET grid_id = (
                SELECT m.grid_id FROM grid_membership m JOIN grid g ON g.id = m.grid_id
                  JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
                 WHERE m.kind = 'household' GROUP BY m.grid_id ORDER BY count(*) DESC, m.grid_id LIMIT 1)
             WHERE username = 'worker1'"""))
        c.execute(text("DELETE FROM visit WHERE household_id = (SELECT min(m.entity_id) FROM grid_membership m"
                       " JOIN app_user u ON u.grid_id = m.grid_id WHERE u.username = 'worker1' AND m.kind = 'household')"))
    with server.engine.begin() as c:
        from sqlalchemy.orm import Session

        with Session(bind=c) as s:
            link_demo_staff(s)
            s.flush()


def test_worker_logs_a_visit_and_patrols_on_a_phone(server: LiveServer, driver: Any) -> None:
    _worker1_on_the_fullest_grid(server)
    driver.set_window_size(390, 844)
    try:
        driver.execute_cdp_cmd("Browser.grantPermissions", {"origin": server.url, "permissions": ["geolocation"]})
        sign_in(driver, server, "worker1")
        wait_for(driver, "window.gridmapCtx.visits && window.gridmapCtx.visits.layer.answer()")
        # a household that is behind (never visited, or past its target), as the map colours it
        target = driver.execute_script("""
            const a = window.gridmapCtx.visits.layer.answer();
            const f = a.features.find((x) => x.properties.behind);
            return f ? {id: f.id, lon: f.geometry.coordinates[0], lat: f.geometry.coordinates[1]} : null;""")
        assert target, "the demo grid has no household behind its visits"
        assert driver.execute_script("return window.gridmapCtx.visits.layer.statusOf(arguments[0])",
                                     target["id"]) in ("never", "behind")
        assert len(driver.find_elements(By.CSS_SELECTOR, ".gm-visit-legend-item")) == 4
        # standing at the door; the user pans to the household and taps it
        _place(driver, target["lon"], target["lat"])
        driver.execute_script("window.gridmapCtx.map.setView([arguments[1], arguments[0]], 19, {animate: false})",
                              target["lon"], target["lat"])
        time.sleep(0.5)
        click_map_at(driver, target["lon"], target["lat"])
        _tap(driver, f".leaflet-popup .gm-visit-log[data-household='{target['id']}']")
        _tap(driver, ".gm-visit-form .gm-visit-submit")
        wait_for(driver, "[...document.querySelectorAll('.gm-message.gm-msg-success')]"
                         ".some((m) => m.textContent.includes('已记录走访'))")
        wait_for(driver, f"window.gridmapCtx.visits.layer.statusOf({target['id']}) === 'ok'")  # the colour changed
        with server.engine.connect() as c:
            visit = c.execute(text("SELECT distance_m, far FROM visit WHERE household_id = :h"
                                   " AND recorded_at > now() - interval '5 minutes'"), {"h": target["id"]}).one()
        assert visit.distance_m < 5 and visit.far is False

        # a short patrol: start, walk ~60 m east in three fixes, check in, end
        _tap(driver, ".gm-patrol-start")
        wait_for(driver, "document.querySelector('.gm-patrol-end')")
        for step in range(3):
            _place(driver, target["lon"] + step * 0.0003, target["lat"])
            wait_for(driver, f"window.gridmapCtx.visits.patrol.state.points >= {step + 1}")
        _tap(driver, ".gm-patrol-checkin-button")
        wait_for(driver, "window.gridmapCtx.visits.patrol.state.checkins === 1")
        assert driver.execute_script("return window.gridmapCtx.visits.patrol.line.getLatLngs().length") >= 3
        _tap(driver, ".gm-patrol-end")
        length = float(wait_for(driver, "document.querySelector('.gm-patrol-done') &&"
                                        " document.querySelector('.gm-patrol-done').dataset.lengthM"))
        with server.engine.connect() as c:
            patrol = c.execute(text("""
                SELECT p.length_m, p.ended_at IS NOT NULL AS ended,
                       (SELECT count(*) FROM patrol_point pp WHERE pp.patrol_id = p.id) AS points,
                       (SELECT count(*) FROM patrol_checkin pc WHERE pc.patrol_id = p.id) AS checkins
                  FROM patrol p ORDER BY p.id DESC LIMIT 1""")).one()
        assert patrol.ended and patrol.points >= 3 and patrol.checkins == 1
        assert 50 < patrol.length_m < 80 and abs(length - patrol.length_m) < 0.1  # ~60 m at 26°N, on the spheroid
        assert elsewhere(network(driver), server) == []
    finally:
        driver.set_window_size(1280, 900)
