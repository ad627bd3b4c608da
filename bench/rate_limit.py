"""Rate-limited throughput: how close a queue limited to N jobs/s gets to N.

    .venv/bin/python bench/rate_limit.py [--limit 1000] [--seconds 5] [--store sqlite|redis://...]

Pre-fills ``limit * seconds`` no-op jobs on a queue limited to ``limit`` starts per
second (sliding window), then drains them with one worker at concurrency 50 and
reports the sustained rate -- the starts after the first window's ``limit`` divided
by the time from the first start to the last, from the jobs' own timestamps -- as a
share of the limit.  Target: >= 95 % of the limit.  It also checks
the limit held: no one-second window contains more than ``limit`` starts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import uuid

from workhorse import Job, JobOptions, JobState, Queue, Worker
from workhorse.store import connect


async def noop(job: Job) -> None:
    return None


def busiest_second(starts: list[int]) -> int:
    """The largest number of starts inside any window of 1,000 ms."""
    best, lo = 0, 0
    for hi, t in enumerate(starts):
        while t - starts[lo] >= 1000:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def run(url: str, limit: int, seconds: float) -> None:
    store = connect(url)
    # Keep every finished job: the figures are read from their start times.
    keep_all = JobOptions(remove_on_complete=False)
    queue = Queue(f"bench-rate-{uuid.uuid4().hex[:8]}", store, default_options=keep_all)
    total = int(limit * seconds)
    try:
        await queue.set_rate_limit(max=limit, per=1.0)
        for start in range(0, total, 1000):
            await queue.add_bulk(
                [("noop", None)] * min(1000, total - start),
            )
        await Worker(queue, noop, concurrency=50).run(burst=True)
        jobs = await queue.list_jobs(JobState.COMPLETED, 0, -1, desc=False)
        starts = sorted(j.started_at for j in jobs if j.started_at is not None)
        span = (starts[-1] - starts[0]) / 1000
        # A sliding window lets the first `limit` jobs start at once; every later
        # start waits for the window: the sustained rate is what came after them.
        rate = (len(starts) - limit) / span if span else float("inf")
        print(f"store {url.split(':', 1)[0]}: {len(starts)} jobs, limit {limit}/s")
        print(f"  started {rate:,.0f} jobs/s = {rate / limit:.1%} of the limit")
        print(f"  busiest 1 s window: {busiest_second(starts)} starts (limit {limit})")
    finally:
        await queue.obliterate(force=True)
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--store", default="redis://127.0.0.1:6379/15", help="store URL or 'sqlite'"
    )
    args = parser.parse_args()
    if args.store == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = "sqlite:///" + os.path.join(tmp, "rate.db")
            asyncio.run(run(url, args.limit, args.seconds))
    else:
        asyncio.run(run(args.store, args.limit, args.seconds))


if __name__ == "__main__":
    main()
