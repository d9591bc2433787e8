"""Benchmark: can one account stall the service with heavy requests? `python -m bench.heavy [--reuse]`.

Issue 12: about 30 parallel ``/fusion/pairs?a=layer:micro&b=layer:party`` calls (2 s and
1.4 MB each) from one ``map:read`` account pushed ``/locate`` to 21.8 s. Here, on the
default demo district (548 comprehensive grids, ~8,000 micro-grids, 100k households)
in its own database ``gridmap_bench_heavy``, for each server configuration (the real
server, bench.common's ``uvicorn_server``, 2 workers):

1. ``/locate`` p50/p99 on the idle server (wrk, 4 connections, household positions);
2. the same while 30 clients of one viewer account each send the heavy call again as
   soon as they get an answer (a closed loop of 30 in flight: they ignore Retry-After);

configurations, same run, same data: no limits and no cache (as before the fix), the
limits with the cache off (every call really computes), and the defaults (limits and
cache). Prints the figures and the heavy answers by status.
"""

from __future__ import annotations

import http.client
import sys
import tempfile
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.common import WRK_SCRIPT, bench_token, fresh_database, uvicorn_server
from geo.db import make_engine, make_sessionmaker, transaction
from importers.demo import clear_district, load_demo

DATABASE = "gridmap_bench_heavy"
HEAVY = "/fusion/pairs?a=layer:micro&b=layer:party"
CLIENTS = 30
SECONDS = 10

CONFIGS = {
    "no limits, no cache (before)": {"GRIDMAP_HEAVY_PER_USER": "100", "GRIDMAP_HEAVY_TOTAL": "100",
                                     "GRIDMAP_HEAVY_CACHE_MB": "0"},
    "limits, cache off": {"GRIDMAP_HEAVY_CACHE_MB": "0"},
    "defaults: limits and cache": {},
}


def _database(reuse: bool) -> str:
    from geo.settings import DatabaseSettings

    url = make_url(DatabaseSettings().database_url).set(
        database=DATABASE).render_as_string(hide_password=False)
    if reuse:
        return url
    url = fresh_database(DATABASE)
    with transaction(make_sessionmaker(make_engine(DatabaseSettings(database_url=url)))) as s:
        clear_district(s)
        load_demo(s)
    return url


class Hammer:
    """``CLIENTS`` threads, one connection each, sending the heavy call back to back until stopped."""

    def __init__(self, base: str, token: str) -> None:
        self.host = urlsplit(base)
        self.token = token
        self.stop = threading.Event()
        self.statuses: Counter[int] = Counter()
        self.ok_seconds: list[float] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(CLIENTS)]

    def _loop(self) -> None:
        conn = http.client.HTTPConnection(self.host.hostname, self.host.port, timeout=120)
        while not self.stop.is_set():
            start = time.perf_counter()
            try:
                conn.request("GET", HEAVY, headers={"Authorization": f"Bearer {self.token}"})
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(self.host.hostname, self.host.port, timeout=120)
                status = 0
            with self._lock:
                self.statuses[status] += 1
                if status == 200:
                    self.ok_seconds.append(time.perf_counter() - start)
        conn.close()

    def __enter__(self) -> Hammer:
        for t in self._threads:
            t.start()
        time.sleep(2)  # every client has its first call in flight
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(150)


def wrk(base: str, script: str, seconds: int, token: str) -> dict[str, float]:
    """wrk on /locate with a 60 s timeout (its default, 2 s, would drop the slow answers from the figures)."""
    import re
    import subprocess

    out = subprocess.run(["wrk", "-t1", "-c4", f"-d{seconds}s", "--timeout", "60s", "--latency", "-H",
                          f"Authorization: Bearer {token}", "-s", script, base],
                         check=True, capture_output=True, text=True).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)", out, re.M)
        assert m, out
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    timeouts = re.search(r"timeout (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "p50": ms("50"), "p99": ms("99"),
            "errors": float(non2xx.group(1)) if non2xx else 0.0,
            "timeouts": float(timeouts.group(1)) if timeouts else 0.0}


def bench_heavy(url: str, results: dict[str, float]) -> None:
    token = bench_token(url)  # a county-wide viewer: map:read, like the account in the issue
    engine = create_engine(url)
    with engine.connect() as c:
        pts = c.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM household ORDER BY random() LIMIT 2000")).all()
    engine.dispose()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % ",".join(f"{{{x:.6f},{y:.6f}}}" for x, y in pts))
    for label, env in CONFIGS.items():
        with uvicorn_server(url, extra_env=env) as base:
            wrk(base, script.name, 2, token)  # warm up
            idle = wrk(base, script.name, SECONDS, token)
            with Hammer(base, token) as hammer:
                loaded = wrk(base, script.name, SECONDS, token)
            counts = ", ".join(f"{n}×{s}" for s, n in sorted(hammer.statuses.items()))
            mean_ok = sum(hammer.ok_seconds) / len(hammer.ok_seconds) if hammer.ok_seconds else float("nan")
        print(f"  {label}: /locate idle p50 {idle['p50']:.1f} ms p99 {idle['p99']:.1f} ms | under {CLIENTS} heavy "
              f"p50 {loaded['p50']:.1f} ms p99 {loaded['p99']:.1f} ms ({loaded['rps']:.0f} req/s, non-2xx "
              f"{loaded['errors']:.0f}) | heavy answers {counts}, a 200 took {mean_ok:.1f} s on average",
              flush=True)
        results[f"heavy {label} idle p99 ms"] = idle["p99"]
        results[f"heavy {label} loaded p99 ms"] = loaded["p99"]


def run(results: dict[str, float]) -> None:
    url = _database("--reuse" in sys.argv)
    bench_heavy(url, results)


if __name__ == "__main__":
    run({})
