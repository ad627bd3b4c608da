"""saq: asyncio worker, ``Worker(concurrency=C)``; no bulk API (saq's own ``Queue.map``
enqueues with ``asyncio.gather``, which is what ``enqueue_bulk`` does here)."""

import asyncio
import time

from saq import Queue, Status, Worker

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

DIST = "saq"


async def noop(ctx: dict, **_: object) -> None:
    drain.begin()
    drain.end()


async def io(ctx: dict, **_: object) -> None:
    drain.begin()
    await asyncio.sleep(IO_SECONDS)
    drain.end()


async def stamp(ctx: dict, **_: object) -> float:
    return time.time()


def _queue() -> Queue:
    return Queue.from_url(REDIS_URL, name=QUEUE)


async def enqueue_one(n: int) -> dict:
    queue = _queue()
    await queue.connect()
    t0 = time.perf_counter()
    for i in range(n):
        await queue.enqueue("noop", i=i)
    seconds = time.perf_counter() - t0
    await queue.disconnect()
    return {"seconds": seconds, "method": "await enqueue() each"}


async def _gather(queue: Queue, n: int, kind: str) -> float:
    t0 = time.perf_counter()
    await asyncio.gather(*(queue.enqueue(kind, i=i) for i in range(n)))
    return time.perf_counter() - t0


async def enqueue_bulk(n: int) -> dict:
    queue = _queue()
    await queue.connect()
    seconds = await _gather(queue, n, "noop")
    await queue.disconnect()
    return {"seconds": seconds, "method": "no bulk API: gather(enqueue) like saq's Queue.map"}


async def fill(n: int, kind: str) -> dict:
    queue = _queue()
    await queue.connect()
    seconds = await _gather(queue, n, kind)
    await queue.disconnect()
    return {"seconds": seconds}


async def worker(concurrency: int) -> None:
    await Worker(_queue(), functions=[noop, io, stamp], concurrency=concurrency).start()


async def latency(n: int, rate: float) -> dict:
    """Waits with ``Queue.listen`` (saq's pubsub notifications, what ``Job.refresh
    (until_complete=...)`` uses) subscribed once, before anything is enqueued, to
    pre-assigned job keys; ``Job.refresh`` subscribes after its status read and can miss
    a job that completes in between (seen here as 30 s stalls at 100 jobs/s)."""
    queue = _queue()
    await queue.connect()
    lat = Latencies()
    sent: dict[str, float] = {}
    warm, done = asyncio.Event(), asyncio.Event()

    async def on_update(key: str, status: Status) -> bool:
        if status == Status.COMPLETE:
            if key == "warm":
                warm.set()
                return False
            job = await queue.job(key)
            lat.record(sent[key], job.result)
            if len(lat.result_ms) == n:
                done.set()
        return done.is_set()

    async def enqueue(t: float) -> None:
        key = f"lat-{len(sent)}"
        sent[key] = t
        await queue.enqueue("stamp", key=key, t=t)

    keys = ["warm", *(f"lat-{i}" for i in range(n))]
    listener = asyncio.create_task(queue.listen(keys, on_update, timeout=None))
    # wait until the listener's PSUBSCRIBE is live (a condition in Redis, not in-process)
    while not await queue.redis.pubsub_numpat():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    await queue.enqueue("stamp", key="warm", t=time.time())
    await asyncio.wait_for(warm.wait(), WARMUP_TIMEOUT)
    await paced(n, rate, enqueue)
    await asyncio.wait_for(listener, RESULT_TIMEOUT)
    await queue.disconnect()
    return lat.result()
