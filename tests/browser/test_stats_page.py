"""The leaders' statistics page (/stats, issue 15) in headless Chromium against the real server.

A county leader signs in on /stats, sees the charts drawn (canvas pixels, not just elements), opens
the list behind a headline figure, a table cell and a chart's bar — each as long as its figure —,
drills into a township and downloads the XLSX, whose numbers are the page's. A township leader sees
their township only. Nothing is asked of any other host.
"""

from __future__ import annotations

import pathlib
import time
from typing import Any

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from .conftest import DEMO_PASSWORD, LiveServer, elsewhere, network, wait_for

READY = "document.getElementById('gm-stats').dataset.ready === 'true' && !document.getElementById('gm-stats').dataset.loading"

# Pixels a chart has drawn: its canvas's non-transparent pixels (an empty ECharts canvas has none).
_INKED = """
const box = document.querySelector(`.gm-stats-canvas[data-chart="${arguments[0]}"]`);
const canvas = box && box.querySelector('canvas');
if (!canvas || !canvas.width || !canvas.height) return 0;
const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
let inked = 0;
for (let i = 3; i < data.length; i += 4) if (data[i] > 0) inked += 1;
return inked;
"""


def _sign_in_on_stats(driver: Any, server: LiveServer, username: str) -> dict:
    driver.get(f"{server}/health")
    driver.execute_script("window.sessionStorage.clear()")
    driver.get(f"{server}/stats")
    wait_for(driver, "document.querySelector('.gm-login-backdrop') && "
                     "document.querySelector('.gm-login-backdrop').style.display !== 'none'")
    form = driver.find_element(By.CSS_SELECTOR, "form.gm-login")
    form.find_element(By.NAME, "username").send_keys(username)
    form.find_element(By.NAME, "password").send_keys(DEMO_PASSWORD)
    form.find_element(By.CSS_SELECTOR, "button.gm-login-submit").click()
    wait_for(driver, READY)
    return driver.execute_script("return window.gridmapStats.answer")


def _list_count(driver: Any) -> tuple[int, int]:
    """The open list's count (as the server gave it) and the rows it shows, once loaded."""
    wait_for(driver, "!document.querySelector('.gm-stats-list').hidden && "
                     "document.querySelector('.gm-stats-list').dataset.count !== undefined")
    counts = driver.execute_script(
        "const s = document.querySelector('.gm-stats-list'); "
        "return [Number(s.dataset.count), s.querySelectorAll('tbody tr').length]")
    return tuple(counts)


def _click(driver: Any, css: str) -> None:
    element = driver.find_element(By.CSS_SELECTOR, css)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def test_a_county_leader_reads_charts_lists_and_downloads_the_xlsx(server: LiveServer, driver: Any,
                                                                   tmp_path: pathlib.Path) -> None:
    network(driver)
    answer = _sign_in_on_stats(driver, server, "leader")
    total = answer["total"]
    assert total["received"] > 0 and answer["place"]["level"] == "county"
    assert driver.find_element(By.CSS_SELECTOR, ".gm-stats-title").text == f"{answer['place']['name']}事件统计"
    for chart in ("week", "place", "category"):
        wait_for(driver, f"document.querySelector('.gm-stats-canvas[data-chart=\"{chart}\"] canvas')")
        deadline = time.monotonic() + 10
        while driver.execute_script(_INKED, chart) < 500 and time.monotonic() < deadline:
            time.sleep(0.2)  # ECharts animates its first frame in
        assert driver.execute_script(_INKED, chart) >= 500, chart
    handling = driver.find_element(By.CSS_SELECTOR, '.gm-stats-card[data-field="handling_rate"]').text
    assert f"{total['handling_rate'] * 100:.2f}%" in handling and "处置率" in handling

    # The headline's 处置 opens the reports handled: as many as the figure.
    _click(driver, '.gm-stats-card[data-field="handled"]')
    assert _list_count(driver) == (total["handled"], min(total["handled"], 100))

    # A township's 受理 in its table.
    town = max(answer["tables"]["township"], key=lambda g: g["received"])
    _click(driver, f'table[data-table="township"] tr[data-key="{town["key"]}"] td[data-field="received"] button')
    assert _list_count(driver) == (town["received"], min(town["received"], 100))
    assert driver.find_element(By.CSS_SELECTOR, ".gm-stats-list-title").text == f"{town['name']}：受理"

    # A bar of the weekly chart, clicked where it is drawn: that week's received reports.
    week_index, week = max(enumerate(answer["tables"]["week"]), key=lambda iw: iw[1]["received"])
    x, y = driver.execute_script(
        "return window.gridmapStats.charts.charts.week.convertToPixel({seriesIndex: 0}, [arguments[0], arguments[1]])",
        week_index, week["received"] / 2)
    box = driver.find_element(By.CSS_SELECTOR, '.gm-stats-canvas[data-chart="week"]')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    size = box.size
    bar_width = driver.execute_script(
        "const c = window.gridmapStats.charts.charts.week; const a = c.convertToPixel({seriesIndex: 0}, [0, 0]);"
        "const b = c.convertToPixel({seriesIndex: 0}, [1, 0]); return b[0] - a[0];")
    ActionChains(driver).move_to_element_with_offset(
        box, int(x - bar_width * 0.15 - size["width"] / 2), int(y - size["height"] / 2)).click().perform()
    assert _list_count(driver) == (week["received"], min(week["received"], 100))
    assert driver.find_element(By.CSS_SELECTOR, ".gm-stats-list-title").text.endswith(f"{week['key']}起一周：受理")

    # The XLSX of what the page shows.
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    _click(driver, ".gm-stats-export")
    target = tmp_path / answer["xlsx_name"]
    deadline = time.monotonic() + 30
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert target.exists(), list(tmp_path.iterdir())
    from openpyxl import load_workbook

    book = load_workbook(target, read_only=True)
    rows = list(book["按乡镇"].iter_rows(values_only=True))
    assert [(r[0], r[5], r[6]) for r in rows[1:]] == [
        (g["key"], g["received"], g["handled"]) for g in answer["tables"]["township"]]
    totals = next(r for r in book["总体"].iter_rows(values_only=True) if r and r[0] == "合计")
    assert (totals[5], totals[6], totals[7]) == (total["received"], total["handled"], total["handling_rate"])

    # Drill into the township by its name: the page becomes that township's, its villages listed.
    _click(driver, f'table[data-table="township"] tr[data-key="{town["key"]}"] .gm-stats-place')
    wait_for(driver, f"window.gridmapStats.answer.place && window.gridmapStats.answer.place.code === '{town['key']}'"
                     f" && {READY}")
    inner = driver.execute_script("return window.gridmapStats.answer")
    assert inner["total"]["received"] == town["received"]
    assert all(v["key"].startswith(town["key"][:9]) for v in inner["tables"]["village"])
    assert elsewhere(network(driver), server) == []


def test_a_township_leader_sees_their_township(server: LiveServer, driver: Any) -> None:
    from sqlalchemy import text

    with server.engine.connect() as conn:
        code, name = conn.execute(text("SELECT d.code, d.name FROM app_user u JOIN division d ON d.id = u.division_id"
                                       " WHERE u.username = 'leader_town'")).one()
    network(driver)
    driver.set_window_size(390, 844)  # a leader may read it on a phone too
    try:
        answer = _sign_in_on_stats(driver, server, "leader_town")
        assert answer["place"]["code"] == code
        assert driver.find_element(By.CSS_SELECTOR, ".gm-stats-title").text == f"{name}事件统计"
        assert not driver.find_element(By.CSS_SELECTOR, 'table[data-table="village"]').get_attribute("hidden")
        keys = driver.execute_script(
            "return [...document.querySelectorAll('table[data-table=\"village\"] tbody tr')].map((r) => r.dataset.key)")
        assert keys and all(k.startswith(code[:9]) for k in keys)
        assert driver.execute_script(_INKED, "place") > 0
        _click(driver, '.gm-stats-card[data-field="received"]')
        assert _list_count(driver)[0] == answer["total"]["received"]
    finally:
        driver.set_window_size(1280, 900)
    assert elsewhere(network(driver), server) == []
