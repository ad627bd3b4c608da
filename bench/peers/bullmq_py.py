"""bullmq (Python port): asyncio ``Worker`` with ``{"concurrency": C}``, other options
default (completed jobs are kept).  Bulk is ``Queue.addBulk``.  bullmq-py has no
``Job.waitUntilFinished``; results are awaited through ``QueueEvents`` (a blocking XREAD
on the queue's event stream, the mechanism ``waitUntilFinished`` uses in Node), read from
the stream's start so no event can be missed."""

import asyncio
import time

from bullmq import Queue, QueueEvents, Worker

from common import (
    IO_SECONDS,
    QUEUE,
    REDIS_URL,
    RESULT_TIMEOUT,
    WARMUP_TIMEOUT,
    Latencies,
    drain,
    paced,
)

DIST = "bullmq"
OPTS = {"connection": REDIS_URL}


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


async def process(job, token: str) -> object:
    return await KINDS[job.name]()


async def enqueue_one(n: int) -> dict:
    queue = Queue(QUEUE, OPTS)
    t0 = time.perf_counter()
    for i in range(n):
        await queue.add("noop", {"i": i})
    seconds = time.perf_counter() - t0
    await queue.close()
    return {"seconds": seconds, "method": "await add() each"}


async def _bulk(n: int, kind: str) -> float:
    queue = Queue(QUEUE, OPTS)
    t0 = time.perf_counter()
    await queue.addBulk([{"name": kind, "data": {"i": i}} for i in range(n)])
    seconds = time.perf_counter() - t0
    await queue.close()
    return seconds


async def enqueue_bulk(n: int) -> dict:
    return {"seconds": await _bulk(n, "noop"), "method": "Queue.addBulk"}


async def fill(n: int, kind: str) -> dict:
    return {"seconds": await _bulk(n, kind)}


async def worker(concurrency: int) -> None:
    Worker(QUEUE, process, {**OPTS, "concurrency": concurrency})
    await asyncio.Event().wait()  # runs until the orchestrator terminates the process


async def latency(n: int, rate: float) -> dict:
    queue = Queue(QUEUE, OPTS)
    events = QueueEvents(QUEUE, {**OPTS, "lastEventId": "0-0"})
    loop = asyncio.get_running_loop()
    finished: dict[str, asyncio.Future] = {}

    def future(job_id: str) -> asyncio.Future:
        return finished.setdefault(job_id, loop.create_future())

    events.on("completed", lambda args, _id: future(args["jobId"]).set_result(args["returnvalue"]))
    lat = Latencies()
    waits = []

    async def wait(job_id: str, t: float) -> None:
        lat.record(t, await asyncio.wait_for(future(job_id), RESULT_TIMEOUT))

    async def enqueue(t: float) -> None:
        job = await queue.add("stamp", {"t": t})
        waits.append(asyncio.create_task(wait(job.id, t)))

    warm = await queue.add("stamp", {"t": time.time()})
    await asyncio.wait_for(future(warm.id), WARMUP_TIMEOUT)
    await paced(n, rate, enqueue)
    await asyncio.gather(*waits)
    await events.close()
    await queue.close()
    return lat.result()
