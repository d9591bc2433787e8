"""Headless Chromium for the tests that drive a real browser (tests/browser/, the API docs pages).

One place for how the browser is started (an isolated network: no name resolves but this machine's
own addresses) and for reading its DevTools network log.
"""

from __future__ import annotations

import json
import shutil
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT_S = 60  # a bound on waiting for a page, not a speed target


def start_chromium() -> Any:
    """A headless Chromium on an isolated network (only 127.0.0.1 resolves), 1280x900, logging the network."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not shutil.which(CHROMIUM) or not shutil.which(CHROMEDRIVER):
        pytest.fail("headless Chromium is needed: `make test` installs Debian's chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--window-size=1280,900",
                 # An isolated network: no name resolves except this machine's own addresses.
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    chrome.set_page_load_timeout(WAIT_S)
    return chrome


def network(driver: Any) -> list[dict]:
    """The DevTools network events since the last call (reading the log empties it)."""
    events = [json.loads(entry["message"])["message"] for entry in driver.get_log("performance")]
    return [e for e in events if e["method"].startswith("Network.")]


def elsewhere(events: list[dict], server: Any) -> list[str]:
    """Requests in ``events`` to any host but the server, each with how it ended.

    A request the page's Content-Security-Policy stopped never leaves the browser (DevTools still
    logs the attempt, with ``blockedReason: csp``); anything else going out is a failure.
    """
    ours = urlsplit(str(server)).netloc
    blocked = {e["params"]["requestId"]: e["params"].get("blockedReason") for e in events
               if e["method"] == "Network.loadingFailed"}
    out = []
    for e in events:
        if e["method"] != "Network.requestWillBeSent":
            continue
        url = urlsplit(e["params"]["request"]["url"])
        if url.scheme in ("data", "blob") or (url.scheme in ("http", "https") and url.netloc == ours):
            continue
        if blocked.get(e["params"]["requestId"]) != "csp":
            out.append(f"{url.geturl()} ({blocked.get(e['params']['requestId'], 'sent')})")
    return out
