"""The live stream (GET /live) with real clients against `gridmap serve --workers 2` in a subprocess.

Each stream is an httpx streaming request read in a thread of its own, as a browser's fetch reads it;
the writes come from other clients (an anonymous report over HTTP) and from another process (SQL of
the owner role, as an import or the CLI writes), so what is tested is the whole path: trigger, NOTIFY,
each worker's listener, its territory filter and the SSE framing.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from sqlalchemy import Engine, text

from geo.db import make_sessionmaker, transaction

PASSWORD = "live-test-password-1"
ARRIVAL_S = 1.0  # the promise: within a second of the commit
QUIET_S = 1.5  # how long a stream that must stay silent is watched


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    engine: Engine
    proc: subprocess.Popen


def _serve(small: Engine, workers: int, **env: str) -> Server:
    port = _free_port()
    environ = {**os.environ, "GRIDMAP_DATABASE_URL": small.url.render_as_string(hide_password=False),
               "GRIDMAP_POOL_SIZE": "2", **env}
    proc = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "gridmap"), "serve", "--port", str(port),
                             "--workers", str(workers)], env=environ,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return Server(url, small, proc)
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("server did not start")


@pytest.fixture(scope="module")
def users(small: Engine) -> dict[str, int]:
    from importers.demo.users import create_demo_users

    with transaction(make_sessionmaker(small)) as session:
        create_demo_users(session, PASSWORD)
        return dict(session.execute(text("SELECT username, id FROM app_user")).all())


@pytest.fixture(scope="module")
def server(small: Engine, users: dict[str, int]) -> Iterator[Server]:
    srv = _serve(small, 2, GRIDMAP_LIVE_PER_USER="2", GRIDMAP_LIVE_HEARTBEAT_S="1")
    yield srv
    srv.proc.terminate()
    srv.proc.wait(timeout=30)


def token(server: Server, username: str) -> str:
    r = httpx.post(f"{server.url}/auth/token", data={"username": username, "password": PASSWORD}, timeout=30)
    r.raise_for_status()
    return r.json()["access_token"]


@dataclass
class Stream:
    """One open GET /live, read in a thread: messages land in ``inbox`` with their arrival time."""

    server: Server
    bearer: str
    last_id: str | None = None
    inbox: queue.Queue = field(default_factory=queue.Queue)
    status: int | None = None
    problem: dict | None = None
    comments: int = 0
    ended: threading.Event = field(default_factory=threading.Event)
    ready: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._client = httpx.Client(timeout=httpx.Timeout(30, read=60))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        headers = {"Authorization": f"Bearer {self.bearer}", "Accept": "text/event-stream"}
        if self.last_id:
            headers["Last-Event-ID"] = self.last_id
        try:
            with self._client.stream("GET", f"{self.server.url}/live", headers=headers) as r:
                self.status = r.status_code
                if r.status_code != 200:
                    self.problem = json.loads(r.read())
                    self.problem["content_type"] = r.headers.get("content-type")
                    return
                event, data, mid = "message", [], None
                for line in r.iter_lines():
                    if line.startswith(":"):
                        self.comments += 1
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif line.startswith("id:"):
                        mid = line[3:].strip()
                    elif line == "" and data:
                        self.inbox.put((time.monotonic(), event, json.loads("\n".join(data)), mid))
                        if event == "ready":
                            self.ready.set()
                        event, data, mid = "message", [], None
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()
            self.ready.set()

    def wait_ready(self) -> None:
        assert self.ready.wait(20), "the stream never said it was ready"
        assert self.status == 200, self.problem
        kind = self.inbox.get(timeout=1)[1]
        assert kind == "ready"

    def next(self, kind: str, timeout: float, where: callable = lambda d: True) -> tuple[float, dict, str] | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                at, event, data, mid = self.inbox.get(timeout=left)
            except queue.Empty:
                return None
            if event == kind and where(data):
                return at, data, mid
        return None

    def close(self) -> None:
        self._client.close()
        self.ended.wait(5)


def _open(server: Server, username: str, **kw: str) -> Stream:
    s = Stream(server, token(server, username), **kw)
    s.wait_ready()
    return s


def _point_of_grid_of(engine: Engine, username: str, *, other_than: str | None = None) -> tuple[float, float]:
    """A point inside a comprehensive grid of this user's territory (and outside ``other_than``'s)."""
    with engine.connect() as conn:
        return tuple(conn.execute(text("""
            SELECT ST_X(p), ST_Y(p) FROM (
              SELECT ST_PointOnSurface(g.geom) AS p FROM grid g
                JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
                JOIN app_user u ON u.username = :u
               WHERE (g.id = u.grid_id OR g.division_id IN (
                     WITH RECURSIVE d AS (SELECT id FROM division WHERE id = u.division_id
                                          UNION ALL SELECT c.id FROM division c JOIN d ON c.parent_id = d.id)
                     SELECT id FROM d))
                 AND (CAST(:o AS text) IS NULL OR g.division_id <> (SELECT division_id FROM app_user WHERE username = :o))
               ORDER BY g.code LIMIT 1) x"""), {"u": username, "o": other_than}).one())


def _report(server: Server, lon: float, lat: float) -> tuple[float, int]:
    """An anonymous citizen's report (another client); the time its 201 arrived and the event's id."""
    r = httpx.post(f"{server.url}/events", timeout=30, json={
        "category": "environment.garbage", "description": "垃圾堆放 13812345678",
        "location": {"lon": lon, "lat": lat}, "contact": {"name": "张三", "phone": "13812345678"}})
    assert r.status_code == 201, r.text
    return time.monotonic(), r.json()["id"]


def test_a_report_reaches_its_territory_within_a_second_and_no_one_else(server: Server) -> None:
    lon, lat = _point_of_grid_of(server.engine, "head1")
    admin, head, other, viewer = (_open(server, u) for u in ("admin", "head1", "worker2", "viewer"))
    try:
        sent, event_id = _report(server, lon, lat)
        for stream in (admin, head):
            got = stream.next("event", 5, lambda d: d["id"] == event_id)
            assert got is not None, "the report never arrived"
            at, data, mid = got
            assert at - sent < ARRIVAL_S, f"arrived {at - sent:.3f} s after the 201"
            assert set(data) == {"id", "status", "category", "lon", "lat", "grid_code", "due_at"}
            assert data["status"] == "reported" and data["category"] == "environment.garbage"
            assert abs(data["lon"] - lon) < 1e-9 and abs(data["lat"] - lat) < 1e-9
            assert data["grid_code"] and mid
            assert "13812345678" not in json.dumps(data) and "张三" not in json.dumps(data)
        assert other.next("event", QUIET_S, lambda d: d["id"] == event_id) is None, "outside worker2's village"
        assert viewer.next("event", 0.1) is None, "a viewer has no events:read"
    finally:
        for s in (admin, head, other, viewer):
            s.close()


def test_a_write_from_another_process_arrives(server: Server) -> None:
    """SQL of the owner role (as an import or `gridmap` on the command line writes): heard by the workers."""
    admin, emergency, viewer = (_open(server, u) for u in ("admin", "emergency", "viewer"))
    try:
        with server.engine.begin() as conn:
            event_id = conn.execute(text("SELECT id FROM event ORDER BY id LIMIT 1")).scalar_one()
            status, due = conn.execute(text(
                "UPDATE event SET due_at = coalesce(due_at, now()) + interval '1 hour' WHERE id = :e"
                " RETURNING status::text, due_at"), {"e": event_id}).one()
        sent = time.monotonic()
        got = admin.next("event", 5, lambda d: d["id"] == event_id)
        assert got is not None and got[0] - sent < ARRIVAL_S
        assert got[1]["status"] == status and datetime.fromisoformat(got[1]["due_at"]) == due

        with server.engine.begin() as conn:  # a responder of the emergency officer's township moves
            staff_id, lon, lat = conn.execute(text("""
                SELECT s.id, ST_X(s.home) + 0.000123, ST_Y(s.home) + 0.000045 FROM staff s
                 WHERE s.division_id IN (SELECT id FROM division WHERE parent_id =
                                          (SELECT division_id FROM app_user WHERE username = 'emergency'))
                 ORDER BY s.id LIMIT 1""")).one()
            conn.execute(text("UPDATE staff SET position = ST_SetSRID(ST_MakePoint(:x, :y), 4326), position_at = now()"
                              " WHERE id = :s"), {"s": staff_id, "x": lon, "y": lat})
        sent = time.monotonic()
        exact = admin.next("responder", 5, lambda d: d["staff_id"] == staff_id)
        masked = emergency.next("responder", 5, lambda d: d["staff_id"] == staff_id)
        assert exact is not None and masked is not None
        assert max(exact[0], masked[0]) - sent < ARRIVAL_S
        assert set(exact[1]) == {"staff_id", "role", "availability", "lon", "lat", "at"}
        assert abs(exact[1]["lon"] - lon) < 1e-9, "admin has pii:read: the exact fix"
        assert masked[1]["lon"] == round(lon, 3) and masked[1]["lat"] == round(lat, 3), "no pii:read: ~100 m"
        assert viewer.next("responder", 0.5) is None, "a viewer has no staff:read"
    finally:
        for s in (admin, emergency, viewer):
            s.close()


def test_a_reconnect_with_last_event_id_gets_what_it_missed(server: Server) -> None:
    lon, lat = _point_of_grid_of(server.engine, "head1")
    first = _open(server, "head1")
    _, seen = _report(server, lon, lat)
    got = first.next("event", 5, lambda d: d["id"] == seen)
    assert got is not None
    first.close()
    _, missed = _report(server, lon, lat)  # while the map was away
    time.sleep(0.5)  # heard by every worker by now
    again = Stream(server, token(server, "head1"), last_id=got[2])
    try:
        again.wait_ready()
        assert again.next("event", 5, lambda d: d["id"] == missed) is not None
    finally:
        again.close()
    stale = Stream(server, token(server, "head1"), last_id="1-0")  # older than anything kept: reload
    try:
        stale.wait_ready()
        assert stale.next("resync", 2) is not None
    finally:
        stale.close()


def test_heartbeats_caps_and_cleanup(server: Server) -> None:
    """GRIDMAP_LIVE_PER_USER=2 per process: with 2 workers, 5 streams of one account cannot all open."""
    streams = [Stream(server, token(server, "planner")) for _ in range(5)]
    try:
        for s in streams:
            assert s.ready.wait(20)
        refused = [s for s in streams if s.status == 429]
        assert refused and len(refused) <= 3
        problem = refused[0].problem
        assert problem["content_type"].startswith("application/problem+json")
        assert problem["status"] == 429 and "live" in json.dumps(problem)
        time.sleep(2.5)
        assert all(s.comments >= 2 for s in streams if s.status == 200), "a heartbeat a second"
    finally:
        for s in streams:
            s.close()
    time.sleep(1)  # the server notices the disconnects
    again = [_open(server, "planner") for _ in range(2)]  # freed: room again (two per worker is at least 2)
    for s in again:
        s.close()


def test_an_expiring_token_ends_the_stream(server: Server) -> None:
    """A token that runs out ends its stream with `expired`; the client renews and resumes."""
    with server.engine.connect() as conn:
        key = conn.execute(text("SELECT value FROM app_secret WHERE name = 'token_signing_key'")).scalar_one()
        user = conn.execute(text("SELECT id, token_version FROM app_user WHERE username = 'admin'")).one()
    now = datetime.now(UTC)
    short = jwt.encode({"iss": "gridmap", "aud": "gridmap-api", "sub": str(user.id), "ver": user.token_version,
                        "iat": now, "exp": now + timedelta(seconds=3), "typ": "access", "role": "admin",
                        "jti": "live-test"}, key, "HS256")
    s = Stream(server, short)
    try:
        s.wait_ready()
        assert s.next("expired", 8) is not None
        assert s.ended.wait(5), "the stream ended after its token expired"
    finally:
        s.close()


def test_without_a_token_is_401(server: Server) -> None:
    r = httpx.get(f"{server.url}/live", timeout=10)
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
