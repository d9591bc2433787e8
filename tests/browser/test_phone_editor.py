"""The editor on a phone (390 px wide, headless Chromium): a planner renames a grid through the form.

Every click is a real one (Selenium refuses a click on an element that is off screen or covered), and
the form, the review and its Apply button fit in the 390-px width. Found by the attack review of issue 14:
the unfolded panels covered the map, so the grid could not be tapped. On a narrow screen the panels now
start folded, one is open at a time, and the dock is a bottom sheet (core/panels.js), so the tap lands.
"""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from sqlalchemy import text

from .conftest import LiveServer, sign_in, wait_for
from .test_edit_forms import _button, _grid, _review, _select, _show

_OUTSIDE_JS = """
return [...document.querySelectorAll(arguments[0])].filter((n) => n.offsetParent !== null).map((n) => {
  const r = n.getBoundingClientRect();
  return r.left < 0 || r.right > window.innerWidth ? `${n.className} ${Math.round(r.left)}..${Math.round(r.right)}` : null;
}).filter(Boolean);
"""


def test_a_planner_renames_a_grid_on_a_390px_phone(server: LiveServer, driver: Any) -> None:
    driver.set_window_size(390, 844)
    try:
        sign_in(driver, server, "planner")
        grid = _grid(server)
        _show(driver, [grid])
        _select(driver, server, grid)
        _button(driver, "重命名 Rename").click()
        name = driver.find_element(By.CSS_SELECTOR, ".gm-form-rename input.gm-form-name")
        assert driver.execute_script(_OUTSIDE_JS, ".gm-form-rename input, .gm-form-rename button") == []
        name.clear()
        name.send_keys(f"{grid['name']}西")
        _button(driver, "检查 Check").click()
        _review(driver)
        assert driver.execute_script(_OUTSIDE_JS, ".gm-confirm textarea, .gm-confirm button") == []
        driver.find_element(By.CSS_SELECTOR, ".gm-confirm textarea.gm-confirm-reason").send_keys("phone")
        driver.find_element(By.CSS_SELECTOR, ".gm-confirm-apply").click()
        wait_for(driver, "document.querySelector('.gm-msg-success')")
        with server.engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM grid WHERE id = :g"), {"g": grid["id"]}).scalar_one() \
                == f"{grid['name']}西"
    finally:
        driver.set_window_size(1280, 900)
