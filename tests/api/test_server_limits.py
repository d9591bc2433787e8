"""The anonymous-report limit across real server processes on one database, as `--workers N` runs them.

Each server is uvicorn with its own proxy-header handling off, as `gridmap serve` runs it: the app
alone decides whom to believe (GRIDMAP_TRUSTED_PROXIES).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine, text

from geo.settings import DatabaseSettings

OUTSIDE = {"category": "environment.garbage", "location": {"lon": 0.0, "lat": 0.0}}  # 422, stores nothing


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(db_settings: DatabaseSettings, **env: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    environ = {**os.environ, "GRIDMAP_DATABASE_URL": db_settings.database_url, "GRIDMAP_POOL_SIZE": "2",
               "GRIDMAP_PUBLIC_REPORTS_PER_MINUTE": "1", "GRIDMAP_PUBLIC_REPORTS_BURST": "4", **env}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "api.asgi:app", "--host", "127.0.0.1",
                             "--port", str(port), "--no-proxy-headers", "--no-access-log"],
                            env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc, f"http://127.0.0.1:{port}"


def _wait(proc: subprocess.Popen, base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


@pytest.fixture(scope="module")
def servers(db_settings: DatabaseSettings, engine: Engine, district) -> Iterator[dict[str, str]]:  # noqa: ANN001
    started = {"a": _start(db_settings), "b": _start(db_settings),
               "proxied": _start(db_settings, GRIDMAP_TRUSTED_PROXIES="127.0.0.1")}
    try:
        for proc, base in started.values():
            _wait(proc, base)
        yield {name: base for name, (_, base) in started.items()}
    finally:
        for proc, _ in started.values():
            proc.terminate()
        for proc, _ in started.values():
            proc.wait(timeout=20)


def test_the_limit_holds_jointly_across_processes(servers: dict[str, str], engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM rate_bucket WHERE key LIKE 'report:%'"))
    answers = []
    for i in range(7):  # alternate servers, forging a new address each time
        base = servers["a"] if i % 2 == 0 else servers["b"]
        answers.append(httpx.post(f"{base}/events", json=OUTSIDE, timeout=10,
                                  headers={"X-Forwarded-For": f"198.51.100.{i + 1}"}))
    assert [r.status_code for r in answers] == [422] * 4 + [429] * 3, [r.text for r in answers]
    refused = answers[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["retry-after"]) <= 61  # one report's worth at one a minute
    open311 = httpx.post(f"{servers['b']}/open311/v2/requests.json", timeout=10,
                         data={"service_code": "environment.garbage", "lat": 0, "long": 0})
    assert open311.status_code == 429 and int(open311.headers["retry-after"]) >= 1  # the same bucket


def test_a_trusted_proxy_gives_each_client_its_own_bucket(servers: dict[str, str], engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM rate_bucket WHERE key LIKE 'report:%'"))
    for _ in range(4):
        httpx.post(f"{servers['proxied']}/events", json=OUTSIDE, timeout=10,
                   headers={"X-Forwarded-For": "198.51.100.20"})
    spent = httpx.post(f"{servers['proxied']}/events", json=OUTSIDE, timeout=10,
                       headers={"X-Forwarded-For": "198.51.100.20"})
    fresh = httpx.post(f"{servers['proxied']}/events", json=OUTSIDE, timeout=10,
                       headers={"X-Forwarded-For": "198.51.100.21"})
    assert spent.status_code == 429 and fresh.status_code == 422
    with engine.connect() as conn:
        keys = set(conn.execute(text("SELECT key FROM rate_bucket WHERE key LIKE 'report:%'")).scalars())
    assert keys == {"report:198.51.100.20", "report:198.51.100.21"}
