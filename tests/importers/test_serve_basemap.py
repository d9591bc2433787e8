"""``gridmap serve`` with a basemap file, run as an operator runs it (a subprocess).

A wrong GRIDMAP_BASEMAP_FILE must stop the server at once with the path in one line — never start
and answer 500 for every tile; a good one is served by the running server.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
from basemap_files import png, write_pmtiles

from geo.settings import DatabaseSettings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(db_settings: DatabaseSettings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_BASEMAP_")}
    return {**env, "GRIDMAP_DATABASE_URL": db_settings.database_url, "GRIDMAP_POOL_SIZE": "2", **extra}


def _serve(port: int) -> list[str]:
    return [sys.executable, "-m", "importers.cli", "serve", "--port", str(port)]


def test_a_missing_file_is_refused_before_starting(db_settings: DatabaseSettings, tmp_path: Path) -> None:
    missing = tmp_path / "县底图.pmtiles"
    done = subprocess.run(_serve(_free_port()), env=_env(db_settings, GRIDMAP_BASEMAP_FILE=str(missing)),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert str(missing) in done.stdout.replace("\n", "") and "does not exist" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_a_corrupt_file_stops_the_server_with_its_path(db_settings: DatabaseSettings, tmp_path: Path) -> None:
    corrupt = tmp_path / "broken.mbtiles"
    with sqlite3.connect(corrupt) as db:  # SQLite, but not MBTiles
        db.execute("CREATE TABLE something (a)")
    done = subprocess.run(_serve(_free_port()), env=_env(db_settings, GRIDMAP_BASEMAP_FILE=str(corrupt)),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert str(corrupt) in done.stderr and "not an MBTiles file" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_server_serves_the_file(db_settings: DatabaseSettings, tmp_path: Path) -> None:
    tile = png((10, 120, 200))
    path = write_pmtiles(tmp_path / "county.pmtiles", {(2, 3, 1): tile}, metadata={"attribution": "© 县测绘"})
    port = _free_port()
    proc = subprocess.Popen(_serve(port), env=_env(db_settings, GRIDMAP_BASEMAP_FILE=str(path)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            try:
                r = httpx.get(f"{base}/basemap/2/3/1", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.3)
        assert r.status_code == 200 and r.content == tile and r.headers["content-type"] == "image/png"
        assert httpx.get(f"{base}/basemap/2/0/0").status_code == 204
        assert httpx.get(f"{base}/basemap.json").json()["attribution"] == "© 县测绘"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
