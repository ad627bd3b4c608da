"""Connection loss: a worker keeps working across a Redis restart, and a call made
during an outage fails after a bounded time with an error naming the address.

These tests start a Redis server of their own on a free port (never the shared one).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from workhorse import Queue, RedisStore, Worker
from workhorse.errors import StoreUnavailable
from workhorse.job import Job

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnRedis:
    def __init__(self, port: int, *extra: str) -> None:
        self.port = port
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def own_redis(request: pytest.FixtureRequest) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: apt-get install redis-server")
    extra = getattr(request, "param", ())
    server = OwnRedis(_free_port(), *extra)
    server.start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.kill()


@pytest.mark.parametrize("own_redis", [("--requirepass", "s3cret")], indirect=True)
async def test_password_and_database_number_are_honoured(own_redis: OwnRedis) -> None:
    """The worker's fast path authenticates and selects the database like redis-py."""
    url = f"redis://:s3cret@127.0.0.1:{own_redis.port}/3"
    store = RedisStore(url, prefix="wh")
    queue = Queue("auth", store)
    job = await queue.add("x", {"n": 1})

    async def handler(j: Job) -> int:
        return int(j.data["n"]) + 1

    await Worker(queue, handler).run(burst=True)
    assert await job.result(timeout=5) == 2
    await store.close()
    other_db = RedisStore(f"redis://:s3cret@127.0.0.1:{own_redis.port}/0", prefix="wh")
    assert await Queue("auth", other_db).get_job(job.id) is None, "written to db 3, not 0"
    await other_db.close()


async def test_worker_keeps_working_across_a_redis_restart(own_redis: OwnRedis) -> None:
    store = RedisStore(f"redis://127.0.0.1:{own_redis.port}/0", prefix="wh", retries=3)
    queue = Queue("restart", store)
    got: asyncio.Queue[str] = asyncio.Queue()

    async def handler(job: Job) -> None:
        await got.put(job.data["n"])

    worker = Worker(queue, handler, block_timeout=1.0, lock_duration=2.0)
    run = asyncio.create_task(worker.run())
    await queue.add("x", {"n": "before"})
    assert await asyncio.wait_for(got.get(), 10) == "before"

    own_redis.kill()
    await asyncio.sleep(1.5)  # the worker's reads fail meanwhile
    own_redis.start()  # a fresh, empty server on the same port (scripts not loaded)

    await queue.add("x", {"n": "after"})
    assert await asyncio.wait_for(got.get(), 30) == "after"
    await worker.close()
    await run
    await store.close()


async def test_call_during_outage_fails_with_the_address(own_redis: OwnRedis) -> None:
    store = RedisStore(f"redis://127.0.0.1:{own_redis.port}/0", prefix="wh", retries=2)
    queue = Queue("down", store)
    own_redis.kill()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{own_redis.port}"):
        await queue.add("x", {})
    assert time.monotonic() - started < 10, "bounded by the retry policy"
    await store.close()
