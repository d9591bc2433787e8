"""What every benchmark shares: a fresh database, a timer, wrk, a bench token and the real server.

Kept apart from ``bench/run.py`` so that the benchmark modules import these helpers and the runner
imports the benchmarks, never the other way round.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from geo.db import make_engine, make_sessionmaker, transaction
from geo.migrate import upgrade
from geo.settings import DatabaseSettings
from importers.demo import PlanParams
from importers.provision import TEMPLATE_DATABASE, provision_local

# The benchmark county: 10,000 grids per layer and a million households.
SCALE = PlanParams(townships=20, villages_per_township=50, grids=10_000, households=1_000_000,
                   party_merge_share=0.0, misalignments=50, emergency_grids=10_000,
                   micro_grids=False)


def fresh_database(name: str) -> str:
    if DatabaseSettings().is_default:
        provision_local()
    base = DatabaseSettings().database_url
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DATABASE}"'))
    admin.dispose()
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


@contextmanager
def timed(label: str, results: dict[str, float]) -> Iterator[None]:
    start = time.perf_counter()
    yield
    results[label] = time.perf_counter() - start
    print(f"  {label}: {results[label]:.2f} s", flush=True)



WRK_SCRIPT = """
local points = {%s}
local i = 0
request = function()
  i = i %% #points + 1
  return wrk.format(nil, "/locate?lon=" .. points[i][1] .. "&lat=" .. points[i][2])
end
"""


def wrk(url: str, script: str | None, seconds: int, connections: int, token: str | None = None) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run([*cmd, url], check=True, capture_output=True, text=True).stdout
    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)", out, re.M)
        assert m, out
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": ms("50"), "p99": ms("99"), "errors": float(non2xx.group(1)) if non2xx else 0.0}


ROUNDS = 5


def bench_token(url: str, username: str = "bench", role: str = "viewer") -> str:
    """An access token of a county-wide account (created on first use): the HTTP benchmarks run with
    authentication and scoping on, as production does."""
    from sqlalchemy import select

    from geo.access.permissions import Role
    from geo.access.security import TokenSettings, create_user, issue_tokens, signing_key
    from geo.models.users import AppUser

    sm = make_sessionmaker(make_engine(DatabaseSettings(database_url=url)))
    with transaction(sm) as s:
        user = s.execute(select(AppUser).where(AppUser.username == username)).scalar_one_or_none()
        user = user or create_user(s, username=username, password="bench-password-0", role=Role(role))
        return str(issue_tokens(user, TokenSettings(key=signing_key(s), access_minutes=60))["access_token"])


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def uvicorn_server(url: str, workers: int = 2, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """The real server (``workers`` processes) on a free port, for wrk; yields its base URL."""
    port = free_port()
    env = {**os.environ, "GRIDMAP_DATABASE_URL": url, "GRIDMAP_POOL_SIZE": "8",
           "GRIDMAP_ACCESS_TOKEN_MINUTES": "60", **(extra_env or {})}  # the server accepts bench_token's lifetime
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.asgi:app", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers), "--log-level", "warning", "--no-access-log"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                subprocess.run(["curl", "-sf", f"{base}/health"], check=True, capture_output=True)
                break
            except subprocess.CalledProcessError:
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(10)


def alternate_rounds(trivial: Callable[[], dict[str, float]], candidate: Callable[[], dict[str, float]]
                     ) -> tuple[dict[str, float], dict[str, float], list[float]]:
    """Alternate the two measurements over several rounds and keep each one's median round: on two
    cores shared by wrk, uvicorn and PostgreSQL a single round varies by ±40%. Also returns the
    per-round throughput ratios candidate/trivial, sorted."""
    rounds: dict[str, list[dict[str, float]]] = {"trivial": [], "candidate": []}
    for _ in range(ROUNDS):
        rounds["trivial"].append(trivial())
        rounds["candidate"].append(candidate())
    t, c = (sorted(rounds[k], key=lambda r: r["rps"])[ROUNDS // 2] for k in ("trivial", "candidate"))
    ratios = sorted(b["rps"] / a["rps"] for a, b in zip(rounds["trivial"], rounds["candidate"], strict=True))
    return t, c, ratios
