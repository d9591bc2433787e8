"""geo.access.ratelimit: token buckets in PostgreSQL, shared by every process that connects to the database."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, text

from geo.access import ratelimit
from geo.db import make_engine
from geo.settings import DatabaseSettings


@pytest.fixture(scope="module")
def app_engines(db_settings: DatabaseSettings) -> Iterator[tuple[Engine, Engine]]:
    """Two engines as the application role: two pools, as two server processes would have."""
    a = make_engine(DatabaseSettings(database_url=db_settings.database_url, pool_size=4), as_app=True)
    b = make_engine(DatabaseSettings(database_url=db_settings.database_url, pool_size=4), as_app=True)
    yield a, b
    a.dispose()
    b.dispose()


def _key() -> str:
    return f"test:{uuid.uuid4().hex}"


def test_burst_then_refusal_with_the_wait(app_engines: tuple[Engine, Engine]) -> None:
    a, _ = app_engines
    key = _key()
    taken = [ratelimit.take(a, key, rate=0.5, burst=3) for _ in range(4)]
    assert [t.allowed for t in taken] == [True, True, True, False]
    assert [round(t.remaining) for t in taken[:3]] == [2, 1, 0]
    refused = taken[3]
    assert 1.5 < refused.retry_after <= 2.0 and refused.retry_after_s == 2  # one token at 0.5 a second
    assert taken[0].retry_after_s == 0


def test_the_bucket_refills_at_the_rate(app_engines: tuple[Engine, Engine]) -> None:
    a, _ = app_engines
    key = _key()
    assert all(ratelimit.take(a, key, rate=10, burst=2).allowed for _ in range(2))
    assert not ratelimit.take(a, key, rate=10, burst=2).allowed
    time.sleep(0.25)  # 2.5 tokens' worth at 10 a second, capped at the burst of 2
    assert [ratelimit.take(a, key, rate=10, burst=2).allowed for _ in range(3)] == [True, True, False]


def test_two_processes_share_one_limit_under_concurrency(app_engines: tuple[Engine, Engine]) -> None:
    """40 hits at once from two pools: exactly the burst gets through, whoever sends them."""
    a, b = app_engines
    key = _key()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: ratelimit.take((a, b)[i % 2], key, rate=0.001, burst=7).allowed,
                                range(40)))
    assert results.count(True) == 7


def test_keys_are_separate_and_costs_count(app_engines: tuple[Engine, Engine]) -> None:
    a, b = app_engines
    one, two = _key(), _key()
    assert ratelimit.take(a, one, rate=1, burst=5, cost=5).allowed
    assert not ratelimit.take(b, one, rate=1, burst=5).allowed
    assert ratelimit.take(b, two, rate=1, burst=5).allowed


def test_refilled_buckets_are_pruned(app_engines: tuple[Engine, Engine]) -> None:
    a, _ = app_engines
    key = _key()
    ratelimit.take(a, key, rate=100, burst=1)
    time.sleep(0.05)  # full again after 10 ms
    ratelimit.prune(a)
    with a.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM rate_bucket WHERE key = :k"), {"k": key}).scalar_one() == 0
    assert ratelimit.take(a, key, rate=100, burst=1).allowed  # a missing row is a full bucket


@pytest.mark.parametrize("kwargs", [{"rate": 0, "burst": 1}, {"rate": 1, "burst": 0},
                                    {"rate": 1, "burst": 2, "cost": 3},
                                    {"rate": float("inf"), "burst": 1}, {"rate": 1, "burst": 1, "cost": -1}])
def test_nonsensical_limits_are_refused(app_engines: tuple[Engine, Engine], kwargs: dict) -> None:
    with pytest.raises(ValueError):
        ratelimit.take(app_engines[0], _key(), **kwargs)


def test_the_table_is_unlogged(app_engines: tuple[Engine, Engine]) -> None:
    with app_engines[0].connect() as conn:
        persistence = conn.execute(text("SELECT relpersistence FROM pg_class WHERE relname = 'rate_bucket'"))
        assert persistence.scalar_one() == "u"
