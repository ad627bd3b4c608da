"""workhorse (this project): asyncio ``Worker(queue, handler, concurrency=C)``, defaults
otherwise.  Bulk is ``Queue.add_bulk`` (one atomic call); results are awaited with
``Job.result(timeout=...)``.

The store is ``workhorse.store.connect(BENCH_STORE_URL)``: the bench Redis (row
``workhorse``) or a fresh SQLite file per scenario (row ``workhorse-sqlite``); the
code is the same for both."""

import asyncio
import time

from common import (
    IO_SECONDS,
    QUEUE,
    RESULT_TIMEOUT,
    STORE_URL,
    WARMUP_TIMEOUT,
    Latencies,
    drain,
    paced,
)
from workhorse import Queue, Worker
from workhorse.store import connect

DIST = "workhorse"


async def _noop() -> None:
    drain.begin()
    drain.end()


async def _io() -> None:
    drain.begin()
    await asyncio.sleep(IO_SECONDS)
    drain.end()


async def _stamp() -> float:
    return time.time()


KINDS = {"noop": _noop, "io": _io, "stamp": _stamp}


async def handler(job) -> object:
    return await KINDS[job.name]()


async def enqueue_one(n: int) -> dict:
    store = connect(STORE_URL)
    queue = Queue(QUEUE, store)
    t0 = time.perf_counter()
    for i in range(n):
        await queue.add("noop", {"i": i})
    seconds = time.perf_counter() - t0
    await store.close()
    return {"seconds": seconds, "method": "await add() each"}


async def _bulk(n: int, kind: str) -> float:
    store = connect(STORE_URL)
    queue = Queue(QUEUE, store)
    t0 = time.perf_counter()
    await queue.add_bulk([(kind, {"i": i}) for i in range(n)])
    seconds = time.perf_counter() - t0
    await store.close()
    return seconds


async def enqueue_bulk(n: int) -> dict:
    return {"seconds": await _bulk(n, "noop"), "method": "Queue.add_bulk"}


async def fill(n: int, kind: str) -> dict:
    return {"seconds": await _bulk(n, kind)}


async def worker(concurrency: int) -> None:
    store = connect(STORE_URL)
    await Worker(Queue(QUEUE, store), handler, concurrency=concurrency).run()


async def latency(n: int, rate: float) -> dict:
    store = connect(STORE_URL)
    queue = Queue(QUEUE, store)
    lat = Latencies()
    waits = []

    async def wait(job, t: float) -> None:
        lat.record(t, await job.result(timeout=RESULT_TIMEOUT))

    async def enqueue(t: float) -> None:
        job = await queue.add("stamp", {"t": t})
        waits.append(asyncio.create_task(wait(job, t)))

    warm = await queue.add("stamp", {"t": time.time()})
    await warm.result(timeout=WARMUP_TIMEOUT)
    await paced(n, rate, enqueue)
    await asyncio.gather(*waits)
    await store.close()
    return lat.result()
