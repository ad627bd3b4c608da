"""Shared protocol between the orchestrator (run.py) and the Python peer adapters.

Every adapter is a module ``peers/<name>.py`` that the orchestrator runs in its own
process as ``python -m peers <name> <role> <out.json> '<params json>'`` (the Node peer
takes the same arguments: ``node node/bullmq.js <role> <out.json> '<params json>'``).

Roles and their params (an adapter writes its result to ``out.json`` with :func:`emit`):

``version``       {}                                   -> {"version": str}
``enqueue_one``   {"n"}                                -> {"seconds", "method"}
``enqueue_bulk``  {"n"}                                -> {"seconds", "method"}
``fill``          {"n", "kind"}                        -> {"seconds"}   (untimed pre-fill)
``worker``        {"n", "concurrency"}                 -> written by :class:`Drain` once the
                  n-th job finished: {"first_start", "last_end", "count", "vmhwm_kb"}.
                  The worker keeps running; the orchestrator terminates it.
``latency``       {"n", "rate"}                        -> {"start_ms": [...], "result_ms": [...]}

Job kinds (the job *name* / task function): ``noop`` does nothing, ``io`` sleeps
``IO_SECONDS``, ``stamp`` returns ``time.time()`` taken when it started (latency runs).
A ``latency`` producer first waits for one warm-up ``stamp`` job (so the worker is
known to be up and idle-waiting), then enqueues ``n`` jobs at a steady ``rate`` per
second, each carrying ``{"t": time.time()}``, and awaits every result with the
system's own API.  enqueue->start is ``returned_stamp - t``; enqueue->result is
``time.time()`` when the result arrived in the producer ``- t``.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6399/0")
# The workhorse adapter's store: the bench Redis, or for the ``workhorse-sqlite`` row a
# ``sqlite:////absolute/path.db`` that run.py makes afresh for every scenario.
STORE_URL = os.environ.get("BENCH_STORE_URL", REDIS_URL)
QUEUE = "bench"
IO_SECONDS = 0.01
RESULT_TIMEOUT = 30.0
WARMUP_TIMEOUT = 60.0
WAITER_THREADS = 64  # sync producers (rq, celery) wait for results on this many threads


def redis_host_port_db(url: str = REDIS_URL) -> tuple[str, int, int]:
    """Split ``redis://host:port/db`` for clients that take separate settings."""
    rest = url.split("://", 1)[1]
    hostport, _, db = rest.partition("/")
    host, _, port = hostport.partition(":")
    return host, int(port or 6379), int(db or 0)


def emit(path: str, payload: dict[str, Any]) -> None:
    """Write a result file atomically (the orchestrator polls for its existence)."""
    tmp = Path(path + ".tmp")
    tmp.write_text(json.dumps(payload))
    tmp.replace(path)


def vmhwm_kb() -> int:
    """Peak resident set size of this process (kB), from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class Drain:
    """Per-process recorder that every drain handler calls: ``begin()`` at entry,
    ``end()`` at exit.

    Once armed with ``(n, out)``, the n-th ``end()`` writes
    ``{"first_start", "last_end", "count", "vmhwm_kb"}`` to ``out``.  Thread-safe, so
    thread-pool workers (celery) can share it.
    """

    def __init__(self) -> None:
        self.n = 0
        self.out = ""
        self.count = 0
        self.first_start: float | None = None
        self.last_end = 0.0
        self._lock = threading.Lock()

    def arm(self, n: int, out: str) -> None:
        self.n = n
        self.out = out

    def begin(self) -> None:
        if self.first_start is None:
            with self._lock:
                if self.first_start is None:
                    self.first_start = time.time()

    def end(self) -> None:
        with self._lock:
            self.count += 1
            self.last_end = time.time()
            if self.count == self.n:
                emit(
                    self.out,
                    {
                        "first_start": self.first_start,
                        "last_end": self.last_end,
                        "count": self.count,
                        "vmhwm_kb": vmhwm_kb(),
                    },
                )


drain = Drain()  # the one recorder of a worker process


async def paced(n: int, rate: float, enqueue: Callable[[float], Awaitable[None]]) -> None:
    """Call ``enqueue(t)`` n times on a fixed schedule (no drift), t = time.time()."""
    t0 = time.monotonic()
    for i in range(n):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await enqueue(time.time())


def paced_sync(n: int, rate: float, enqueue: Callable[[float], None]) -> None:
    """Blocking twin of :func:`paced` for the sync peers."""
    t0 = time.monotonic()
    for i in range(n):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        enqueue(time.time())


class Latencies:
    """Collects (enqueue stamp, start stamp, result-arrival stamp) triples."""

    def __init__(self) -> None:
        self.start_ms: list[float] = []
        self.result_ms: list[float] = []
        self._lock = threading.Lock()

    def record(self, t_enqueue: float, t_start: float) -> None:
        t_result = time.time()
        with self._lock:
            self.start_ms.append((t_start - t_enqueue) * 1000)
            self.result_ms.append((t_result - t_enqueue) * 1000)

    def result(self) -> dict[str, list[float]]:
        return {"start_ms": self.start_ms, "result_ms": self.result_ms}


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]
