"""Process-pool throughput: CPU-bound ~50 ms jobs on 1 pool process, then on 2.

    .venv/bin/python bench/pool.py [--jobs 60] [--ms 50] [--store sqlite|redis://...]

Each job does a fixed amount of pure-Python work (calibrated once to take ``--ms`` on
this machine), so two processes only go faster if they really run in parallel.  The
time is measured from the first job's start to the last job's finish, as stored on
the jobs, so starting the pool is not counted.  Target: 2 processes >= 1.8x one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid

from workhorse import Job, JobState, Queue, Worker
from workhorse.store import connect


def spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def burn(job: Job) -> int:
    """The benchmark's job: ``data.n`` loop iterations of pure Python."""
    return spin(int(job.data["n"]))


def calibrate(ms: float) -> int:
    """Iterations of :func:`spin` that take ``ms`` milliseconds here (best of 5)."""
    n = 100_000
    best = min(_timed(n) for _ in range(5))
    return max(1, round(n * ms / 1000 / best))


def _timed(n: int) -> float:
    began = time.perf_counter()
    spin(n)
    return time.perf_counter() - began


async def measure(url: str, processes: int, jobs: int, n: int) -> float:
    """Seconds from the first start to the last finish of ``jobs`` jobs."""
    # On Redis, keys of a prefix of our own, deleted at the end (obliterate).
    redis = url.startswith(("redis://", "rediss://"))
    store = connect(url, prefix=f"whbench-{uuid.uuid4().hex[:8]}") if redis else connect(url)
    queue = Queue(f"pool-{processes}", store)
    try:
        await queue.add_bulk([("burn", {"n": n}) for _ in range(jobs)])
        await Worker(queue, burn, processes=processes).run(burst=True)
        done = await queue.list_jobs(JobState.COMPLETED, 0, -1)
        assert len(done) == jobs, f"{len(done)} of {jobs} jobs completed"
        first = min(j.started_at or 0 for j in done)
        last = max(j.finished_at or 0 for j in done)
        return (last - first) / 1000
    finally:
        await queue.obliterate(force=True)
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--ms", type=float, default=50.0)
    parser.add_argument("--store", default="sqlite", help="sqlite (a temporary file) or a URL")
    args = parser.parse_args()
    n = calibrate(args.ms)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{os.path.join(tmp, 'bench.db')}" if args.store == "sqlite" else args.store
        print(f"{args.jobs} jobs of ~{args.ms:g} ms CPU each ({n} iterations)", end=", ")
        # Other load on the machine takes CPUs from the pool: show it beside the figures.
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} before the run")
        print(f"{'processes':>9} {'seconds':>8} {'jobs/s':>8} {'vs 1':>6}")
        base = None
        for processes in (1, 2):
            seconds = await measure(url, processes, args.jobs, n)
            rate = args.jobs / seconds
            base = base or rate
            print(f"{processes:>9} {seconds:>8.2f} {rate:>8.1f} {rate / base:>5.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
