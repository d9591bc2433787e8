"""The harness for browser tests of the web map: a live server on its own demo database, headless Chromium.

Every browser test uses it the same way (see test_map_basics.py)::

    def test_something(server, driver):
        sign_in(driver, server, "planner", DEMO_PASSWORD)      # waits until the map has loaded grids
        state = map_state(driver)                              # read from window.gridmapCtx
        ...
        assert elsewhere(network(driver), server) == []        # nothing went to another host

- ``server`` (module scope): the app served by uvicorn in a thread on a free port, on a small demo
  district in a database of its own (the ``small`` fixture of tests/conftest.py) with the demo
  accounts (importers/demo/users.py: admin, planner, viewer, department, emergency, head1, worker1,
  worker2), all with ``DEMO_PASSWORD``. ``server.url`` is its address; ``server.engine`` reaches
  its database (the owner role) to check what a click stored.
- ``driver`` (module scope): headless Chromium through chromedriver, window 1280x900, every host
  but 127.0.0.1 unresolvable (an isolated network), with the DevTools performance log on.
- ``network(driver)``: the DevTools network events since the last call; ``elsewhere(events, server)``
  the requests among them to any other host (CSP-blocked attempts excepted).
- ``wait_for(driver, js, timeout)``: poll a JS expression until it is truthy, return its value.
- ``map_state(driver)``: the map as the page sees it (signed-in user, zoom, features per overlay,
  messages, visible panels), read from ``window.gridmapCtx`` which main.js exposes for this.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from chromium import WAIT_S, elsewhere, network, start_chromium  # noqa: F401 - network and elsewhere are for the tests
from sqlalchemy import Engine

from geo.db import make_sessionmaker, transaction
from geo.settings import BasemapSettings, DatabaseSettings, ServerSettings

DEMO_PASSWORD = "browser-demo-password-1"


@dataclass(frozen=True)
class LiveServer:
    url: str
    engine: Engine  # the owner role on the server's database

    def __str__(self) -> str:
        return self.url


@pytest.fixture(scope="module")
def server_basemap() -> BasemapSettings | None:
    """The basemap the live server serves: none (the app's own look) unless a test module overrides
    this fixture (tests/browser/test_basemap.py serves a PMTiles file it makes)."""
    return None


@pytest.fixture(scope="module")
def server(small: Engine, server_basemap: BasemapSettings | None) -> Iterator[LiveServer]:
    """The app on a free port, on the ``small`` demo district with the demo accounts."""
    from api.main import create_app
    from importers.demo.users import create_demo_users

    with transaction(make_sessionmaker(small)) as session:
        create_demo_users(session, DEMO_PASSWORD)
    settings = DatabaseSettings(database_url=small.url.render_as_string(hide_password=False), pool_size=4)
    app = create_app(settings, ServerSettings(), basemap_settings=server_basemap)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}", small)
    uv.should_exit = True
    thread.join(timeout=10)
    app.state.engine.dispose()


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """Headless Chromium on an isolated network (only 127.0.0.1 resolves)."""
    chrome = start_chromium()
    yield chrome
    chrome.quit()


def requested(events: list[dict]) -> list[str]:
    """The URLs of the requests in ``events``, in order."""
    return [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]


def wait_for(driver: Any, js: str, timeout: float = WAIT_S) -> Any:
    """Poll the JS expression ``js`` (evaluated as ``return (<js>)``) until it is truthy; its value.

    Fails with the expression and the page's console errors when it does not come true in time.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(f"try {{ return ({js}); }} catch (e) {{ return null; }}")
        if value:
            return value
        if time.monotonic() > deadline:
            errors = [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
            where = driver.execute_script("return [location.href, !!window.gridmapCtx, document.title]")
            pytest.fail(f"timed out waiting for `{js}` on {where}; console errors: {errors}")
        time.sleep(0.1)


_STATE_JS = """
const ctx = window.gridmapCtx;
if (!ctx) return null;
const count = (group) => group.getLayers().length;
const user = ctx.auth.user();
return {
  user: user ? user.username : null,
  zoom: ctx.map.getZoom(),
  grids: Object.fromEntries(ctx.grids.map((g) => [g.layer.code, {on: ctx.map.hasLayer(g.group), features: count(g.group)}])),
  divisions: Object.fromEntries(ctx.divisions.map((d) => [d.level, {on: ctx.map.hasLayer(d.group), features: count(d.group)}])),
  messages: [...document.querySelectorAll('.gm-messages .gm-message')].map((m) => ({
    kind: ['success', 'warning', 'error'].find((k) => m.classList.contains('gm-msg-' + k)) || null,
    text: m.querySelector('.gm-message-text').textContent, owner: m.dataset.owner})),
  panels: [...document.querySelectorAll('.gm-dock .gm-panel')].filter((p) => p.style.display !== 'none')
    .map((p) => p.dataset.panel),
  login: getComputedStyle(document.querySelector('.gm-login-backdrop')).display !== 'none',
  popup: (document.querySelector('.leaflet-popup .gm-popup-title') || {}).textContent || null,
};
"""


def map_state(driver: Any) -> dict:
    """The map as the page sees it; see _STATE_JS for the keys."""
    return driver.execute_script(_STATE_JS)


def sign_in(driver: Any, server: LiveServer | str, username: str, password: str = DEMO_PASSWORD) -> None:
    """Open the map with no session, sign in through the login panel, wait until grids are on the map."""
    from selenium.webdriver.common.by import By

    # Forget any session on a page of this origin that runs no script of ours (the map page could
    # write its session back from a request still in flight).
    driver.get(f"{server}/health")
    driver.execute_script("window.sessionStorage.clear()")
    driver.get(f"{server}/")
    wait_for(driver, "window.gridmapCtx && document.querySelector('.gm-login-backdrop').style.display !== 'none'")
    form = driver.find_element(By.CSS_SELECTOR, "form.gm-login")
    form.find_element(By.NAME, "username").send_keys(username)
    form.find_element(By.NAME, "password").send_keys(password)
    form.find_element(By.CSS_SELECTOR, "button.gm-login-submit").click()
    wait_for(driver, "window.gridmapCtx.auth.signedIn() && window.gridmapCtx.grids.some("
                     "(g) => g.group.getLayers().length > 0)")


def click_map_at(driver: Any, lon: float, lat: float) -> None:
    """Click the map where (lon, lat) is shown, as a user's mouse would."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    x, y = driver.execute_script(
        "const p = window.gridmapCtx.map.latLngToContainerPoint([arguments[1], arguments[0]]); return [p.x, p.y];",
        lon, lat)
    container = driver.find_element(By.CSS_SELECTOR, ".leaflet-container")
    size = container.size
    ActionChains(driver).move_to_element_with_offset(
        container, int(x - size["width"] / 2), int(y - size["height"] / 2)).click().perform()
