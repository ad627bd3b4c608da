"""Metrics for the whole system: counters and histograms from the event stream (the
workers run on another store object, i.e. another process), gauges read from the
store, exposition accepted by ``promtool check metrics``."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.clocks import FakeClock
from workhorse import Backoff, JobState, Queue, RedisStore, Worker
from workhorse.events import EventHooks
from workhorse.job import Job
from workhorse.observability.metrics import JobMetrics
from workhorse.store.base import Event, Store

Q = "m"
Sample = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: bytes) -> Sample:
    out: Sample = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Sample, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def promtool(text: bytes) -> str:
    """``promtool check metrics`` on the exposition: its complaints ('' = none)."""
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is not installed: apt-get install prometheus (or ./dev test)")
    done = subprocess.run(
        [tool, "check", "metrics"], input=text, capture_output=True, timeout=30, check=False
    )
    return (done.stdout + done.stderr).decode() + ("" if done.returncode == 0 else " (failed)")


class Finished:
    """A hook counting finishing events, to await the moment metrics saw them all
    (listeners run before hooks are scheduled)."""

    def __init__(self) -> None:
        self.count = 0
        self.changed = asyncio.Event()

    async def hook(self, event: Event) -> None:
        self.count += 1
        self.changed.set()

    async def until(self, n: int) -> None:
        async with asyncio.timeout(20):
            while self.count < n:
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def observed(store: Store) -> AsyncIterator[tuple[JobMetrics, Finished]]:
    metrics = JobMetrics(store, [Q])
    finished = Finished()
    hooks = EventHooks(store, [Q])
    hooks.listen(metrics.observe)
    hooks.on("completed", finished.hook)
    hooks.on("failed", finished.hook)
    await hooks.start()
    yield metrics, finished
    await hooks.close()


@pytest.fixture
async def other(make_store: Callable[..., Store]) -> AsyncIterator[Store]:
    s = make_store()
    yield s
    await s.close()


async def handler(job: Job) -> Any:
    if job.name == "flaky" and job.attempts_made == 0:
        raise ConnectionError("try again")
    if job.name == "bad":
        raise RuntimeError("broken")
    if job.name == "slow":
        await asyncio.sleep(30)
    return job.name


async def test_counters_and_histograms_follow_another_process_workers(
    store: Store, other: Store, observed: tuple[JobMetrics, Finished]
) -> None:
    metrics, finished = observed
    queue = Queue(Q, store)
    for name in ("ok", "ok", "ok"):
        await queue.add(name, None)
    await queue.add("flaky", None, attempts=2, backoff=Backoff("fixed", delay=0.01))
    await queue.add("bad", None, attempts=1)
    await queue.add("slow", None, attempts=1, timeout=0.05)
    await Worker(Queue(Q, other), handler, concurrency=4, stalled_interval=0.2).run(burst=True)
    await finished.until(6)

    text = await metrics.render()
    assert promtool(text) == ""
    s = parse(text)
    assert value(s, "workhorse_jobs_added_total", queue=Q) == 6
    assert value(s, "workhorse_jobs_started_total", queue=Q) == 7
    assert value(s, "workhorse_jobs_completed_total", queue=Q) == 4
    assert value(s, "workhorse_jobs_retried_total", queue=Q) == 1
    assert value(s, "workhorse_jobs_failed_total", queue=Q) == 2
    assert value(s, "workhorse_jobs_dead_lettered_total", queue=Q) == 2
    assert value(s, "workhorse_jobs_timed_out_total", queue=Q) == 1
    assert value(s, "workhorse_job_wait_seconds_count", queue=Q) == 7
    runs = {
        outcome: value(s, "workhorse_job_duration_seconds_count", queue=Q, outcome=outcome)
        for outcome in ("completed", "retried", "failed")
    }
    assert runs == {"completed": 4, "retried": 1, "failed": 2}
    # The timed-out attempt ran at least its time limit.
    assert value(s, "workhorse_job_duration_seconds_sum", queue=Q, outcome="failed") >= 0.05

    # Gauges are the store's own figures.
    counts = await store.counts(Q)
    for state in JobState:
        assert value(s, "workhorse_queue_jobs", queue=Q, state=state.value) == counts[state]
    assert counts[JobState.COMPLETED] == 4 and counts[JobState.FAILED] == 2
    assert value(s, "workhorse_queue_dead_letters", queue=Q) == await store.dead_letter_count(Q)
    assert value(s, "workhorse_store_up") == 1


async def test_stalls_and_rate_limit_holds_are_counted(
    store: Store, other: Store, observed: tuple[JobMetrics, Finished]
) -> None:
    metrics, _ = observed
    queue = Queue(Q, store)
    await queue.set_rate_limit(2, 60)
    for _ in range(4):
        await queue.add("j", None)
    await other.fetch(Q, "dead-worker", [], 1, 0)  # its lock is already expired
    await other.recover_stalled(Q, max_stalled=1)
    await other.fetch(Q, "w", [], 2, 60_000)  # gets the window's last start: held back
    await other.fetch(Q, "w", [], 2, 60_000)  # gets none: held back
    async with asyncio.timeout(10):
        while True:
            s = parse(await metrics.render())
            if value(s, "workhorse_rate_limited_total", queue=Q, scope="queue") >= 2:
                break
            await asyncio.sleep(0.02)
    assert value(s, "workhorse_rate_limited_total", queue=Q, scope="queue") == 2
    assert value(s, "workhorse_rate_limited_total", queue=Q, scope="group") == 0
    assert value(s, "workhorse_jobs_stalled_total", queue=Q) == 1
    assert value(s, "workhorse_jobs_started_total", queue=Q) == 2  # 1 then 1 (window of 2)


async def test_oldest_waiting_and_paused_gauges(make_store: Callable[..., Store]) -> None:
    clock = FakeClock()
    store = make_store(clock=clock)
    try:
        metrics = JobMetrics(store, [Q])
        s = parse(await metrics.render())
        assert value(s, "workhorse_queue_oldest_waiting_seconds", queue=Q) == 0
        queue = Queue(Q, store)
        await queue.add("first", None)
        clock.advance(1.5)
        await queue.add("second", None)
        clock.advance(5)
        await queue.pause()
        s = parse(await metrics.render())
        assert value(s, "workhorse_queue_oldest_waiting_seconds", queue=Q) == 6.5
        assert value(s, "workhorse_queue_paused", queue=Q) == 1
        assert value(s, "workhorse_queue_jobs", queue=Q, state="waiting") == 2
    finally:
        await store.close()


async def test_live_workers_and_their_slots(store: Store, other: Store) -> None:
    metrics = JobMetrics(store, [Q, "idle"])
    workers = [
        Worker(Queue(Q, other), handler, concurrency=c, stalled_interval=0.05) for c in (2, 3)
    ]
    runners = [asyncio.create_task(w.run()) for w in workers]
    try:
        async with asyncio.timeout(10):  # workers heartbeat on a timer: no event to await
            while True:
                s = parse(await metrics.render())
                if value(s, "workhorse_workers", queue=Q) == 2:
                    break
                await asyncio.sleep(0.02)
        assert value(s, "workhorse_worker_slots", queue=Q) == 5
        assert value(s, "workhorse_workers", queue="idle") == 0
        for w in workers:
            await w.close()
        s = parse(await metrics.render())
        assert value(s, "workhorse_workers", queue=Q) == 0
    finally:
        for w in workers:
            await w.close()
        await asyncio.gather(*runners)


async def test_an_unreachable_store_still_serves_the_counters() -> None:
    down = RedisStore("redis://127.0.0.1:1/0", prefix="whtest-down", retries=0)
    try:
        metrics = JobMetrics(down, [Q])
        text = await metrics.render()
        assert promtool(text) == ""
        s = parse(text)
        assert value(s, "workhorse_store_up") == 0
        assert value(s, "workhorse_jobs_completed_total", queue=Q) == 0
        assert not any(name == "workhorse_queue_jobs" for name, _ in s)
    finally:
        await down.close()
