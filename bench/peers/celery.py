"""celery: Redis broker and Redis result backend.  The worker runs in one process with the
``threads`` pool (``-P threads -c C``; prefork would fork C child processes), log level
WARNING, everything else default (prefetch multiplier 4, early ack).  ``noop``/``io`` are
``ignore_result=True`` (fire-and-forget, nothing written to the backend); only the
latency ``stamp`` task stores its result, which the producer waits for with
``AsyncResult.get()`` on a thread pool.  Celery has no bulk-enqueue call:
``enqueue_bulk`` is ``group(...).apply_async()``, which publishes one message per task
over one producer connection."""

import time
from concurrent.futures import ThreadPoolExecutor

from celery import Celery, group

from common import (
    IO_SECONDS,
    REDIS_URL,
    RESULT_TIMEOUT,
    WAITER_THREADS,
    WARMUP_TIMEOUT,
    Latencies,
    drain,
    paced_sync,
)

DIST = "celery"

app = Celery("bench", broker=REDIS_URL, backend=REDIS_URL)
app.conf.broker_connection_retry_on_startup = True


@app.task(name="noop", ignore_result=True)
def noop(*_: object) -> None:
    drain.begin()
    drain.end()


@app.task(name="io", ignore_result=True)
def io(*_: object) -> None:
    drain.begin()
    time.sleep(IO_SECONDS)
    drain.end()


@app.task(name="stamp")
def stamp(*_: object) -> float:
    return time.time()


KINDS = {"noop": noop, "io": io}


def enqueue_one(n: int) -> dict:
    t0 = time.perf_counter()
    for i in range(n):
        noop.apply_async((i,))
    return {"seconds": time.perf_counter() - t0, "method": "apply_async() each"}


def _bulk(n: int, kind: str) -> float:
    t0 = time.perf_counter()
    group(KINDS[kind].s(i) for i in range(n)).apply_async()
    return time.perf_counter() - t0


def enqueue_bulk(n: int) -> dict:
    return {"seconds": _bulk(n, "noop"), "method": "no bulk API: group(...).apply_async()"}


def fill(n: int, kind: str) -> dict:
    return {"seconds": _bulk(n, kind)}


def worker(concurrency: int) -> None:
    app.worker_main(["worker", "--pool=threads", f"--concurrency={concurrency}", "-l", "WARNING"])


def latency(n: int, rate: float) -> dict:
    lat = Latencies()

    def wait(result, t: float) -> None:
        lat.record(t, result.get(timeout=RESULT_TIMEOUT))

    stamp.delay(time.time()).get(timeout=WARMUP_TIMEOUT)
    with ThreadPoolExecutor(WAITER_THREADS) as pool:
        waits = []
        paced_sync(n, rate, lambda t: waits.append(pool.submit(wait, stamp.delay(t), t)))
        for w in waits:
            w.result()
    return lat.result()
