"""Figures of the embedded SQLite store on this machine (a measurement, not a test).

    .venv/bin/python bench/sqlite_store.py            # all figures
    .venv/bin/python bench/sqlite_store.py --jobs 2000 --synchronous FULL

Prints: enqueue one by one (jobs/s), bulk enqueue (jobs/s), drain of no-op jobs by
one worker at concurrency 10 (jobs/s), start latency of a job added in this process
and run by a worker in another process (p50/p99 ms), and the CPU use of an idle
worker process (%).  Each scenario uses a fresh database file in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workhorse import Job, JobOptions, Queue, Worker
from workhorse.store.sqlite import SqliteStore

KEEP = JobOptions(remove_on_complete=False)


def _store(folder: str, name: str, sync: str) -> SqliteStore:
    return SqliteStore(Path(folder) / f"{name}.db", synchronous=sync)


async def enqueue_one(folder: str, n: int, sync: str) -> float:
    store = _store(folder, "one", sync)
    queue = Queue("bench", store)
    await store.ping()
    t0 = time.perf_counter()
    for i in range(n):
        await queue.add("x", {"i": i})
    rate = n / (time.perf_counter() - t0)
    await store.close()
    return rate


async def enqueue_bulk(folder: str, n: int, sync: str, batch: int = 1000) -> float:
    store = _store(folder, "bulk", sync)
    queue = Queue("bench", store)
    await store.ping()
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        await queue.add_bulk([("x", {"i": i}) for i in range(start, min(n, start + batch))])
    rate = n / (time.perf_counter() - t0)
    await store.close()
    return rate


async def drain(folder: str, n: int, sync: str) -> float:
    store = _store(folder, "drain", sync)
    queue = Queue("bench", store)
    for start in range(0, n, 5000):
        await queue.add_bulk([("x", None) for _ in range(start, min(n, start + 5000))])

    async def noop(job: Job) -> None:
        return None

    worker = Worker(queue, noop, concurrency=10)
    t0 = time.perf_counter()
    await worker.run(burst=True)
    rate = n / (time.perf_counter() - t0)
    await store.close()
    return rate


# ---- other processes ---------------------------------------------------------------
def _spawn_worker(db: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, "--role", "worker", "--db", str(db)])


async def _worker_role(db: str) -> None:
    store = SqliteStore(db)
    queue = Queue("bench", store, default_options=KEEP)

    async def stamp(job: Job) -> int:
        return time.time_ns()

    await Worker(queue, stamp, concurrency=10).run()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _wait_until_running(queue: Queue) -> None:
    """The worker process is up once it has run a warm-up job."""
    job = await queue.add("warm-up")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done = await queue.get_job(job.id)
        if done is not None and done.returnvalue is not None:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the worker process did not start")


async def latency_and_idle(folder: str, n: int, sync: str) -> tuple[float, float, float]:
    db = Path(folder) / "latency.db"
    store = SqliteStore(db, synchronous=sync)
    queue = Queue("bench", store, default_options=KEEP)
    await store.ping()
    proc = _spawn_worker(db)
    try:
        await _wait_until_running(queue)
        await asyncio.sleep(1.0)
        cpu0, t0 = _cpu_seconds(proc.pid), time.monotonic()
        await asyncio.sleep(10.0)
        idle = 100 * (_cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
        sent: dict[str, int] = {}
        for i in range(n):
            sent_at = time.time_ns()
            job = await queue.add("x", {"i": i})
            sent[job.id] = sent_at
            await asyncio.sleep(0.02)  # the worker is idle again before the next one
        lat = []
        for job_id, sent_at in sent.items():
            started = await queue.get_job(job_id)
            while started is None or started.returnvalue is None:
                await asyncio.sleep(0.05)
                started = await queue.get_job(job_id)
            lat.append((int(started.returnvalue) - sent_at) / 1e6)
    finally:
        proc.terminate()
        proc.wait(10)
        await store.close()
    lat.sort()
    p50 = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))]
    return p50, p99, idle


async def main(args: argparse.Namespace) -> None:
    sync = args.synchronous
    n = args.jobs
    print(f"SQLite {SqliteStore.__module__}, synchronous={sync}, {n} jobs", flush=True)
    with tempfile.TemporaryDirectory(prefix="wh-bench-") as folder:
        print(f"enqueue one by one   {await enqueue_one(folder, n // 2, sync):>10,.0f} jobs/s")
        bulk = await enqueue_bulk(folder, n * 5, sync)
        print(f"enqueue bulk (1000)  {bulk:>10,.0f} jobs/s")
        print(f"drain, concurrency10 {await drain(folder, n, sync):>10,.0f} jobs/s")
        p50, p99, idle = await latency_and_idle(folder, args.latency_jobs, sync)
        print(f"start latency (xproc) p50 {p50:.2f} ms  p99 {p99:.2f} ms")
        print(f"idle worker CPU      {idle:>10.2f} %")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--latency-jobs", type=int, default=200)
    parser.add_argument("--synchronous", default="NORMAL")
    parser.add_argument("--role", default="bench")
    parser.add_argument("--db")
    args = parser.parse_args()
    if args.role == "worker":
        asyncio.run(_worker_role(args.db))
    else:
        asyncio.run(main(args))
