"""Shared fixtures.  Every contract test runs once per store kind (``store`` fixture).

SQLite tests use a fresh database file under the test's ``tmp_path``.  Redis tests
use the server at ``WORKHORSE_TEST_REDIS`` (default
redis://127.0.0.1:6379/0) under a key prefix of their own and delete only the keys
with that prefix.  Without a reachable Redis the tests fail under CI (``CI`` set)
and are skipped locally with a message saying how to start one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis
from playwright.async_api import Browser, async_playwright

from tests.clocks import FakeClock
from workhorse import Queue, RedisStore
from workhorse.store.base import Store
from workhorse.store.sqlite import SqliteStore

REDIS_URL = os.environ.get("WORKHORSE_TEST_REDIS", "redis://127.0.0.1:6379/0")
STORE_KINDS = ["redis", "sqlite"]


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


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    kind = str(request.param)
    if kind == "redis":
        require_redis()
    return kind


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "workhorse.db"


@pytest.fixture
def make_store(store_kind: str, prefix: str, sqlite_path: Path) -> Iterator[Callable[..., Store]]:
    """Build more stores on the same data (another 'process' view, clock, ...)."""
    made: list[SqliteStore] = []

    def make(**kwargs: object) -> Store:
        if store_kind == "sqlite":
            s = SqliteStore(sqlite_path, **kwargs)  # type: ignore[arg-type]
            made.append(s)
            return s
        return RedisStore(REDIS_URL, prefix=prefix, **kwargs)  # type: ignore[arg-type]

    yield make
    for s in made:  # the tests close what they make; this only catches leftovers
        s.close_sync()
    if store_kind == "redis":
        delete_prefix(prefix)  # every key the made stores wrote, and only those


@pytest.fixture
async def clocked_store(
    make_store: Callable[..., Store],
) -> AsyncIterator[tuple[Store, FakeClock]]:
    """A store whose clock only moves when the test says (``FakeClock``)."""
    clock = FakeClock()
    store = make_store(clock=clock)
    yield store, clock
    await store.close()


@pytest.fixture
async def store(store_kind: str, prefix: str, sqlite_path: Path) -> AsyncIterator[Store]:
    if store_kind == "sqlite":
        lite = SqliteStore(sqlite_path)
        yield lite
        await lite.close()
        return
    s = RedisStore(REDIS_URL, prefix=prefix)
    yield s
    await s.close()
    delete_prefix(prefix)


@pytest.fixture
async def queue(store: Store) -> AsyncIterator[Queue]:
    q = Queue("q", store)
    yield q
    await q.close_events()


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def chromium_path() -> str:
    """Debian's Chromium (``./dev test`` installs it); never a downloaded browser."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (./dev test does)")
    return CHROMIUM


@pytest.fixture
async def chromium(chromium_path: str) -> AsyncIterator[Browser]:
    """A headless Chromium driven by Playwright."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path, headless=True)
        yield browser
        await browser.close()
