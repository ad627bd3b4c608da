"""rq: sync.  An rq worker runs one job at a time, so every drain runs ONE ``SimpleWorker``
(no fork per job; the default ``Worker`` forks a work horse per job) at concurrency 1,
whatever concurrency the scenario asks for.  Bulk is ``Queue.enqueue_many`` (one
pipeline).  Results are awaited with ``Job.latest_result(timeout=...)`` (a blocking XREAD
on the job's result stream) on a thread pool, one call per job.  Worker logging is set
to WARNING (rq logs two lines per job at INFO)."""

import time
from concurrent.futures import ThreadPoolExecutor

from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job

from common import (
    IO_SECONDS,
    QUEUE,
    REDIS_URL,
    RESULT_TIMEOUT,
    WAITER_THREADS,
    WARMUP_TIMEOUT,
    Latencies,
    drain,
    paced_sync,
)

DIST = "rq"


def noop(*_: object) -> None:
    drain.begin()
    drain.end()


def io(*_: object) -> None:
    drain.begin()
    time.sleep(IO_SECONDS)
    drain.end()


def stamp(*_: object) -> float:
    return time.time()


KINDS = {"noop": noop, "io": io, "stamp": stamp}


def _queue() -> Queue:
    return Queue(QUEUE, connection=Redis.from_url(REDIS_URL))


def enqueue_one(n: int) -> dict:
    queue = _queue()
    t0 = time.perf_counter()
    for i in range(n):
        queue.enqueue(noop, i)
    return {"seconds": time.perf_counter() - t0, "method": "enqueue() each"}


def _bulk(queue: Queue, n: int, kind: str) -> float:
    t0 = time.perf_counter()
    queue.enqueue_many([Queue.prepare_data(KINDS[kind], (i,)) for i in range(n)])
    return time.perf_counter() - t0


def enqueue_bulk(n: int) -> dict:
    return {"seconds": _bulk(_queue(), n, "noop"), "method": "Queue.enqueue_many"}


def fill(n: int, kind: str) -> dict:
    return {"seconds": _bulk(_queue(), n, kind)}


def worker(concurrency: int) -> None:
    queue = _queue()
    SimpleWorker([queue], connection=queue.connection).work(logging_level="WARNING")


def latency(n: int, rate: float) -> dict:
    queue = _queue()
    lat = Latencies()

    def wait(job: Job, t: float) -> None:
        lat.record(t, job.latest_result(timeout=int(RESULT_TIMEOUT)).return_value)

    queue.enqueue(stamp, time.time()).latest_result(timeout=int(WARMUP_TIMEOUT))
    with ThreadPoolExecutor(WAITER_THREADS) as pool:
        waits = []
        paced_sync(n, rate, lambda t: waits.append(pool.submit(wait, queue.enqueue(stamp, t), t)))
        for w in waits:
            w.result()
    return lat.result()
