"""After any error answer the client's keep-alive connection still works, or the answer says
``Connection: close`` (issue 11). Against a real uvicorn server in a thread, one socket per test."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from geo.settings import AuthSettings, DatabaseSettings, ServerSettings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(app: FastAPI) -> Iterator[int]:
    """``app`` behind uvicorn on a free port, in a thread; yields the port."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[http.client.HTTPResponse, bytes]:
    conn.request("GET", path)
    response = conn.getresponse()
    return response, response.read()


def _app(db_settings: DatabaseSettings, **auth: str) -> FastAPI:
    from api.main import create_app

    return create_app(db_settings, ServerSettings(), AuthSettings(**auth))


def test_after_a_500_the_same_connection_serves_the_next_request(db_settings: DatabaseSettings) -> None:
    app = _app(db_settings)

    def boom() -> None:
        raise RuntimeError("a bug in a route")

    app.add_api_route("/boom", boom)
    with serving(app) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        response, body = _get(conn, "/boom")
        assert response.status == 500
        assert response.getheader("content-type") == "application/problem+json"
        assert "incident" in json.loads(body)["detail"] and "RuntimeError" not in body.decode()
        assert response.getheader("connection") is None
        used = conn.sock
        again, _ = _get(conn, "/health")  # "connection reset" here before issue 11
        assert again.status == 200 and conn.sock is used
        conn.close()


def test_a_lost_database_is_a_503_and_the_connection_stays_usable() -> None:
    nowhere = "postgresql+psycopg2://gridmap:gridmap@127.0.0.1:9/gridmap"  # the discard port: nothing listens
    app = _app(DatabaseSettings(database_url=nowhere, app_database_url=nowhere), token_key="k" * 32)
    with serving(app) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        used = None
        for _ in range(2):
            response, body = _get(conn, "/health/db")
            assert response.status == 503, body
            assert response.getheader("content-type") == "application/problem+json"
            assert int(response.getheader("retry-after", "0")) >= 1
            assert "unavailable" in json.loads(body)["detail"] and "psycopg2" not in body.decode()
            assert response.getheader("connection") is None
            assert used is None or conn.sock is used
            used = conn.sock
        conn.close()


def test_an_error_outside_the_boundary_says_connection_close(db_settings: DatabaseSettings) -> None:
    """An error in a middleware outside the app's error boundary reaches Starlette's last handler, which
    re-raises after answering; the server then closes the socket, so the answer must say so."""
    app = _app(db_settings)

    class Broken:
        def __init__(self, app: object) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["path"] == "/broken":
                raise RuntimeError("a bug in a middleware")
            await self.app(scope, receive, send)  # type: ignore[operator]

    app.add_middleware(Broken)
    with serving(app) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        response, _ = _get(conn, "/broken")
        assert response.status == 500 and response.getheader("connection") == "close"
        again, _ = _get(conn, "/health")  # http.client reconnects because it was told to
        assert again.status == 200
        conn.close()


def test_the_boundary_leaves_the_body_limit_its_413(db_settings: DatabaseSettings) -> None:
    """An error raised by an outer middleware's body reader is that middleware's to answer."""
    app = _app(db_settings)

    async def raw(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    app.add_api_route("/raw", raw, methods=["POST"])
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post("/raw", content=(b"x" * 100_000 for _ in range(40)))  # chunked: no Content-Length
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
