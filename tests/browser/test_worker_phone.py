"""The grid worker's day on a 390x844 phone (headless Chromium, real taps): 我的工作 with counts and a
duration in days and hours, a report opened on the map with the way there (GCJ-02 map-app links) and the
reporter's contact behind a stated purpose, accepted, started, given feedback; 自办自结 refused without an
after photo and done with one; "我的位置" shown, then shared; and the map still takes a tap on a grid.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from sqlalchemy import text

from geo.spatial.crs import Crs, from_wgs84

from .conftest import DEMO_PASSWORD, WAIT_S, LiveServer, click_map_at, map_state, sign_in, wait_for

CIVIL = "dispute.neighbour"
PHONE = "13812345678"



def _api(server: LiveServer, user: str) -> httpx.Client:
    form = {"username": user, "password": DEMO_PASSWORD}
    token = httpx.post(f"{server}/auth/token", data=form, timeout=WAIT_S).json()["access_token"]
    return httpx.Client(base_url=str(server), headers={"Authorization": f"Bearer {token}"}, timeout=WAIT_S)


def _q(server: LiveServer, sql: str, **params: Any) -> Any:
    with server.engine.connect() as conn:
        return conn.execute(text(sql), params).mappings().first()


def _worker(server: LiveServer) -> dict[str, Any]:
    """worker1's staff record, grid (name and code) and a point deep inside it."""
    return dict(_q(server, """
        SELECT u.staff_id, g.id AS grid_id, g.code, g.name, ST_X(ST_PointOnSurface(g.geom)) AS lon,
               ST_Y(ST_PointOnSurface(g.geom)) AS lat
        FROM app_user u JOIN grid g ON g.id = u.grid_id WHERE u.username = 'worker1'"""))


def _overdue_civil_report(server: LiveServer, w: dict[str, Any]) -> int:
    """A neighbours' dispute reported in worker1's grid (routed to worker1), now 3 days 4 hours overdue."""
    with _api(server, "admin") as admin:
        r = admin.post("/events", json={"category": CIVIL, "description": "楼上漏水，邻里争执",
                                        "location": {"lon": w["lon"], "lat": w["lat"]},
                                        "contact": {"name": "李四", "phone": PHONE}})
    assert r.status_code == 201, r.text
    assert r.json()["assignee"]["id"] == w["staff_id"]
    e = r.json()["id"]
    with server.engine.begin() as conn:  # the report has waited: its deadline passed 3 days 4 hours ago
        conn.execute(text("UPDATE event SET due_at = now() - interval '3 days 4 hours 10 minutes' WHERE id = :e"),
                     {"e": e})
    return e


def _status(server: LiveServer, e: int) -> str:
    return _q(server, "SELECT status::text AS s FROM event WHERE id = :e", e=e)["s"]


def _tap(driver: Any, label: str) -> None:
    """Tap the enabled button ``label`` once it is there (a report's details reload after each step)."""
    wait_for(driver, f"[...document.querySelectorAll('button')].some((b) => b.textContent.trim() === '{label}'"
                     " && !b.disabled && b.offsetParent !== null)")
    for attempt in range(3):  # the panel re-renders when the live stream reports a change (js/reports.js)
        try:
            driver.find_element(By.XPATH, f"//button[normalize-space() = '{label}' and not(@disabled)]").click()
            return
        except StaleElementReferenceException:
            if attempt == 2:
                raise


def _act(driver: Any, server: LiveServer, e: int, label: str, to: str, note: str | None = None) -> None:
    """Tap the action's button, write the note, confirm; wait until the server has the report in ``to``."""
    _tap(driver, label)
    if note:
        driver.find_element(By.CSS_SELECTOR, "textarea.gm-events-note-input").send_keys(note)
    _tap(driver, "确认 Confirm")
    wait_for(driver, f"document.querySelector('.gm-msg-success') && "
                     f"document.querySelector('.gm-msg-success').textContent.startsWith('#{e} {label}')")
    assert _status(server, e) == to


def _open_from_my_work(driver: Any, e: int) -> None:
    item = f".gm-work-item[data-event-id='{e}']"
    wait_for(driver, f"document.querySelector(\"{item}\")")
    driver.find_element(By.CSS_SELECTOR, f"{item} .gm-work-open").click()
    wait_for(driver, f"[...document.querySelectorAll('.gm-events-subtitle')].some((n) => n.textContent.startsWith('#{e} '))"
                     " && document.querySelector('.gm-events-actions')")


@pytest.fixture
def phone(driver: Any, server: LiveServer) -> Any:
    driver.set_window_size(390, 844)
    yield driver
    driver.execute_cdp_cmd("Emulation.clearGeolocationOverride", {})
    driver.set_window_size(1280, 900)


def test_a_worker_handles_a_report_on_a_phone(server: LiveServer, phone: Any) -> None:
    driver = phone
    w = _worker(server)
    e = _overdue_civil_report(server, w)
    sign_in(driver, server, "worker1")

    # 我的工作: counts as the database has them, the report with its delay in days and hours and its grid's name.
    wait_for(driver, f"document.querySelector(\".gm-work-item[data-event-id='{e}']\")")
    mine = _q(server, """SELECT count(*) AS n, count(*) FILTER (WHERE due_at < now()) AS late,
                                count(*) FILTER (WHERE status = 'reported') AS reported
                         FROM event WHERE assignee_staff_id = :s
                           AND status NOT IN ('closed', 'rejected', 'duplicate')""", s=w["staff_id"])
    summary = driver.find_element(By.CSS_SELECTOR, ".gm-work-summary").text
    assert f"待办 {mine['n']} 件" in summary and f"超期 {mine['late']} 件" in summary
    chip = driver.find_element(By.CSS_SELECTOR, ".gm-work-count[data-status='reported']").text
    assert chip == f"待受理 {mine['reported']}"
    first = driver.find_element(By.CSS_SELECTOR, ".gm-work-item").get_attribute("class")
    assert "gm-work-item-late" in first  # overdue first
    row = driver.find_element(By.CSS_SELECTOR, f".gm-work-item[data-event-id='{e}']").text
    assert "超期3天4小时" in row and w["name"] in row and w["code"] not in row and " h" not in row

    # Tapped: on the map, with the way there and the reporter behind a purpose.
    _open_from_my_work(driver, e)
    centre = driver.execute_script("const c = window.gridmapCtx.map.getCenter(); return [c.lng, c.lat];")
    assert abs(centre[0] - w["lon"]) < 1e-6 and abs(centre[1] - w["lat"]) < 1e-6
    amap = parse_qs(urlsplit(driver.find_element(By.CSS_SELECTOR, "a.gm-work-amap").get_attribute("href")).query)
    gx, gy = from_wgs84(w["lon"], w["lat"], Crs.GCJ02)
    lon, lat = (float(v) for v in amap["position"][0].split(","))
    assert abs(lon - float(gx)) < 2e-6 and abs(lat - float(gy)) < 2e-6
    tencent = driver.find_element(By.CSS_SELECTOR, "a.gm-work-tencent").get_attribute("href")
    assert tencent.startswith("https://apis.map.qq.com/uri/v1/marker?") and f"{float(gy):.6f}" in tencent
    assert PHONE not in driver.page_source
    driver.find_element(By.CSS_SELECTOR, ".gm-work-contact-ask").click()
    driver.find_element(By.CSS_SELECTOR, ".gm-work-contact-show").click()  # no purpose yet: refused in the page
    wait_for(driver, "document.querySelector('.gm-work-purpose .gm-events-error')")
    driver.find_element(By.CSS_SELECTOR, "input.gm-work-purpose-input").send_keys("上门调解前联系")
    driver.find_element(By.CSS_SELECTOR, ".gm-work-contact-show").click()
    wait_for(driver, f"document.querySelector('.gm-work-tel') && document.querySelector('.gm-work-tel').textContent.includes('{PHONE}')")
    audited = _q(server, """SELECT count(*) AS n, max(purpose) AS purpose FROM audit_log
                            WHERE action = 'pii.read' AND entity = 'event' AND entity_id = :e""", e=str(e))
    assert audited["n"] == 1 and audited["purpose"] == "上门调解前联系"

    # The loop as the state machine allows it: accept; the head hands it over; start; feedback.
    _act(driver, server, e, "受理 Accept", "screened")
    with _api(server, "admin") as admin:
        assert admin.post(f"/events/{e}/assign", json={"staff_id": w["staff_id"]}).status_code == 200
    _tap(driver, "刷新 Refresh")
    wait_for(driver, "[...document.querySelectorAll('.gm-events-action')].some((b) => b.textContent === '开始处置 Start')")
    _act(driver, server, e, "开始处置 Start", "in_progress")
    _act(driver, server, e, "反馈 Feedback", "feedback", note="双方已协商赔偿")
    # 自办自结 without an after photo: the close is offered (a civil matter) and refused with the reason.
    wait_for(driver, "[...document.querySelectorAll('.gm-events-action')].some((b) => b.textContent === '办结 Close')")
    _tap(driver, "办结 Close")
    _tap(driver, "确认 Confirm")
    wait_for(driver, "[...document.querySelectorAll('.gm-events-error')].some((n) => n.textContent.includes('自办自结'))")
    assert _status(server, e) == "feedback"

    # The map stays tappable: fold the panel, tap the grid away from the report's marker, its popup opens.
    driver.find_element(By.CSS_SELECTOR, ".gm-panel[data-panel='reports'] .gm-panel-title").click()
    spot = _q(server, """SELECT ST_X(p) AS lon, ST_Y(p) AS lat FROM (SELECT ST_PointOnSurface(ST_Difference(geom,
                             ST_Buffer(ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography, 300)::geometry)) AS p
                         FROM grid WHERE id = :g) q""", x=w["lon"], y=w["lat"], g=w["grid_id"])
    driver.execute_script("const m = window.gridmapCtx.map; m.setView([arguments[1], arguments[0]],"
                          " (window.gridmapCtx.config.pointMinZoom || 14) - 1, {animate: false});",
                          spot["lon"], spot["lat"])
    wait_for(driver, "window.gridmapCtx.grids[0].group.getLayers().length > 0")
    click_map_at(driver, spot["lon"], spot["lat"])
    wait_for(driver, "document.querySelector('.leaflet-popup .gm-popup-title')")
    assert w["name"] in map_state(driver)["popup"]


def test_my_location_is_shown_then_shared_only_when_switched_on(server: LiveServer, phone: Any) -> None:
    driver = phone
    w = _worker(server)
    here = {"latitude": w["lat"] + 0.0003, "longitude": w["lon"] - 0.0002, "accuracy": 12}
    sign_in(driver, server, "worker1")
    driver.execute_cdp_cmd("Browser.grantPermissions", {"origin": str(server), "permissions": ["geolocation"]})
    driver.execute_cdp_cmd("Emulation.setGeolocationOverride", here)
    before = _q(server, "SELECT position_at FROM staff WHERE id = :s", s=w["staff_id"])["position_at"]
    driver.find_element(By.CSS_SELECTOR, ".gm-work-locate").click()
    fix = wait_for(driver, "window.gridmapCtx.location.fix()")
    assert abs(fix["lon"] - here["longitude"]) < 1e-9 and abs(fix["lat"] - here["latitude"]) < 1e-9
    assert "未共享" in driver.find_element(By.CSS_SELECTOR, ".gm-work-location").text
    assert driver.execute_script("return window.gridmapCtx.location.shown()") is True
    assert _q(server, "SELECT position_at FROM staff WHERE id = :s", s=w["staff_id"])["position_at"] == before

    driver.find_element(By.CSS_SELECTOR, "input.gm-work-share-input").click()
    wait_for(driver, "document.querySelector('.gm-work-share-on')")
    assert "正在共享" in driver.find_element(By.CSS_SELECTOR, ".gm-work-location").text
    deadline = time.monotonic() + WAIT_S
    while True:  # the fix goes to POST /staff/me/position, committed before its answer
        stored = _q(server, """SELECT position_at, ST_Distance(position::geography,
                                   ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography) AS off_m
                               FROM staff WHERE id = :s""", s=w["staff_id"], x=here["longitude"], y=here["latitude"])
        if stored["position_at"] != before or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert stored["position_at"] != before and stored["off_m"] < 1


def test_a_worker_closes_a_civil_matter_with_an_after_photo(server: LiveServer, phone: Any, tmp_path: Any) -> None:
    from PIL import Image

    driver = phone
    w = _worker(server)
    e = _overdue_civil_report(server, w)
    with _api(server, "admin") as admin:
        assert admin.post(f"/events/{e}/accept").status_code == 200
        assert admin.post(f"/events/{e}/assign", json={"staff_id": w["staff_id"]}).status_code == 200
    photo = tmp_path / "after.jpg"
    Image.new("RGB", (320, 240), (70, 130, 90)).save(photo, "JPEG")
    sign_in(driver, server, "worker1")
    _open_from_my_work(driver, e)
    _act(driver, server, e, "开始处置 Start", "in_progress")
    _tap(driver, "反馈 Feedback")
    field = driver.find_element(By.CSS_SELECTOR, "input.gm-work-photo-input")
    assert field.get_attribute("capture") == "environment"
    field.send_keys(str(photo))
    wait_for(driver, "document.querySelector('.gm-work-photo[data-photo-id]')")
    driver.find_element(By.CSS_SELECTOR, "textarea.gm-events-note-input").send_keys("已修好，附照片")
    _tap(driver, "确认 Confirm")
    wait_for(driver, f"document.querySelector('.gm-msg-success') && "
                     f"document.querySelector('.gm-msg-success').textContent.startsWith('#{e} 反馈 Feedback')")
    assert _status(server, e) == "feedback"
    assert _q(server, "SELECT count(*) AS n FROM photo WHERE event_id = :e AND stage = 'after'", e=e)["n"] == 1
    wait_for(driver, "[...document.querySelectorAll('.gm-events-action')].some((b) => b.textContent === '办结 Close')")
    _act(driver, server, e, "办结 Close", "closed")
    last = _q(server, "SELECT actor, detail FROM event_transition WHERE event_id = :e ORDER BY id DESC LIMIT 1", e=e)
    assert last["actor"] == "worker1" and last["detail"] == {"self_closed": True}
