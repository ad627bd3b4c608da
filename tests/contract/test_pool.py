"""Process isolation: a queue's jobs run in a pool of worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.apps.pool_app import pooled, sync_pooled
from tests.conftest import REDIS_URL
from workhorse import JobFailed, JobState, Queue, Worker, Workhorse
from workhorse.job import Job
from workhorse.store.base import Store
from workhorse.store.sqlite import SqliteStore

POOL: dict[str, Any] = {"processes": 1, "timeout_grace": 0.5}


async def test_pooled_job_runs_in_another_process_with_progress_and_logs(queue: Queue) -> None:
    job = await queue.add("report", {"n": 7})
    start = await queue.store.last_event_position(queue.name)
    await Worker(queue, pooled, **POOL).run(burst=True)
    value = await job.result(timeout=10)
    assert value["n"] == 7
    assert value["pid"] != os.getpid()
    stored = await queue.get_job(job.id)
    assert stored is not None
    assert stored.progress == {"currentStep": "write", "overallProgress": 90}
    assert await queue.get_logs(job.id) == [f"working in {value['pid']}"]
    events = [e.event for e in await queue.store.read_events(queue.name, start)]
    assert events.index("progress") < events.index("log") < events.index("completed")


async def test_sync_handler_runs_in_the_pool(queue: Queue) -> None:
    jobs = await queue.add_bulk([("sum", {"n": n}) for n in (10, 100, 1000)])
    await Worker(queue, sync_pooled, **POOL).run(burst=True)
    values = [await j.result(timeout=10) for j in jobs]
    assert [v["sum"] for v in values] == [45, 4950, 499500]
    assert all(v["pid"] != os.getpid() for v in values)
    stored = await queue.get_job(jobs[0].id)
    assert stored is not None and stored.progress == 40
    assert (await queue.get_logs(jobs[0].id))[0].startswith("sync in ")


async def test_pool_runs_jobs_on_all_its_processes(queue: Queue) -> None:
    jobs = await queue.add_bulk([("sleep", {"seconds": 0.2}) for _ in range(4)])
    await Worker(queue, pooled, processes=2).run(burst=True)
    assert [await j.result(timeout=10) for j in jobs] == ["woke"] * 4
    pids = set()
    for j in jobs:
        pids.update(line.split()[-1] for line in await queue.get_logs(j.id))
    assert len(pids) == 2, "two jobs at a time, one per process"


async def test_errors_come_back_with_message_and_traceback(queue: Queue) -> None:
    job = await queue.add("fail", {"n": 3}, attempts=2)
    await Worker(queue, pooled, **POOL).run(burst=True)
    with pytest.raises(JobFailed, match="bad input 3"):
        await job.result(timeout=10)
    failed = await queue.get_job(job.id)
    assert failed is not None and failed.attempts_made == 2, "retried as configured"
    assert failed.stacktrace is not None
    assert "ValueError: bad input 3" in failed.stacktrace
    assert "pool_app.py" in failed.stacktrace, "the child's own traceback"


async def test_unrecoverable_error_in_pool_fails_at_once(queue: Queue) -> None:
    job = await queue.add("unrecoverable", None, attempts=5)
    await Worker(queue, pooled, **POOL).run(burst=True)
    failed = await queue.get_job(job.id)
    assert failed is not None and failed.state is JobState.FAILED
    assert failed.attempts_made == 1
    assert failed.failed_reason == "give up"


async def test_non_json_return_value_in_pool_fails_without_retry(queue: Queue) -> None:
    job = await queue.add("object", None, attempts=3)
    await Worker(queue, pooled, **POOL).run(burst=True)
    failed = await queue.get_job(job.id)
    assert failed is not None and failed.attempts_made == 1
    assert "JSON" in (failed.failed_reason or "")


async def test_dead_process_fails_the_attempt_and_is_replaced(queue: Queue) -> None:
    died = await queue.add("die", None, attempts=2)
    after = await queue.add_bulk([("pid", None) for _ in range(3)])
    await Worker(queue, pooled, **POOL).run(burst=True)
    failed = await queue.get_job(died.id)
    assert failed is not None and failed.state is JobState.FAILED
    assert failed.attempts_made == 2
    assert "died (exit code 3)" in (failed.failed_reason or "")
    assert all(isinstance(v, int) for v in [await j.result(timeout=10) for j in after])


async def test_cancel_running_pooled_job_kills_it_without_retry(queue: Queue) -> None:
    job = await queue.add("spin", None, attempts=3)
    worker = Worker(queue, pooled, lock_duration=1.0, **POOL)
    run = asyncio.create_task(worker.run())
    spinning = await _first_log(queue, job.id)
    assert await queue.cancel(job.id) is JobState.ACTIVE
    with pytest.raises(JobFailed, match="cancelled"):
        await job.result(timeout=20)
    next_job = await queue.add("pid", None)
    new_pid = await next_job.result(timeout=20)
    await worker.close()
    await run
    stored = await queue.get_job(job.id)
    assert stored is not None and stored.attempts_made == 1, "a cancel is not retried"
    assert _pid_alive(int(spinning.split()[-1])) is False, "the spinning process was killed"
    assert isinstance(new_pid, int)


async def test_handler_that_cannot_be_imported_is_refused(queue: Queue) -> None:
    def local(job: Job) -> None: ...

    with pytest.raises(ValueError, match="importable module"):
        Worker(queue, lambda job: None, processes=1)
    with pytest.raises(ValueError, match="importable module"):
        Worker(queue, local, processes=1)
    with pytest.raises(ValueError, match="processes must be an integer >= 1"):
        Worker(queue, pooled, processes=0)
    with pytest.raises(ValueError, match="timeout_grace"):
        Worker(queue, pooled, processes=1, timeout_grace=-1)
    assert await queue.counts() == {s: 0 for s in JobState}


async def test_processor_decorator_passes_processes_through(queue: Queue) -> None:
    app = Workhorse(queue.store)
    app.processor(queue.name, processes=2, timeout_grace=0.5)(pooled)
    (worker,) = app.workers([queue.name])
    assert worker.options.processes == 2 and worker.options.slots == 2
    (overridden,) = app.workers([queue.name], concurrency=8, processes=3)
    assert overridden.options.slots == 3, "a pool runs one job per process"
    job = await queue.add("pid", None)
    await worker.run(burst=True)
    assert await job.result(timeout=10) != os.getpid()


async def test_pool_processes_exit_when_their_worker_is_killed(store: Store, prefix: str) -> None:
    env = {**os.environ, "WH_TEST_URL": REDIS_URL, "WH_TEST_PREFIX": prefix}
    if isinstance(store, SqliteStore):
        env["WH_TEST_STORE_URL"] = store.url
    queue = Queue("pool", store)
    job = await queue.add("spin", None)
    worker = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "workhorse.cli", "worker", "tests.apps.pool_worker_app:app"),
        env=env,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        spinner = int((await _first_log(queue, job.id)).split()[-1])
        exited = _exit_of(spinner)
        worker.kill()
        await worker.wait()
        # Without a parent to stop it, the spinning process must notice and exit.
        await asyncio.wait_for(exited, 20)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
        await queue.close_events()


def _exit_of(pid: int) -> asyncio.Future[None]:
    """A future set when process ``pid`` (not our child) exits."""
    loop = asyncio.get_running_loop()
    fd = os.pidfd_open(pid)
    exited: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        loop.remove_reader(fd)
        os.close(fd)
        exited.set_result(None)

    loop.add_reader(fd, ready)
    return exited


async def _first_log(queue: Queue, job_id: str) -> str:
    """Wait for the job's first log line (the handler says where it runs)."""
    async with contextlib.aclosing(queue.follow("0")) as events:
        async for event in events:
            if event.event == "log" and event.job_id == job_id:
                return event.fields["line"]
    raise AssertionError("unreachable")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
