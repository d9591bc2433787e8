"""Demo responders keep fresh positions while ``gridmap serve`` runs: the server run as a subprocess,
as an operator starts it, on a small demo district of its own (importers/demo/motion.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
from sqlalchemy import Engine, text

from geo.db import make_sessionmaker, transaction
from geo.settings import PositionSettings
from importers.demo import motion

PASSWORD = "motion-demo-password-1"
ON_SHIFT = "availability IN ('available', 'on_duty', 'busy')"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_demo_accounts_nothing_moves(small: Engine) -> None:
    """A county without the demo generator's accounts (an imported one) is never moved."""
    with make_sessionmaker(small)() as session:
        assert motion.demo_counties(session) == []
        assert motion.step(session, positions=PositionSettings()).responders == 0
        session.rollback()


def test_a_demo_server_keeps_its_responders_fresh(small: Engine) -> None:
    from importers.demo.users import create_demo_users

    with transaction(make_sessionmaker(small)) as session:
        create_demo_users(session, PASSWORD)
        # As if the demo had been loaded two hours ago: every fix stale, the nearest list empty.
        session.execute(text("UPDATE staff SET position_at = now() - interval '2 hours'"))
        before = {r.id: (r.lon, r.lat) for r in session.execute(text(
            f"SELECT id, ST_X(position) AS lon, ST_Y(position) AS lat FROM staff WHERE {ON_SHIFT}"))}
        from_home = dict(session.execute(text(
            f"SELECT id, ST_Distance(position::geography, home::geography) FROM staff WHERE {ON_SHIFT}")).all())
        history = session.execute(text("SELECT count(*) FROM staff_position")).scalar_one()
    port = _free_port()
    env = {**os.environ, "GRIDMAP_DATABASE_URL": small.url.render_as_string(hide_password=False),
           "GRIDMAP_POOL_SIZE": "2", "GRIDMAP_DEMO_MOTION_SECONDS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "importers.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            with small.connect() as conn:
                fresh = conn.execute(text(f"SELECT count(*) FROM staff WHERE {ON_SHIFT}"
                                          " AND position_at > now() - interval '1 minute'")).scalar_one()
            if fresh == len(before):
                break
            assert time.monotonic() < deadline, f"only {fresh} of {len(before)} responders got a fresh fix"
            time.sleep(1)
        while True:  # the mover starts with the server; the server may still be starting
            try:
                httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.3)
        token = httpx.post(f"{base}/auth/token", data={"username": "emergency", "password": PASSWORD},
                           timeout=30).json()["access_token"]
        with small.connect() as conn:
            lon, lat = conn.execute(text("SELECT ST_X(e.geom), ST_Y(e.geom) FROM event e"
                                         " JOIN grid_membership m ON m.kind = 'event' AND m.entity_id = e.id"
                                         " JOIN app_user u ON u.username = 'emergency'"
                                         " JOIN grid g ON g.id = m.grid_id JOIN division v ON v.id = g.division_id"
                                         " WHERE v.parent_id = u.division_id ORDER BY e.id LIMIT 1")).one()
        found = httpx.get(f"{base}/responders/nearest?lon={lon}&lat={lat}&k=5",
                          headers={"Authorization": f"Bearer {token}"}, timeout=30).json()["responders"]
        assert len(found) == 5 and not any(r["stale"] for r in found)  # fresh fixes only, and there are some
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    with small.connect() as conn:
        moved = conn.execute(text(f"""
            SELECT s.id, ST_X(s.position) AS lon, ST_Y(s.position) AS lat,
                   ST_Covers(coalesce(g.geom, d.geom), s.position) AS inside,
                   ST_Distance(s.position::geography, s.home::geography) AS from_home
              FROM staff s LEFT JOIN grid g ON g.id = s.grid_id LEFT JOIN division d ON d.id = s.division_id
             WHERE s.{ON_SHIFT}""")).all()
        added = conn.execute(text("SELECT count(*) FROM staff_position")).scalar_one() - history
        off = conn.execute(text("SELECT count(*) FROM staff WHERE NOT " + ON_SHIFT
                                + " AND position_at > now() - interval '1 hour'")).scalar_one()
    assert added >= len(before)  # each fix went to the history, as a phone's would (POST /staff/me/position)
    assert off == 0  # off duty and out of service: no phone reporting
    assert sum(1 for m in moved if (m.lon, m.lat) != before[m.id]) > 0.9 * len(before)
    # Small steps inside the territory; a responder outside it (the demo scatters fixes ~400 m around
    # homes) walks back towards home, never further out.
    astray = [m.id for m in moved if not m.inside and 1 < m.from_home >= from_home[m.id] - 1]
    assert astray == [], f"responders {astray} wandered away outside their territory"
    assert sum(1 for m in moved if m.inside) >= 0.75 * len(moved)
