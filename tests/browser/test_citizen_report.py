"""A citizen on a 390×844 phone, no account: picks the place on the map, chooses a category, attaches a
photo (a real JPEG with EXIF GPS, built here with Pillow) and takes the place it offers, submits, gets a
tracking number, opens the tracking page and sees the status; a staff member's action then changes what
the tracking page shows. Nothing loads from another host.

The photo steps need the photos part's POST /photos (geo.media); on a server without it the page says
it cannot take photos and the report goes without one, which the test checks instead.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from sqlalchemy import text

from .conftest import DEMO_PASSWORD, LiveServer, elsewhere, network, wait_for

PHOTOS = importlib.util.find_spec("geo.media") is not None and importlib.util.find_spec("geo.media.photos") is not None


def _two_points(server: LiveServer) -> tuple[tuple[float, float], tuple[float, float]]:
    """Points deep inside two comprehensive grids (where to tap, and where the photo was taken)."""
    with server.engine.connect() as c:
        rows = c.execute(text("""
            SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(g.geom) p, g.geom, g.code FROM grid g
              JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive') s
            WHERE ST_Distance(p::geography, ST_Boundary(geom)::geography) > 120 ORDER BY code LIMIT 2""")).all()
    return (rows[0][0], rows[0][1]), (rows[1][0], rows[1][1])


def _jpeg_taken_at(path: Path, lon: float, lat: float) -> Path:
    def dms(v: float) -> tuple[float, float, float]:
        d, m = int(v), int((v - int(v)) * 60)
        return float(d), float(m), round((v - d - m / 60) * 3600, 4)

    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: dms(lat), 3: "E", 4: dms(lon)}  # GPS IFD: latitude, longitude
    Image.new("RGB", (640, 480), (180, 90, 40)).save(path, "JPEG", exif=exif)
    return path


def _tap_map_at(driver: Any, lon: float, lat: float) -> None:
    driver.execute_script("window.gridmapCitizen.placeMap.map.setView([arguments[1], arguments[0]], 16, {animate: false})",
                          lon, lat)
    map_el = driver.find_element(By.ID, "cz-map")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", map_el)
    x, y = driver.execute_script(
        "const p = window.gridmapCitizen.placeMap.map.latLngToContainerPoint([arguments[1], arguments[0]]);"
        "return [p.x, p.y];", lon, lat)
    size = map_el.size
    ActionChains(driver).move_to_element_with_offset(map_el, int(x - size["width"] / 2),
                                                     int(y - size["height"] / 2)).click().perform()


def _accept_as_staff(server: LiveServer, event_id: int) -> None:
    with httpx.Client(base_url=server.url) as http:
        token = http.post("/auth/token", data={"username": "admin", "password": DEMO_PASSWORD}).json()["access_token"]
        r = http.post(f"/events/{event_id}/accept", json={"note": "已核实"}, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text


def test_a_citizen_reports_from_a_phone_and_tracks_it(server: LiveServer, driver: Any, tmp_path: Path) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    try:
        _report_and_track(server, driver, tmp_path)
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def _report_and_track(server: LiveServer, driver: Any, tmp_path: Path) -> None:
    (tap_lon, tap_lat), (photo_lon, photo_lat) = _two_points(server)
    network(driver)
    driver.get(f"{server}/")  # a resident who opens the service's address finds the way in without an account
    wait_for(driver, "document.querySelector('.gm-login-citizen a[href=\"/report\"]')"
                     " && document.querySelector('.gm-login-citizen a').offsetParent !== null")
    driver.find_element(By.CSS_SELECTOR, ".gm-login-citizen a[href='/report']").click()
    wait_for(driver, "location.pathname === '/report'")
    wait_for(driver, "window.gridmapCitizen && document.getElementById('cz-category').dataset.loaded === 'true'"
                     " && window.gridmapCitizen.placeMap.places > 0")
    assert driver.execute_script("return window.innerWidth") == 390
    _tap_map_at(driver, tap_lon, tap_lat)
    picked = wait_for(driver, "window.gridmapCitizen.state.place")
    assert picked["how"] == "map" and abs(picked["lon"] - tap_lon) < 2e-4 and abs(picked["lat"] - tap_lat) < 2e-4
    Select(driver.find_element(By.ID, "cz-category")).select_by_value("environment.garbage")
    driver.find_element(By.ID, "cz-description").send_keys("路边垃圾堆了好几天")

    driver.find_element(By.ID, "cz-photos").send_keys(str(_jpeg_taken_at(tmp_path / "现场.jpg", photo_lon, photo_lat)))
    if PHOTOS:
        wait_for(driver, "document.querySelectorAll('#cz-thumbs img').length === 1")
        offer = wait_for(driver, "!document.getElementById('cz-exif').hidden && document.querySelector('.cz-use-exif')")
        assert offer
        driver.find_element(By.CSS_SELECTOR, ".cz-use-exif").click()
        place = wait_for(driver, "window.gridmapCitizen.state.place.how === 'photo' && window.gridmapCitizen.state.place")
        assert abs(place["lon"] - photo_lon) < 1e-5 and abs(place["lat"] - photo_lat) < 1e-5
    else:
        assert "照片" in wait_for(driver, "!document.getElementById('cz-error').hidden"
                                         " && document.getElementById('cz-error').textContent")

    driver.find_element(By.ID, "cz-submit").click()
    number = wait_for(driver, "document.getElementById('cz-track-number') && "
                              "document.getElementById('cz-track-number').textContent")
    with server.engine.connect() as c:
        ev = c.execute(text("SELECT id, status::text, ST_X(geom), ST_Y(geom), source FROM event WHERE public_token = :t"),
                       {"t": number}).one()
    assert ev.status == "reported" and ev.source == "web"
    sent = driver.execute_script("return window.gridmapCitizen.state.place")  # the tapped point, or the photo's
    assert abs(ev[2] - sent["lon"]) < 1e-6 and abs(ev[3] - sent["lat"]) < 1e-6
    if PHOTOS:
        with server.engine.connect() as c:
            assert c.execute(text("SELECT count(*) FROM photo WHERE event_id = :e"), {"e": ev.id}).scalar() == 1
    big = driver.execute_script("return parseFloat(getComputedStyle(document.getElementById('cz-track-number')).fontSize)")
    assert big >= 24  # shown large

    driver.find_element(By.ID, "cz-track-link").click()
    assert wait_for(driver, "document.getElementById('cz-state') && document.getElementById('cz-state').textContent") \
        == "已上报，待受理"
    assert "预计" in driver.find_element(By.ID, "cz-status").text and "还有" in driver.find_element(By.ID, "cz-status").text

    _accept_as_staff(server, ev.id)
    driver.find_element(By.ID, "cz-refresh").click()
    wait_for(driver, "document.getElementById('cz-state').textContent === '已受理'")
    steps = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#cz-steps li")]
    assert len(steps) == 2 and steps[0].endswith("您的报告已提交") and steps[1].endswith("已受理")
    assert "admin" not in driver.find_element(By.ID, "cz-status").text
    assert elsewhere(network(driver), server) == []
