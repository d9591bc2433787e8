"""The editing forms as a planner uses them, in headless Chromium against the real server and database.

Every edit is checked on the server first (?dry_run=true) and shown on the map before the reason is
asked: a split through its form (the preview shows the two parts and what moves, nothing stored until
Apply), a merge through its form (the candidates highlighted, a non-adjacent pick refused at once
without asking the server), a rename, and a rename that meets a 412 because the grid was edited through
the API meanwhile (the form offers to reload the grid and redo). No prompt or confirm dialog remains.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from sqlalchemy import text

from .conftest import DEMO_PASSWORD, LiveServer, click_map_at, elsewhere, network, requested, sign_in, wait_for

STATIC = Path(__file__).resolve().parents[2] / "api" / "web" / "static"


def _grid(server: LiveServer, where: str = "true") -> dict[str, Any]:
    """The largest comprehensive grid (with households) matching ``where``: its box and a point inside."""
    with server.engine.connect() as conn:
        return dict(conn.execute(text(f"""
            SELECT g.id, g.code, g.name, g.version, g.division_id, ST_XMin(g.geom) AS x0, ST_XMax(g.geom) AS x1,
                   ST_YMin(g.geom) AS y0, ST_YMax(g.geom) AS y1, ST_X(ST_Centroid(g.geom)) AS cx,
                   ST_Y(ST_Centroid(g.geom)) AS cy, ST_X(ST_PointOnSurface(g.geom)) AS lon,
                   ST_Y(ST_PointOnSurface(g.geom)) AS lat
              FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
             WHERE ST_Contains(g.geom, ST_Centroid(g.geom)) AND {where}
               AND EXISTS (SELECT 1 FROM grid_membership m WHERE m.grid_id = g.id AND m.kind = 'household')
             ORDER BY ST_Area(g.geom::geography) DESC LIMIT 1""")).mappings().one())


def _show(driver: Any, boxes: list[dict[str, Any]]) -> None:
    """Fit the map to the grids' boxes, below the zoom where points appear (clicks land on grids)."""
    x0, y0 = min(b["x0"] for b in boxes), min(b["y0"] for b in boxes)
    x1, y1 = max(b["x1"] for b in boxes), max(b["y1"] for b in boxes)
    driver.execute_script("""
        const map = window.gridmapCtx.map;
        const b = L.latLngBounds([arguments[1], arguments[0]], [arguments[3], arguments[2]]);
        const zoom = Math.min(map.getBoundsZoom(b.pad(0.3)), (window.gridmapCtx.config.pointMinZoom || 14) - 1);
        map.setView(b.getCenter(), zoom, {animate: false});""", x0, y0, x1, y1)
    wait_for(driver, "window.gridmapCtx.grids[0].group.getLayers().length > 0")


def _select(driver: Any, server: LiveServer, grid: dict[str, Any]) -> None:
    if not driver.find_elements(By.CSS_SELECTOR, ".gm-edit-toggle-button.gm-edit-on"):
        driver.find_element(By.CSS_SELECTOR, ".gm-edit-toggle-button").click()
    click_map_at(driver, grid["lon"], grid["lat"])
    wait_for(driver, f"document.querySelector('.gm-edit-code') && "
                     f"document.querySelector('.gm-edit-code').textContent.includes('{grid['code']}')")


def _button(driver: Any, label: str) -> Any:
    return driver.find_element(By.XPATH, f"//button[normalize-space() = '{label}']")


def _review(driver: Any) -> None:
    """Wait for the dry run's review: the summary, and the reason field with Apply disabled until one is given."""
    wait_for(driver, "document.querySelector('.gm-confirm textarea.gm-confirm-reason')")
    assert not driver.find_element(By.CSS_SELECTOR, ".gm-confirm-apply").is_enabled()


def _apply(driver: Any, reason: str) -> None:
    driver.find_element(By.CSS_SELECTOR, ".gm-confirm textarea.gm-confirm-reason").send_keys(reason)
    driver.find_element(By.CSS_SELECTOR, ".gm-confirm-apply").click()


def _row(server: LiveServer, sql: str, **params: Any) -> Any:
    with server.engine.connect() as conn:
        return conn.execute(text(sql), params).first()


def test_split_through_the_form_previews_then_applies(server: LiveServer, driver: Any) -> None:
    sign_in(driver, server, "planner")
    grid = _grid(server)
    _show(driver, [grid])
    _select(driver, server, grid)
    network(driver)
    _button(driver, "画线拆分 Split along a line").click()
    width = grid["x1"] - grid["x0"]
    click_map_at(driver, grid["x0"] - 0.05 * width, grid["cy"])
    click_map_at(driver, grid["x1"] + 0.05 * width, grid["cy"])
    wait_for(driver, "document.querySelector('.gm-form-points').textContent.includes('(2 so far)')")
    _button(driver, "检查 Check").click()
    _review(driver)
    # The preview: two new shapes outlined on the map (the map draws on a canvas: their labels are the
    # DOM's trace), and what moves from the grid to them, by kind.
    assert len(driver.find_elements(By.CSS_SELECTOR, ".leaflet-tooltip.gm-preview-grid-label")) == 2
    rows = driver.find_elements(By.CSS_SELECTOR, "table.gm-moves tr.gm-move")
    households = _row(server, "SELECT count(*) FROM grid_membership WHERE grid_id = :g AND kind = 'household'",
                      g=grid["id"])[0]
    assert rows and all(grid["code"] in r.text for r in rows)
    assert sum(int(r.find_element(By.CSS_SELECTOR, ".gm-move-count").text) for r in rows
               if "households" in r.text) == households
    urls = requested(network(driver))
    assert any("/split?dry_run=true" in u for u in urls) and not any(u.endswith("/split") for u in urls)
    assert _row(server, "SELECT version FROM grid WHERE id = :g", g=grid["id"])[0] == grid["version"]  # nothing yet
    new_codes = [li.text.split(" · ")[0].split()[-1] for li in
                 driver.find_elements(By.CSS_SELECTOR, "ul.gm-confirm-grids li.gm-confirm-new")]
    assert len(new_codes) == 2

    _apply(driver, "户数过多 too many households")
    wait_for(driver, "document.querySelector('.gm-msg-success')")
    assert _row(server, "SELECT 1 FROM grid WHERE id = :g", g=grid["id"]) is None
    stored = {r[0] for r in [_row(server, "SELECT code FROM grid WHERE code = :c", c=c) for c in new_codes] if r}
    assert stored == set(new_codes)
    reason = _row(server, "SELECT reason FROM grid_version WHERE code = :c ORDER BY version DESC LIMIT 1",
                  c=new_codes[0])[0]
    assert "too many households" in reason
    wait_for(driver, "!document.querySelector('.leaflet-tooltip.gm-preview-grid-label')")
    for code in new_codes:  # the overlay reloaded: the new grids are on the map
        wait_for(driver, f"window.gridmapCtx.grids[0].group.getLayers().some((l) => "
                         f"JSON.stringify(l.toGeoJSON().properties || l.toGeoJSON()).includes('{code}'))")
    assert elsewhere(network(driver), server) == []


def test_merge_through_the_form_refuses_a_non_adjacent_pick_at_once(server: LiveServer, driver: Any) -> None:
    sign_in(driver, server, "planner")
    grid = _grid(server)
    far = _grid(server, f"g.id <> {grid['id']} AND g.division_id = {grid['division_id']} AND NOT ST_Intersects("
                        f"g.geom, (SELECT geom FROM grid WHERE id = {grid['id']}))")
    near = _grid(server, f"g.id <> {grid['id']} AND g.division_id = {grid['division_id']} AND ST_Relate("
                         f"g.geom, (SELECT geom FROM grid WHERE id = {grid['id']}), '****1****')")
    _show(driver, [grid, far, near])
    _select(driver, server, grid)
    _button(driver, "合并 Merge with…").click()
    wait_for(driver, "document.querySelector('ul.gm-form-candidates li')")
    listed = driver.find_element(By.CSS_SELECTOR, "ul.gm-form-candidates").text
    assert near["code"] in listed and far["code"] not in listed
    network(driver)
    click_map_at(driver, far["lon"], far["lat"])
    refused = wait_for(driver, "document.querySelector('.gm-form-refused').textContent")
    assert far["code"] in refused and "not adjacent" in refused
    assert not driver.find_elements(By.CSS_SELECTOR, "ul.gm-form-picked li")
    assert not [u for u in requested(network(driver)) if "/grids/merge" in u]  # refused without asking

    click_map_at(driver, near["lon"], near["lat"])
    wait_for(driver, "document.querySelector('ul.gm-form-picked li')")
    assert near["code"] in driver.find_element(By.CSS_SELECTOR, "ul.gm-form-picked").text
    name = driver.find_element(By.CSS_SELECTOR, ".gm-form-merge input.gm-form-name")
    name.clear()
    name.send_keys("合并后网格")
    _button(driver, "检查 Check").click()
    _review(driver)
    assert len(driver.find_elements(By.CSS_SELECTOR, ".leaflet-tooltip.gm-preview-grid-label")) == 1
    assert _row(server, "SELECT 1 FROM grid WHERE id = :g", g=near["id"]) is not None
    _apply(driver, "两网格合并 merge")
    wait_for(driver, "document.querySelector('.gm-msg-success')")
    assert _row(server, "SELECT 1 FROM grid WHERE id = ANY(:g)", g=[grid["id"], near["id"]]) is None
    assert _row(server, "SELECT 1 FROM grid WHERE name = '合并后网格'") is not None
    assert elsewhere(network(driver), server) == []


def _token(server: LiveServer, username: str) -> str:
    body = urllib.parse.urlencode({"username": username, "password": DEMO_PASSWORD}).encode()
    with urllib.request.urlopen(f"{server}/auth/token", body) as r:
        return json.loads(r.read())["access_token"]


def _api_rename(server: LiveServer, grid_id: int, notes: str) -> None:
    """Another planner edits the grid through the API."""
    token = _token(server, "admin")
    auth = {"Authorization": f"Bearer {token}"}
    with urllib.request.urlopen(urllib.request.Request(f"{server}/grids/{grid_id}", headers=auth)) as r:
        etag = r.headers["ETag"]
    request = urllib.request.Request(f"{server}/grids/{grid_id}", method="PATCH", data=json.dumps({"notes": notes}).encode(),
                                     headers={**auth, "If-Match": etag, "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as r:
        assert r.status == 200


def test_rename_and_a_412_offers_reload_and_redo(server: LiveServer, driver: Any) -> None:
    sign_in(driver, server, "planner")
    grid = _grid(server)
    _show(driver, [grid])
    _select(driver, server, grid)
    _button(driver, "重命名 Rename").click()
    name = driver.find_element(By.CSS_SELECTOR, ".gm-form-rename input.gm-form-name")
    name.clear()
    name.send_keys(f"{grid['name']}东")
    _button(driver, "检查 Check").click()
    _review(driver)
    assert f"{grid['name']}东" in driver.find_element(By.CSS_SELECTOR, "ul.gm-confirm-grids").text

    _api_rename(server, grid["id"], "changed meanwhile")  # someone else edits the grid now
    _apply(driver, "更名 rename")
    wait_for(driver, "document.querySelector('.gm-confirm-reload')")
    assert "changed" in driver.find_element(By.CSS_SELECTOR, ".gm-confirm-stale").text
    assert _row(server, "SELECT name FROM grid WHERE id = :g", g=grid["id"])[0] == grid["name"]
    driver.find_element(By.CSS_SELECTOR, ".gm-confirm-reload").click()
    _review(driver)  # checked again on the current version, and the reason asked again
    _apply(driver, "更名 rename")
    wait_for(driver, "document.querySelector('.gm-msg-success')")
    row = _row(server, "SELECT name, notes FROM grid WHERE id = :g", g=grid["id"])
    assert tuple(row) == (f"{grid['name']}东", "changed meanwhile")  # the other edit is kept, not overwritten
    assert "renamed" in driver.find_element(By.CSS_SELECTOR, ".gm-msg-success").text


def test_no_prompt_or_confirm_dialog_remains() -> None:
    calls = re.compile(r"(?<![\w$.])(?:window\.|globalThis\.|self\.)?(?:prompt|confirm)\s*\(")
    found = [f"{p.relative_to(STATIC)}:{n}" for p in sorted(STATIC.rglob("*.js")) if "vendor" not in p.parts
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if calls.search(line)]
    assert found == []
    assert list(STATIC.rglob("*.js")), "the static files were not found"
