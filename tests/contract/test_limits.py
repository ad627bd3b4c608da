"""Queue limits enforced by the store's atomic take: global concurrency, rate limits
per queue, and per-group limits (fairness between tenants)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest

from workhorse import JobState, Queue, Worker
from workhorse.job import Job

HANG = 20.0  # upper bound against hangs, not a timing assertion


class Gauge:
    """Jobs running right now in this process, and the most seen at once."""

    def __init__(self) -> None:
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()

    def enter(self, key: str) -> None:
        self.now[key] += 1
        self.peak[key] = max(self.peak[key], self.now[key])

    def leave(self, key: str) -> None:
        self.now[key] -= 1


async def stop(workers: list[Worker], tasks: list[asyncio.Task[None]]) -> None:
    await asyncio.gather(*(w.close(grace=5) for w in workers))
    await asyncio.gather(*tasks)


def start(queue: Queue, handler: Any, n: int = 1, **options: Any) -> list[Worker]:
    return [Worker(queue, handler, block_timeout=30.0, **options) for _ in range(n)]


async def test_global_concurrency_holds_across_workers(queue: Queue) -> None:
    await queue.set_concurrency(2)
    assert await queue.limits() == {"concurrency": 2}
    gauge = Gauge()
    release = asyncio.Event()
    two_running = asyncio.Event()

    async def handler(job: Job) -> Any:
        gauge.enter("all")
        if gauge.now["all"] == 2:
            two_running.set()
        try:
            await release.wait()
        finally:
            gauge.leave("all")
        return job.data

    jobs = [await queue.add("j", i) for i in range(9)]
    workers = start(queue, handler, n=3, concurrency=3)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        await asyncio.wait_for(two_running.wait(), HANG)
        # Three workers with nine free slots in all, nine jobs waiting: two run.
        counts = await queue.counts()
        assert counts[JobState.ACTIVE] == 2
        assert counts[JobState.WAITING] == 7
        release.set()
        results = [await j.result(timeout=HANG) for j in jobs]
    finally:
        release.set()
        await stop(workers, tasks)
    assert results == list(range(9))
    assert gauge.peak["all"] == 2


async def test_clearing_the_concurrency_limit_lets_more_run(queue: Queue) -> None:
    await queue.set_concurrency(1)
    await queue.set_concurrency(None)
    assert await queue.limits() == {}
    gauge = Gauge()
    both = asyncio.Event()

    async def handler(job: Job) -> Any:
        gauge.enter("all")
        if gauge.now["all"] == 2:
            both.set()
        await asyncio.wait_for(both.wait(), HANG)
        gauge.leave("all")

    jobs = [await queue.add("j", i) for i in range(2)]
    workers = start(queue, handler, n=1, concurrency=2)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        for j in jobs:
            await j.result(timeout=HANG)
    finally:
        await stop(workers, tasks)
    assert gauge.peak["all"] == 2


async def test_rate_limit_spreads_starts_over_the_window(queue: Queue) -> None:
    await queue.set_rate_limit(max=5, per=1.0)
    assert await queue.limits() == {"rate_max": 5, "rate_per": 1000}

    async def handler(job: Job) -> Any:
        return job.data

    jobs = [await queue.add("j", i) for i in range(15)]
    # Long blocking waits: the workers must be woken when the window frees.
    workers = start(queue, handler, n=2, concurrency=5)
    began = time.monotonic()
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        results = [await j.result(timeout=HANG) for j in jobs]
    finally:
        elapsed = time.monotonic() - began
        await stop(workers, tasks)
    assert sorted(results) == list(range(15))
    assert elapsed >= 2.0  # 15 starts at 5 per second need two full windows
    assert elapsed < HANG
    starts = []
    for j in jobs:
        done = await queue.get_job(j.id)
        assert done is not None and done.started_at is not None
        starts.append(done.started_at)
    starts.sort()
    # No window of one second holds more than five starts.
    assert all(starts[i + 5] - starts[i] >= 1000 for i in range(len(starts) - 5))


async def test_group_concurrency_lets_other_groups_through(queue: Queue) -> None:
    await queue.set_group_limit(concurrency=1)
    gauge = Gauge()
    release = asyncio.Event()

    async def handler(job: Job) -> Any:
        group = job.group
        gauge.enter(group or "-")
        try:
            if group == "big":
                await release.wait()
        finally:
            gauge.leave(group or "-")
        return job.data

    big = [await queue.add("j", i, group="big") for i in range(6)]
    small = [await queue.add("j", 10 + i, group="small") for i in range(2)]
    plain = await queue.add("j", 99)
    workers = start(queue, handler, n=2, concurrency=4)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        # Behind five waiting jobs of "big", the other jobs run at once.
        assert [await j.result(timeout=HANG) for j in small] == [10, 11]
        assert await plain.result(timeout=HANG) == 99
        states = [await queue.get_state(j.id) for j in big]
        assert states.count(JobState.ACTIVE) == 1
        assert states.count(JobState.WAITING) == 5
        release.set()
        assert [await j.result(timeout=HANG) for j in big] == list(range(6))
    finally:
        release.set()
        await stop(workers, tasks)
    assert gauge.peak["big"] == 1


async def test_group_rate_limit_holds_one_group_only(queue: Queue) -> None:
    await queue.set_group_limit(max=2, per=60)
    assert await queue.limits() == {"group_max": 2, "group_per": 60_000}

    async def handler(job: Job) -> Any:
        return job.data

    big = [await queue.add("j", i, group="big") for i in range(5)]
    small = [await queue.add("j", 10 + i, group="small") for i in range(2)]
    workers = start(queue, handler, n=1, concurrency=2)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        assert [await j.result(timeout=HANG) for j in small] == [10, 11]
        assert [await j.result(timeout=HANG) for j in big[:2]] == [0, 1]
        # The other three of "big" wait for the window (a minute) ...
        assert [await queue.get_state(j.id) for j in big[2:]] == [JobState.WAITING] * 3
        # ... or until the limit is lifted, which wakes the blocked worker.
        await queue.set_group_limit(max=None)
        assert [await j.result(timeout=HANG) for j in big[2:]] == [2, 3, 4]
    finally:
        await stop(workers, tasks)


async def test_group_is_stored_with_the_job(queue: Queue) -> None:
    job = await queue.add("j", 1, group="user-42")
    assert job.group == "user-42"
    stored = await queue.get_job(job.id)
    assert stored is not None and stored.group == "user-42"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda q: q.set_concurrency(0), "concurrency must be an integer >= 1"),
        (lambda q: q.set_concurrency(True), "concurrency must be an integer >= 1"),
        (lambda q: q.set_rate_limit(0), "max must be an integer >= 1"),
        (lambda q: q.set_rate_limit(5, per=0), "per must be a number of seconds > 0"),
        (lambda q: q.set_group_limit(max=2, per=-1), "per must be"),
        (lambda q: q.set_group_limit(concurrency=0), "concurrency must be"),
    ],
)
async def test_bad_limits_are_refused_and_store_nothing(
    queue: Queue, call: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await call(queue)
    assert await queue.limits() == {}


async def test_bad_group_is_refused(queue: Queue) -> None:
    for bad in ("", 42, "x" * 257):
        with pytest.raises(ValueError, match="group must be a non-empty string"):
            await queue.add("j", 1, group=bad)
    assert sum((await queue.counts()).values()) == 0
