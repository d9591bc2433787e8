"""A report's photo in the map: a citizen uploads a photo and reports with it (over HTTP, as the report
page would); a staff member opens the report in the map's reports panel and sees the thumbnail, loaded
with the bearer token through a blob: URL, and taps it to see it full size. No photo URL carries a
token, and nothing is asked of another host."""

from __future__ import annotations

import io
from typing import Any

import httpx
from PIL import Image
from selenium.webdriver.common.by import By
from sqlalchemy import text

from .conftest import LiveServer, elsewhere, network, requested, sign_in, wait_for


def _citizen_reports_with_a_photo(server: LiveServer) -> tuple[int, str, tuple[int, int]]:
    """Upload a photo and report with it, without an account; the report is made the most overdue so
    it heads the panel's default list."""
    buf = io.BytesIO()
    img = Image.new("RGB", (120, 80), (200, 40, 40))
    img.paste((40, 40, 200), (60, 0, 120, 80))
    img.save(buf, "JPEG")
    with server.engine.connect() as conn:
        lon, lat = conn.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(g.geom) AS p FROM grid g"
            " JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive' ORDER BY g.code LIMIT 1) s")).one()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        up = http.post("/photos", files={"file": ("IMG_0001.jpg", buf.getvalue(), "image/jpeg")})
        assert up.status_code == 201, up.text
        photo = up.json()
        created = http.post("/events", json={"category": "environment.garbage", "description": "垃圾堆在路口",
                                             "location": {"lon": lon, "lat": lat}, "photo_ids": [photo["id"]]})
        assert created.status_code == 201, created.text
    eid = created.json()["id"]
    with server.engine.begin() as conn:
        conn.execute(text("UPDATE event SET due_at = now() - interval '3000 hours' WHERE id = :e"), {"e": eid})
    return eid, photo["id"], (photo["width"], photo["height"])


def test_staff_see_a_reports_photo_in_the_map_and_open_it_full_size(server: LiveServer, driver: Any) -> None:
    eid, photo_id, size = _citizen_reports_with_a_photo(server)
    sign_in(driver, server, "planner")
    link = f"//a[contains(@class, 'gm-events-link') and starts-with(normalize-space(.), '#{eid} ')]"
    wait_for(driver, f"document.evaluate(\"{link}\", document, null, 9, null).singleNodeValue")
    driver.find_element(By.XPATH, link).click()
    src = wait_for(driver, "(() => { const i = document.querySelector('.gm-photo-thumb img');"
                           " return i && i.complete && i.naturalWidth > 0 ? i.src : null; })()")
    assert src.startswith("blob:")  # fetched with the token, not by a URL
    assert "照片 1 张" in driver.find_element(By.CSS_SELECTOR, "section[data-panel='reports']").text
    driver.find_element(By.CSS_SELECTOR, ".gm-photo-thumb").click()
    full = wait_for(driver, "(() => { const i = document.querySelector('.gm-photo-full img');"
                            " return i && i.complete && i.naturalWidth > 0 ? [i.naturalWidth, i.naturalHeight] : null; })()")
    assert tuple(full) == size
    driver.find_element(By.CSS_SELECTOR, ".gm-photo-full").click()  # a tap closes it
    wait_for(driver, "!document.querySelector('.gm-photo-full')")
    events = network(driver)
    photo_urls = [u for u in requested(events) if f"/photos/{photo_id}" in u]
    assert photo_urls and all("token" not in u for u in photo_urls)
    assert elsewhere(events, server) == []
