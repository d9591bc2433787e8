"""/docs and /redoc work on an isolated network: headless Chromium against the real server.

FastAPI's default pages fetch Swagger UI and ReDoc from cdn.jsdelivr.net (and fonts from Google),
so without internet both were blank. Here the browser loads each page from a live server and we
record every request the page makes (Chromium's DevTools network log): all of them go to the test
server, and the pages really render (Swagger lists every operation and signs in with the OAuth2
password flow; ReDoc shows the operations).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from chromium import WAIT_S, elsewhere, network, start_chromium
from sqlalchemy.engine import make_url

from geo.db import make_engine, make_sessionmaker, transaction
from geo.migrate import upgrade
from geo.settings import DatabaseSettings, ServerSettings

READER, READER_PASSWORD = "docs_reader", "docs-reader-password"


@pytest.fixture(scope="module")
def server(db_settings: DatabaseSettings) -> Iterator[str]:
    """The app, served by uvicorn on a free port, on a database of its own (the sign-in commits)."""
    from conftest import drop_database, template_copy

    from api.main import create_app
    from geo.access.permissions import Role
    from geo.access.security import create_user

    settings = DatabaseSettings(database_url=template_copy(db_settings.database_url, "docs"), pool_size=2)
    upgrade(settings.database_url)
    owner = make_engine(settings)
    with transaction(make_sessionmaker(owner)) as session:
        create_user(session, username=READER, password=READER_PASSWORD, role=Role.VIEWER)
    owner.dispose()

    app = create_app(settings, ServerSettings())
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
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)
    app.state.engine.dispose()
    drop_database(db_settings.database_url, make_url(settings.database_url).database)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    driver = start_chromium()
    yield driver
    driver.quit()


def _visit(driver, url: str, ready: str) -> list[dict]:  # noqa: ANN001
    """Open ``url``, wait until ``ready`` (a CSS selector) is on the page, and return the network events."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    network(driver)
    driver.get(url)
    WebDriverWait(driver, WAIT_S).until(seen.presence_of_element_located((By.CSS_SELECTOR, ready)))
    time.sleep(1)  # what the page fetches after rendering (images, workers) is in the log too
    return network(driver)


def _open_tag(driver, tag: str, fold: bool = False) -> list:  # noqa: ANN001
    """Click a tag's header in Swagger UI and return its operation blocks once shown (none when folding)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def blocks(_: object) -> list:
        return driver.find_elements(By.CSS_SELECTOR, f'.opblock-tag-section .opblock-tag[data-tag="{tag}"]'
                                                     " ~ div .opblock")

    driver.find_element(By.CSS_SELECTOR, f'.opblock-tag[data-tag="{tag}"]').click()
    if fold:
        WebDriverWait(driver, WAIT_S).until(lambda d: not blocks(d))
        return []
    return WebDriverWait(driver, WAIT_S).until(blocks)


def _operations(server: str) -> list[tuple[str, str, str]]:
    """(method, path, summary) of every operation in the server's OpenAPI document."""
    import httpx

    spec = httpx.get(f"{server}/openapi.json", timeout=30).json()
    return [(method.upper(), path, op.get("summary", "")) for path, item in spec["paths"].items()
            for method, op in item.items() if method in ("get", "post", "put", "patch", "delete")]


def test_swagger_ui_renders_every_operation_from_this_server_only(server: str, browser) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    events = _visit(browser, f"{server}/docs", ".opblock-tag")
    assert elsewhere(events, server) == []
    ours = {url for url in (e["params"]["request"]["url"] for e in events
                            if e["method"] == "Network.requestWillBeSent") if url.startswith(server)}
    assert f"{server}/static/vendor/swagger-ui/swagger-ui-bundle.js" in ours
    assert f"{server}/openapi.json" in ours
    tags = [t.get_attribute("data-tag") for t in browser.find_elements(By.CSS_SELECTOR, ".opblock-tag")]
    assert tags and not browser.find_elements(By.CSS_SELECTOR, ".opblock")  # tags start folded (api/web/docs.py)
    shown = set()
    for tag in tags:  # as a reader does: open a tag, read its operations, fold it again
        ops = _open_tag(browser, tag)
        shown |= {(b.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text,
                   b.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path")) for b in ops}
        _open_tag(browser, tag, fold=True)
    assert shown == {(method, path) for method, path, _ in _operations(server)}
    assert browser.find_elements(By.CSS_SELECTOR, "button.authorize")  # the OAuth2 sign-in


def test_swagger_ui_signs_in_with_the_password_flow(server: str, browser) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT_S)
    _visit(browser, f"{server}/docs", ".opblock-tag")
    _open_tag(browser, "auth")
    browser.find_element(By.CSS_SELECTOR, ".auth-wrapper button.authorize").click()
    wait.until(seen.visibility_of_element_located((By.ID, "oauth_username"))).send_keys(READER)
    browser.find_element(By.ID, "oauth_password").send_keys(READER_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper button.authorize").click()
    # Swagger UI posted the form to /auth/token; with the token it offers to log out.
    wait.until(seen.visibility_of_element_located((By.XPATH, "//div[contains(@class, 'auth-btn-wrapper')]"
                                                             "/button[normalize-space() = 'Logout']")))
    browser.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper button.btn-done").click()

    me = browser.find_element(By.CSS_SELECTOR, '.opblock-get .opblock-summary-path[data-path="/auth/me"]')
    block = me.find_element(By.XPATH, "ancestor::div[contains(@class, 'opblock ')]")
    block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(lambda _: block.find_elements(By.CSS_SELECTOR, ".try-out__btn"))[0].click()
    block.find_element(By.CSS_SELECTOR, "button.execute").click()
    status = wait.until(lambda _: block.find_elements(By.CSS_SELECTOR,
                                                        ".live-responses-table tr.response .response-col_status"))
    assert status[0].text.strip().startswith("200")
    body = block.find_element(By.CSS_SELECTOR, ".live-responses-table tr.response .highlight-code").text
    assert READER in body  # /auth/me answered as the account signed in through the form


def test_redoc_renders_from_this_server_only(server: str, browser) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    events = _visit(browser, f"{server}/redoc", ".api-content h2")
    assert elsewhere(events, server) == []
    content = browser.find_element(By.CSS_SELECTOR, ".api-content").get_attribute("textContent")
    missing = [summary for _, _, summary in _operations(server) if summary and summary not in content]
    assert missing == []
    assert "gridmap" in browser.find_element(By.CSS_SELECTOR, ".api-content h1").text
    fonts = browser.execute_script("return [...document.querySelectorAll('link')].map(l => l.href)")
    assert not [href for href in fonts if not href.startswith(server)]


def test_the_pages_confine_themselves_to_this_server(server: str) -> None:
    import re

    import httpx

    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        page = httpx.get(f"{server}{path}", timeout=30)
        assert page.status_code == 200
        policy = dict(d.strip().split(" ", 1) for d in page.headers["content-security-policy"].split(";"))
        assert policy["default-src"] == "'self'" and policy["connect-src"] == "'self'"
        assert "unsafe-inline" not in policy["script-src"]  # the inline scripts are allowed by their hashes
        assert re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page.text, re.I) == []
