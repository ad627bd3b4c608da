"""Real time limits: cooperative cancellation, then the job's process is killed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time

from tests.apps.pool_app import pooled, sync_pooled
from workhorse import JobState, Queue, Worker
from workhorse.job import Job

FAST_LOCKS = {"lock_duration": 0.6, "stalled_interval": 0.2}


async def test_cpu_bound_job_over_its_limit_is_killed_and_the_pool_goes_on(queue: Queue) -> None:
    start = await queue.store.last_event_position(queue.name)
    spin = await queue.add("spin", None, timeout=0.4, attempts=2)
    after = await queue.add_bulk([("pid", None) for _ in range(3)])
    began = time.monotonic()
    await Worker(queue, pooled, processes=2, timeout_grace=0.4, **FAST_LOCKS).run(burst=True)
    # Two attempts of timeout + grace, plus process start-up: this bound only catches hangs.
    assert time.monotonic() - began < 30
    failed = await queue.get_job(spin.id)
    assert failed is not None and failed.state is JobState.FAILED
    assert failed.failed_reason == "timeout"
    assert failed.attempts_made == 2, "a timeout is retried as configured"
    assert failed.stacktrace is not None and "time limit of 0.4 s" in failed.stacktrace
    history = await queue.get_history(spin.id)
    assert [h["error"] for h in history] == ["timeout", "timeout"]
    # The lock was renewed all along: never stalled, never taken by another run.
    assert failed.stalled_count == 0
    events = await queue.store.read_events(queue.name, start)
    assert not [e for e in events if e.event == "stalled"]
    spinners = {int(line.split()[-1]) for line in await queue.get_logs(spin.id)}
    assert len(spinners) == 2 and not any(_alive(pid) for pid in spinners)
    # The pool kept serving: the other jobs completed in pool processes.
    assert all(isinstance(v, int) for v in [await j.result(timeout=10) for j in after])


async def test_cooperative_timeout_in_pool_keeps_the_process(queue: Queue) -> None:
    slow = await queue.add("sleep", {"seconds": 60}, timeout=0.3)
    nxt = await queue.add("pid", None)
    await Worker(queue, pooled, processes=1, timeout_grace=30).run(burst=True)
    failed = await queue.get_job(slow.id)
    assert failed is not None and failed.failed_reason == "timeout"
    (line,) = await queue.get_logs(slow.id)
    slept_in = int(line.split()[-1])
    # Cancelled by message well inside the 30 s grace: the same process runs on.
    assert await nxt.result(timeout=10) == slept_in


async def test_sync_handler_in_pool_is_killed_after_its_limit(queue: Queue) -> None:
    spin = await queue.add("spin", {"n": 0}, timeout=0.3)
    nxt = await queue.add("sum", {"n": 4})
    await Worker(queue, sync_pooled, processes=1, timeout_grace=0.2).run(burst=True)
    failed = await queue.get_job(spin.id)
    assert failed is not None and failed.failed_reason == "timeout"
    (line,) = await queue.get_logs(spin.id)
    spun_in = int(line.split()[-1])
    assert not _alive(spun_in)
    value = await nxt.result(timeout=10)
    assert value["sum"] == 6 and value["pid"] != spun_in, "served by the replacement"


async def test_shutdown_stops_a_pooled_job_and_releases_it(queue: Queue) -> None:
    job = await queue.add("spin", None, attempts=2)
    worker = Worker(queue, pooled, processes=1, timeout_grace=0.3)
    run = asyncio.create_task(worker.run())
    async with contextlib.aclosing(queue.follow("0")) as events:
        async for event in events:
            if event.event == "log" and event.job_id == job.id:
                break
    await worker.close(grace=0.2)
    await run
    released = await queue.get_job(job.id)
    assert released is not None and released.state is JobState.WAITING
    assert released.attempts_made == 0, "a released job does not lose an attempt"


async def test_sync_handler_without_pool_fails_on_time_but_runs_on(queue: Queue) -> None:
    """Documented limit: a thread cannot be killed, so only the attempt ends on time."""
    job = await queue.add("block", None, timeout=0.2)
    release = threading.Event()
    finished = threading.Event()

    def handler(j: Job) -> None:
        release.wait(30)
        finished.set()

    await Worker(queue, handler).run(burst=True)
    failed = await queue.get_job(job.id)
    assert failed is not None and failed.failed_reason == "timeout"
    assert not finished.is_set(), "the attempt failed while the thread still ran"
    release.set()
    await asyncio.to_thread(finished.wait, 10)
    assert finished.is_set()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
