"""Shared fixtures.  Every contract test runs once per store kind (``store`` fixture).

Redis tests use the server at ``WORKHORSE_TEST_REDIS`` (default
redis://127.0.0.1:6379/0) under a key prefix of their own and delete only the keys
with that prefix.  Without a reachable Redis the tests fail under CI (``CI`` set)
and are skipped locally with a message saying how to start one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis

from workhorse import Queue, RedisStore
from workhorse.store.base import Store

REDIS_URL = os.environ.get("WORKHORSE_TEST_REDIS", "redis://127.0.0.1:6379/0")
STORE_KINDS = ["redis"]


def _redis_available() -> bool:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False
    return True


def require_redis() -> None:
    if _redis_available():
        return
    message = (
        f"Redis is not reachable at {REDIS_URL}: start it with "
        "`redis-server --daemonize yes --port 6379 --save '' --appendonly no`"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def delete_prefix(prefix: str) -> None:
    """Delete exactly the keys a test created (its own prefix), nothing else."""
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def prefix() -> str:
    return f"whtest-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_store(prefix: str) -> Callable[..., Store]:
    """Build more stores on the same data (another 'process' view, clock, ...)."""

    def make(**kwargs: object) -> Store:
        return RedisStore(REDIS_URL, prefix=prefix, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture(params=STORE_KINDS)
async def store(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[Store]:
    assert request.param == "redis"
    require_redis()
    s = RedisStore(REDIS_URL, prefix=prefix)
    yield s
    await s.close()
    delete_prefix(prefix)


@pytest.fixture
async def queue(store: Store) -> AsyncIterator[Queue]:
    q = Queue("q", store)
    yield q
    await q.close_events()
