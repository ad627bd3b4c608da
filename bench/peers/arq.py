"""arq: asyncio worker, ``max_jobs=C``, all other settings default.  arq has no bulk API
(``enqueue_bulk`` gathers ``enqueue_job`` calls, 20 in flight).  Its worker polls the
queue every ``poll_delay`` (default 0.5 s, at most ``queue_read_limit`` = 100 jobs per
poll) and ``Job.result()`` polls every 0.5 s by default; both are left at their
defaults."""

import asyncio
import time

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Worker, func

from common import (
    IO_SECONDS,
    RESULT_TIMEOUT,
    WARMUP_TIMEOUT,
    Latencies,
    drain,
    paced,
    redis_host_port_db,
)

DIST = "arq"
IN_FLIGHT = 20


async def noop(ctx: dict, *_: object) -> None:
    drain.begin()
    drain.end()


async def io(ctx: dict, *_: object) -> None:
    drain.begin()
    await asyncio.sleep(IO_SECONDS)
    drain.end()


async def stamp(ctx: dict, *_: object) -> float:
    return time.time()


def _settings() -> RedisSettings:
    host, port, db = redis_host_port_db()
    return RedisSettings(host=host, port=port, database=db)


async def enqueue_one(n: int) -> dict:
    pool = await create_pool(_settings())
    t0 = time.perf_counter()
    for i in range(n):
        await pool.enqueue_job("noop", i)
    seconds = time.perf_counter() - t0
    await pool.aclose()
    return {"seconds": seconds, "method": "await enqueue_job() each"}


async def _gather(pool: ArqRedis, n: int, kind: str) -> float:
    sem = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int) -> None:
        async with sem:
            await pool.enqueue_job(kind, i)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - t0


async def enqueue_bulk(n: int) -> dict:
    pool = await create_pool(_settings())
    seconds = await _gather(pool, n, "noop")
    await pool.aclose()
    return {
        "seconds": seconds,
        "method": f"no bulk API: gather(enqueue_job), {IN_FLIGHT} in flight",
    }


async def fill(n: int, kind: str) -> dict:
    pool = await create_pool(_settings())
    seconds = await _gather(pool, n, kind)
    await pool.aclose()
    return {"seconds": seconds}


def worker(concurrency: int) -> None:
    functions = [func(noop, name="noop"), func(io, name="io"), func(stamp, name="stamp")]
    Worker(functions=functions, redis_settings=_settings(), max_jobs=concurrency).run()


async def latency(n: int, rate: float) -> dict:
    pool = await create_pool(_settings())
    lat = Latencies()
    waits = []

    async def wait(job, t: float) -> None:
        lat.record(t, await job.result(timeout=RESULT_TIMEOUT))

    async def enqueue(t: float) -> None:
        job = await pool.enqueue_job("stamp", t)
        waits.append(asyncio.create_task(wait(job, t)))

    warm = await pool.enqueue_job("stamp", time.time())
    await warm.result(timeout=WARMUP_TIMEOUT)
    await paced(n, rate, enqueue)
    await asyncio.gather(*waits)
    await pool.aclose()
    return lat.result()
