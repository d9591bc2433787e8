"""Drawing and reshaping grids on the web map, as a planner clicks and drags, in headless Chromium.

A planner draws a new dedicated grid (专属网格) vertex by vertex in an empty part of a village and
watches the vertex count and area follow each click; draws a comprehensive grid over its
neighbours and is shown the overlap in red, with its m², before any reason is asked (its first
vertex, clicked 2 px from a neighbour's vertex, is sent exactly on it); reshapes a grid (a midpoint
dragged into a new vertex, that vertex dragged on, another added and deleted by right click), gives
the area it opened to the neighbour, sees the reassignment preview, applies it and finds the
history entry. A viewer sees no edit control at all. Every figure is compared with what the server
computes or stores, never with a number written here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from shapely.geometry import Point, Polygon, shape
from sqlalchemy import text

from .conftest import DEMO_PASSWORD, LiveServer, map_state, network, sign_in, wait_for

PANEL = ".gm-dock .gm-panel[data-panel='draw']"


# ------------------------------------------------------------------ helpers: the API, pixels, the mouse


@contextmanager
def _api(server: LiveServer, username: str = "planner") -> Iterator[httpx.Client]:
    """An HTTP client signed in as ``username`` (the API, as another client of the same server)."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        token = client.post("/auth/token", data={"username": username, "password": DEMO_PASSWORD})
        assert token.status_code == 200, token.text
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client


def _px(driver: Any, lon: float, lat: float) -> tuple[float, float]:
    """The container pixel where (lon, lat) is shown."""
    return tuple(driver.execute_script(
        "const p = window.gridmapCtx.map.latLngToContainerPoint([arguments[1], arguments[0]]); return [p.x, p.y];",
        lon, lat))


def _lonlat(driver: Any, x: float, y: float) -> tuple[float, float]:
    return tuple(driver.execute_script(
        "const ll = window.gridmapCtx.map.containerPointToLatLng([arguments[0], arguments[1]]);"
        " return [ll.lng, ll.lat];", x, y))


def _mouse_to(driver: Any, x: float, y: float) -> ActionChains:
    """An action chain with the mouse moved to container pixel (x, y)."""
    container = driver.find_element(By.CSS_SELECTOR, ".leaflet-container")
    size = container.size
    return ActionChains(driver).move_to_element_with_offset(
        container, round(x - size["width"] / 2), round(y - size["height"] / 2))


def _click_px(driver: Any, x: float, y: float) -> None:
    _mouse_to(driver, x, y).pause(0.1).click().perform()


def _drag_px(driver: Any, x0: float, y0: float, x1: float, y1: float) -> None:
    chain = _mouse_to(driver, x0, y0).pause(0.1).click_and_hold()
    steps = 8
    for _ in range(steps):
        chain.move_by_offset(round((x1 - x0) / steps), round((y1 - y0) / steps)).pause(0.05)
    chain.release().perform()


def _fit(driver: Any, lon0: float, lat0: float, lon1: float, lat1: float) -> None:
    driver.execute_script(
        "window.gridmapCtx.map.fitBounds([[arguments[1], arguments[0]], [arguments[3], arguments[2]]],"
        " {animate: false, padding: [120, 120]})", lon0, lat0, lon1, lat1)


def _panel(driver: Any) -> Any:
    return wait_for(driver, f"document.querySelector(\"{PANEL}\")")


def _choose(driver: Any, name: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    wait_for(driver, f"document.querySelector(\"{PANEL} select[name='{name}'] option[value='{value}']\")")
    Select(driver.find_element(By.CSS_SELECTOR, f"{PANEL} select[name='{name}']")).select_by_value(value)


def _press(driver: Any, label: str, within: str = PANEL) -> None:
    wait_for(driver, f"[...document.querySelectorAll(\"{within} button\")].some("
                     f"(b) => b.textContent.includes({json.dumps(label)}) && !b.disabled)")
    for b in driver.find_elements(By.CSS_SELECTOR, f"{within} button"):
        if label in b.text and b.is_enabled():
            b.click()
            return
    raise AssertionError(f"no button {label!r}")


def _stats(driver: Any) -> dict[str, int]:
    found = driver.execute_script(
        "const s = document.querySelector('.gm-draw-stats'); return s && s.dataset.vertices !== ''"
        " ? [Number(s.dataset.vertices), Number(s.dataset.areaM2), s.textContent] : null")
    return {"vertices": found[0], "area": found[1], "text": found[2]} if found else {}


def _fold_other_panels(driver: Any) -> None:
    """Fold every open panel but this one to its title bar, as a planner does to get the map back."""
    for title in driver.find_elements(By.CSS_SELECTOR, ".gm-dock .gm-panel:not([data-panel='draw'])"
                                                       " .gm-panel-title[aria-expanded='true']"):
        if title.is_displayed():
            title.click()


def _start_drawing(driver: Any, layer: str, village: str, name: str) -> None:
    _panel(driver)
    _fold_other_panels(driver)
    _choose(driver, "layer", layer)
    _choose(driver, "division", village)
    field = driver.find_element(By.CSS_SELECTOR, f"{PANEL} input[name='name']")
    field.clear()
    field.send_keys(name)
    _press(driver, "Draw grid")
    # Drawing has begun once the snap guides are on the map and geoman's polygon tool is on.
    wait_for(driver, "document.querySelector('.gm-snap-guide') && window.gridmapCtx.map.pm.globalDrawModeEnabled()"
                     " && !document.querySelector(\"" + PANEL + " button[disabled]\")")


def _sent(events: list[dict], method: str, path_part: str) -> list[dict]:
    """The JSON bodies of the requests sent with ``method`` to a URL containing ``path_part``."""
    return [json.loads(e["params"]["request"]["postData"]) for e in events
            if e["method"] == "Network.requestWillBeSent" and e["params"]["request"]["method"] == method
            and path_part in e["params"]["request"]["url"] and e["params"]["request"].get("postData")]


# ------------------------------------------------------------------ picking places in the test's own district


def _empty_spot(server: LiveServer) -> dict[str, Any]:
    """The village with the largest circle free of dedicated grids, and that circle (WGS84 degrees)."""
    with server.engine.connect() as conn:
        row = conn.execute(text("""
            WITH free AS (
              SELECT v.code, ST_Difference(v.geom, coalesce((SELECT ST_Union(g.geom) FROM grid g
                       JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'dedicated' WHERE g.geom && v.geom),
                       'SRID=4326;POLYGON EMPTY'::geometry)) AS geom
                FROM division v WHERE v.level = 'village')
            SELECT code, ST_X(c.center) AS lon, ST_Y(c.center) AS lat, c.radius
              FROM free, LATERAL ST_MaximumInscribedCircle(free.geom) c
             ORDER BY c.radius DESC LIMIT 1""")).mappings().one()
    return dict(row)


def _square(driver: Any, spot: dict[str, Any], half_px: float) -> list[tuple[float, float]]:
    """Container pixels of a square centred on the spot, inside its free circle at the current zoom."""
    cx, cy = _px(driver, spot["lon"], spot["lat"])
    ex, _ = _px(driver, spot["lon"] + spot["radius"], spot["lat"])
    half = min(half_px, (ex - cx) * 0.5)
    return [(cx - half, cy + half), (cx + half, cy + half), (cx + half, cy - half), (cx - half, cy - half)]


# ------------------------------------------------------------------ the confirmation (editor/confirm.js)


def _confirm(driver: Any, reason: str) -> None:
    """Wait for the dry run's preview, give the reason, apply."""
    box = ".gm-confirm"
    wait_for(driver, f"document.querySelector('{box} textarea.gm-confirm-reason')")
    driver.find_element(By.CSS_SELECTOR, f"{box} textarea.gm-confirm-reason").send_keys(reason)
    _press(driver, "Apply", within=box)


# ------------------------------------------------------------------ the tests


def test_planner_draws_a_new_grid_vertex_by_vertex(server: LiveServer, driver: Any) -> None:
    spot = _empty_spot(server)
    sign_in(driver, server, "planner")
    name = "浏览器绘制的专属网格 drawn in the browser"
    _start_drawing(driver, "dedicated", spot["code"], name)
    _fit(driver, spot["lon"] - spot["radius"], spot["lat"] - spot["radius"],
         spot["lon"] + spot["radius"], spot["lat"] + spot["radius"])
    corners = _square(driver, spot, 150)
    clicked = [_lonlat(driver, x, y) for x, y in corners]

    seen = []
    for i, (x, y) in enumerate(corners, start=1):
        _click_px(driver, x, y)
        wait_for(driver, f"document.querySelector('.gm-draw-stats').dataset.vertices === '{i}'")
        seen.append(_stats(driver))
    assert [s["vertices"] for s in seen] == [1, 2, 3, 4]
    assert seen[0]["area"] == 0 and seen[1]["area"] == 0
    assert 0 < seen[2]["area"] < seen[3]["area"]  # a triangle, then the square that contains it
    assert "m²" in seen[3]["text"]

    network(driver)
    _click_px(driver, *corners[0])  # back on the first vertex: the shape is closed
    _confirm(driver, "新建专属网格（浏览器测试）")
    wait_for(driver, "[...document.querySelectorAll('.gm-messages .gm-msg-success')].length > 0")

    with _api(server) as api:
        listed = api.get("/grids", params={"layer": "dedicated", "division": spot["code"], "limit": 1000}).json()
    made = [f for f in listed["features"] if f["properties"]["name"] == name]
    assert len(made) == 1, "GET /grids lists the grid drawn in the browser"
    sent = _sent(network(driver), "POST", "/grids")
    assert sent and sent[-1]["layer"] == "dedicated" and sent[-1]["division"] == spot["code"]
    # What was sent and stored is the square the planner clicked (to the pixel: a click lands on a
    # whole pixel), nothing snapped: no neighbour or parent vertex or edge was near.
    pixel = abs(_lonlat(driver, 1, 0)[0] - _lonlat(driver, 0, 0)[0])
    ring = sent[-1]["geometry"]["coordinates"][0]
    assert len(ring) == 5 and ring[0] == ring[-1]
    assert all(math.dist(p, q) < 1.5 * pixel for p, q in zip(ring, clicked))
    drawn = shape(sent[-1]["geometry"])
    assert shape(made[0]["geometry"]).symmetric_difference(drawn).area < drawn.area * 1e-4  # stored as sent
    with server.engine.connect() as conn:
        area = conn.execute(text("SELECT ST_Area(geom::geography) FROM grid WHERE code = :c"),
                            {"c": made[0]["properties"]["code"]}).scalar_one()
    assert abs(seen[3]["area"] - area) < area * 0.01  # the live figure is the stored area within 1%


def _village_vertex(server: LiveServer) -> dict[str, Any]:
    """A village, a vertex of one of its comprehensive grids far from the village's edge (as the API
    gives it) and the village's outline."""
    with server.engine.connect() as conn:
        village = conn.execute(text("""
            SELECT v.code, ST_AsGeoJSON(v.geom) AS outline FROM division v WHERE v.level = 'village'
             ORDER BY ST_Area(v.geom::geography) DESC LIMIT 1""")).mappings().one()
    outline = shape(json.loads(village["outline"]))
    with _api(server) as api:
        grids = api.get("/grids", params={"layer": "comprehensive", "division": village["code"]}).json()["features"]
    vertices = {tuple(c) for f in grids for poly in _polygons(f["geometry"]) for c in poly[0]}
    best = max(vertices, key=lambda c: outline.boundary.distance(Point(c)) if outline.contains(Point(c)) else -1)
    return {"code": village["code"], "outline": outline, "vertex": best}


def _polygons(geometry: dict) -> list:
    return [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]


def test_overlap_is_shown_before_the_reason_and_vertices_snap(server: LiveServer, driver: Any) -> None:
    place = _village_vertex(server)
    lon, lat = place["vertex"]
    sign_in(driver, server, "planner")
    _start_drawing(driver, "comprehensive", place["code"], "重叠的网格 overlapping")
    driver.execute_script("window.gridmapCtx.map.setView([arguments[1], arguments[0]], 17, {animate: false})",
                          lon, lat)
    x, y = _px(driver, lon, lat)
    # Two more corners 90 px away, inside the village.
    for angle in range(0, 360, 30):
        a, b = math.radians(angle), math.radians(angle + 50)
        others = [(x + 90 * math.cos(a), y + 90 * math.sin(a)), (x + 90 * math.cos(b), y + 90 * math.sin(b))]
        if all(place["outline"].contains(Point(_lonlat(driver, *p))) for p in others):
            break
    network(driver)
    _click_px(driver, x + 2, y)  # 2 px from the neighbour's vertex: it snaps onto it
    for p in others:
        _click_px(driver, *p)
    wait_for(driver, "document.querySelector('.gm-draw-stats').dataset.vertices === '3'")
    _click_px(driver, x, y)  # close on the first vertex
    # The dry run refuses the overlap: shown in red with its m², and no reason asked.
    wait_for(driver, "document.querySelector('.gm-confirm') && /m²/.test(document.querySelector('.gm-confirm')"
                     ".textContent)")
    red = driver.execute_script(
        "const out = []; window.gridmapCtx.map.eachLayer((l) => { if (l.options && l.options.color"
        " && /^#e31a1c$/i.test(l.options.color) && l.getLatLngs) out.push(1); });"
        " return out.length")
    assert red > 0, "the overlap is drawn in red"
    assert not driver.find_elements(By.CSS_SELECTOR, ".gm-confirm textarea")  # no reason asked
    sent = _sent(network(driver), "POST", "/grids?dry_run=true")
    assert sent, "the drawing was checked by a dry run"
    ring = sent[-1]["geometry"]["coordinates"][0]
    assert ring[0] == [lon, lat]  # exactly the neighbour's vertex, as the server gave it
    with server.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM grid WHERE name = '重叠的网格 overlapping'")).scalar_one() == 0


def test_viewer_has_no_edit_control(server: LiveServer, driver: Any) -> None:
    sign_in(driver, server, "viewer")
    state = map_state(driver)
    assert "draw" not in state["panels"]
    assert not [e for e in driver.find_elements(By.CSS_SELECTOR, ".gm-draw-panel, .leaflet-pm-toolbar")
                if e.is_displayed()]
    assert not driver.execute_script("return window.gridmapCtx.map.pm.globalDrawModeEnabled()"
                                     " || window.gridmapCtx.map.pm.globalEditModeEnabled()")


def _shared_edge(server: LiveServer) -> dict[str, Any]:
    """A comprehensive grid, one of its edges shared with exactly one neighbour, and the households that
    a dent at the edge's middle (40% of the way to the grid's inner point) would give to that neighbour."""
    with _api(server) as api:
        grids = api.get("/grids", params={"layer": "comprehensive", "limit": 1000}).json()["features"]
    edges: dict[frozenset, list[int]] = {}
    for f in grids:
        for poly in _polygons(f["geometry"]):
            ring = poly[0]
            for a, b in zip(ring, ring[1:]):
                edges.setdefault(frozenset((tuple(a), tuple(b))), []).append(f["properties"]["id"])
    with server.engine.connect() as conn:
        homes = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM household")).all()
    best = None
    for f in grids:
        parts = _polygons(f["geometry"])
        if len(parts) != 1:
            continue
        outline = Polygon(parts[0][0], parts[0][1:])
        inner = outline.representative_point()
        ring = parts[0][0]
        for a, b in zip(ring, ring[1:]):
            owners = edges[frozenset((tuple(a), tuple(b)))]
            if len(owners) != 2:
                continue
            mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
            dent = (mid[0] + 0.4 * (inner.x - mid[0]), mid[1] + 0.4 * (inner.y - mid[1]))
            triangle = Polygon([a, b, dent])
            if not triangle.is_valid or not outline.buffer(1e-9).contains(triangle):
                continue
            moved = sum(1 for x, y in homes if triangle.contains(Point(x, y)))
            if best is None or moved > best["moved"]:
                neighbour = next(i for i in owners if i != f["properties"]["id"])
                best = {"grid": f, "neighbour": next(g for g in grids if g["properties"]["id"] == neighbour),
                        "a": a, "b": b, "inner": (inner.x, inner.y), "moved": moved}
    assert best and best["moved"] > 0, "the demo district has a grid edge with households behind it"
    return best


def test_planner_drags_a_vertex_previews_the_reassignment_and_applies_it(server: LiveServer, driver: Any) -> None:
    pick = _shared_edge(server)
    grid, neighbour = pick["grid"]["properties"], pick["neighbour"]["properties"]
    sign_in(driver, server, "planner")
    lon0, lat0, lon1, lat1 = shape(pick["grid"]["geometry"]).bounds
    _fit(driver, lon0, lat0, lon1, lat1)
    # Select the grid by clicking inside it, then "Reshape".
    ix, iy = _px(driver, *pick["inner"])
    _fold_other_panels(driver)
    _click_px(driver, ix, iy)
    wait_for(driver, f"document.querySelector(\"{PANEL}\").textContent.includes({json.dumps(grid['code'])})")
    for close in driver.find_elements(By.CSS_SELECTOR, ".leaflet-popup-close-button"):
        close.click()
    _press(driver, "Reshape")
    wait_for(driver, "document.querySelectorAll('.marker-icon-middle').length > 0 && document.querySelector("
                     "'.gm-snap-guide')")
    before = _stats(driver)["vertices"]

    # Drag the edge's midpoint marker 20% of the way inwards: a new vertex; then drag that vertex on
    # to 40%: a dent in the grid.
    ax, ay = _px(driver, *pick["a"])
    bx, by = _px(driver, *pick["b"])
    mx, my = (ax + bx) / 2, (ay + by) / 2
    dx, dy = mx + 0.2 * (ix - mx), my + 0.2 * (iy - my)
    _drag_px(driver, mx, my, dx, dy)
    wait_for(driver, f"document.querySelector('.gm-draw-stats').dataset.vertices === '{before + 1}'")
    shallow = _stats(driver)
    _drag_px(driver, dx, dy, mx + 0.4 * (ix - mx), my + 0.4 * (iy - my))
    dx, dy = mx + 0.4 * (ix - mx), my + 0.4 * (iy - my)
    # A deeper dent: the live area shrinks, the vertex count stays.
    wait_for(driver, f"Number(document.querySelector('.gm-draw-stats').dataset.areaM2) < {shallow['area']}")
    dented = _stats(driver)
    assert dented["vertices"] == before + 1
    # One more vertex, from the midpoint between a and the dent, and a right click deletes it again.
    ex, ey = (ax + dx) / 2, (ay + dy) / 2
    _drag_px(driver, ex, ey, ex + 0.15 * (ix - ex), ey + 0.15 * (iy - ey))
    wait_for(driver, f"document.querySelector('.gm-draw-stats').dataset.vertices === '{before + 2}'")
    markers = driver.find_elements(By.CSS_SELECTOR, ".leaflet-marker-pane .marker-icon:not(.marker-icon-middle)")
    target = (ex + 0.15 * (ix - ex), ey + 0.15 * (iy - ey))
    box = driver.find_element(By.CSS_SELECTOR, ".leaflet-container").rect
    extra = min(markers, key=lambda m: math.dist(
        (m.rect["x"] + m.rect["width"] / 2 - box["x"], m.rect["y"] + m.rect["height"] / 2 - box["y"]), target))
    ActionChains(driver).context_click(extra).perform()
    wait_for(driver, f"document.querySelector('.gm-draw-stats').dataset.vertices === '{before + 1}'")
    assert _stats(driver)["area"] == dented["area"]  # the same shape as before the extra vertex

    network(driver)
    _press(driver, "Check")
    # A comprehensive grid must cover its territory (不重不漏): the dent is a gap, shown in red with its m²,
    # and the planner gives it to the neighbour.
    wait_for(driver, "document.querySelector('.gm-reshape-gap-choice')")
    choice = driver.find_element(By.CSS_SELECTOR, ".gm-reshape-gap-choice").text
    assert "m²" in choice
    _choose(driver, "fill_gap_into", str(neighbour["id"]))
    _press(driver, "Give it to this grid")
    # The preview names what moves from which grid to which, before the reason is asked.
    wait_for(driver, "document.querySelector('.gm-confirm') && document.querySelector('.gm-confirm').textContent"
                     f".includes({json.dumps(neighbour['code'])})")
    sent = _sent(network(driver), "PUT", f"/grids/{grid['id']}/geometry?dry_run=true")
    assert sent and sent[-1]["fill_gap_into"] == neighbour["id"]
    gap = shape(pick["grid"]["geometry"]).difference(shape(sent[-1]["geometry"]))
    with server.engine.connect() as conn:
        moving = conn.execute(text("SELECT count(*) FROM household WHERE ST_Covers(ST_GeomFromText(:g, 4326), geom)"),
                              {"g": gap.wkt}).scalar_one()
    assert moving > 0
    preview = driver.find_element(By.CSS_SELECTOR, ".gm-confirm").text
    assert str(moving) in preview and grid["code"] in preview

    reason = "边界调整到路中线（浏览器测试）"
    _confirm(driver, reason)
    wait_for(driver, "[...document.querySelectorAll('.gm-messages .gm-msg-success')].length > 0")
    with _api(server) as api:
        history = api.get(f"/grids/{grid['id']}/history").json()
    assert any(reason in json.dumps(entry, ensure_ascii=False) for entry in history), history
    with server.engine.connect() as conn:
        now = conn.execute(text("SELECT count(*) FROM household h JOIN grid g ON g.id = :n"
                                " WHERE ST_Covers(g.geom, h.geom) AND ST_Covers(ST_GeomFromText(:gap, 4326), h.geom)"),
                           {"n": neighbour["id"], "gap": gap.wkt}).scalar_one()
    assert now == moving  # the neighbour holds the households of the dent
