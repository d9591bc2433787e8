"""Live stream benchmark (`python -m bench.live [N …]`): latency from a commit to every open stream.

A small demo district (2 townships, 3,000 households, 100 events) in its own throw-away database
``gridmap_bench_live``, the real server (``--workers 2``), N county-wide subscribers reading
``GET /live`` over HTTP (httpx, one asyncio loop in this process). Each write is one committed
``UPDATE event`` by the owner role from this process (as an import or the CLI writes); the latency
of a message is its arrival at a subscriber minus the moment ``COMMIT`` returned. Per N: p50, p95
and the largest over WRITES writes × N subscribers.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

import httpx
from sqlalchemy import create_engine, text

from bench.common import bench_token, fresh_database, uvicorn_server
from geo.db import make_engine, make_sessionmaker, transaction
from geo.settings import DatabaseSettings

DATABASE = "gridmap_bench_live"
WRITES = 30
PAUSE_S = 0.2


def _load(url: str) -> None:
    from importers.demo import PlanParams, clear_district, load_demo

    engine = make_engine(DatabaseSettings(database_url=url, pool_size=2))
    with transaction(make_sessionmaker(engine)) as s:
        clear_district(s)
        load_demo(s, seed=11, params=PlanParams(townships=2, villages_per_township=3, grids=30, households=3000,
                                                misalignments=1), cameras_per_township=10, events=100)
    engine.dispose()


async def _subscriber(client: httpx.AsyncClient, base: str, token: str, arrivals: list[float],
                      ready: asyncio.Event, count: list[int], n: int) -> None:
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    async with client.stream("GET", f"{base}/live", headers=headers) as r:
        r.raise_for_status()
        event = None
        async for line in r.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "ready":
                count[0] += 1
                if count[0] == n:
                    ready.set()
            elif line.startswith("data:") and event == "event":
                arrivals.append(time.perf_counter())


async def _run(base: str, url: str, token: str, n: int) -> dict[str, float]:
    arrivals: list[float] = []
    ready = asyncio.Event()
    count = [0]
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    engine = create_engine(url)
    async with httpx.AsyncClient(timeout=httpx.Timeout(30, read=None), limits=limits) as client:
        tasks = [asyncio.create_task(_subscriber(client, base, token, arrivals, ready, count, n)) for _ in range(n)]
        await asyncio.wait_for(ready.wait(), 120)
        latencies: list[float] = []
        with engine.connect() as conn:
            event_id = conn.execute(text("SELECT min(id) FROM event")).scalar_one()
            for _ in range(WRITES):
                arrivals.clear()
                conn.execute(text("UPDATE event SET due_at = coalesce(due_at, now()) + interval '1 minute'"
                                  " WHERE id = :e"), {"e": event_id})
                conn.commit()
                committed = time.perf_counter()
                deadline = committed + 10
                while len(arrivals) < n and time.perf_counter() < deadline:
                    await asyncio.sleep(0.002)
                got = list(arrivals)
                assert len(got) == n, f"{len(got)} of {n} subscribers heard write"
                latencies += [(t - committed) * 1000 for t in got]
                await asyncio.sleep(PAUSE_S)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    engine.dispose()
    latencies.sort()
    return {"p50": statistics.median(latencies), "p95": latencies[int(0.95 * (len(latencies) - 1))],
            "max": latencies[-1]}


def _wait_up(base: str, seconds: float = 120) -> None:
    """uvicorn_server waits 20 s at most; two workers importing the app on a loaded machine take longer."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the server did not start")


def main(sizes: list[int]) -> None:
    url = fresh_database(DATABASE)
    _load(url)
    token = bench_token(url, "bench_live", "admin")
    env = {"GRIDMAP_LIVE_PER_USER": "100000", "GRIDMAP_LIVE_PER_PROCESS": "100000"}
    with uvicorn_server(url, workers=2, extra_env=env) as base:
        _wait_up(base)
        for n in sizes:
            r = asyncio.run(_run(base, url, token, n))
            print(f"  {n:5d} subscribers, {WRITES} writes: commit → client p50 {r['p50']:.1f} ms, "
                  f"p95 {r['p95']:.1f} ms, max {r['max']:.1f} ms", flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1, 50, 200])
