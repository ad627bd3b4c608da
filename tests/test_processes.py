"""Workers as real processes: SIGKILL mid-job, random kills under load, SIGTERM.

These are the guarantees that matter most: no job is lost, none stays active for
ever, and a dead worker's jobs are recovered by the others.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from tests.conftest import REDIS_URL
from workhorse import JobOptions, JobState, Queue
from workhorse.store.base import Store
from workhorse.store.sqlite import SqliteStore

pytestmark = pytest.mark.slow


@pytest.fixture
def spawn(store: Store, prefix: str) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start worker processes on the test's store (runs once per store kind)."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(lock: float = 1.0) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "WH_TEST_URL": REDIS_URL,
            "WH_TEST_PREFIX": prefix,
            "WH_TEST_LOCK": str(lock),
        }
        if isinstance(store, SqliteStore):
            env["WH_TEST_STORE_URL"] = store.url
        proc = subprocess.Popen(
            [sys.executable, "-m", "workhorse.cli", "worker", "tests.apps.crash_app:app"],
            env=env,
            cwd=os.path.dirname(os.path.dirname(__file__)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        procs.append(proc)
        return proc

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
        if p.stderr:
            p.stderr.close()


@pytest.fixture
async def crash_queue(store: Store) -> AsyncIterator[Queue]:
    q = Queue("crash", store, default_options=JobOptions(remove_on_complete=False))
    yield q
    await q.close_events()


async def _wait_for(predicate: Callable[[], object], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():  # type: ignore[misc]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_sigkill_mid_job_is_recovered_by_another_worker(
    crash_queue: Queue, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    job = await crash_queue.add("slow", {"sleep": 60, "once": True})
    first = spawn()
    await _wait_for(lambda: crash_queue.get_logs(job.id), 20)
    assert (await crash_queue.get_state(job.id)) is JobState.ACTIVE
    killed_at = time.monotonic()
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = spawn()
    value = await job.result(timeout=30)
    recovered_in = time.monotonic() - killed_at
    assert value["pid"] == second.pid
    done = await crash_queue.get_job(job.id)
    assert done is not None and done.stalled_count == 1
    # Lock 1 s + check every 0.5 s: well inside the bound, with start-up slack.
    assert recovered_in < 15


async def test_random_sigkills_lose_no_job(
    crash_queue: Queue, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    total = 1000
    await crash_queue.add_bulk([("j", {"i": i, "sleep": 0.03}) for i in range(total)])
    workers = [spawn() for _ in range(3)]
    rng = random.Random(1234)
    kills = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        counts = await crash_queue.counts()
        if counts[JobState.COMPLETED] == total:
            break
        if kills < 5:
            await asyncio.sleep(rng.uniform(0.3, 0.8))
            victim = rng.randrange(len(workers))
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait()
            workers[victim] = spawn()
            kills += 1
        else:
            await asyncio.sleep(0.2)
    counts = await crash_queue.counts()
    assert kills >= 3, "the kills must land while jobs are being processed"
    assert counts[JobState.COMPLETED] == total, counts
    assert counts[JobState.ACTIVE] == 0
    assert counts[JobState.WAITING] == 0
    assert counts[JobState.FAILED] == 0
    done = await crash_queue.list_jobs(JobState.COMPLETED, 0, -1)
    assert sorted(j.data["i"] for j in done) == list(range(total))


async def test_sigterm_finishes_running_job_then_exits(
    crash_queue: Queue, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    job = await crash_queue.add("slow", {"sleep": 0.8})
    proc = spawn()
    await _wait_for(lambda: crash_queue.get_logs(job.id), 20)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    done = await crash_queue.get_job(job.id)
    assert done is not None
    assert done.state is JobState.COMPLETED
    assert done.returnvalue["pid"] == proc.pid
