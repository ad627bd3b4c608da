"""The dead-letter set keeps the newest DEAD_LETTERS_KEPT (10,000) jobs of a queue;
older ones leave the set but stay failed jobs, under their own retention."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from workhorse import JobState, Queue, UnrecoverableError, Worker
from workhorse.job import Job
from workhorse.store.redis.keys import DEAD_LETTERS_KEPT
from workhorse.store.sqlite.tx import DEAD_LETTERS_KEPT as SQLITE_KEPT

OVER = 5

pytestmark = pytest.mark.slow


async def fatal(job: Job) -> Any:
    raise UnrecoverableError(f"fatal {job.data}")


def test_both_stores_keep_the_same_number() -> None:
    assert DEAD_LETTERS_KEPT == SQLITE_KEPT == 10_000


async def test_oldest_dead_letters_leave_the_set_past_the_cap(queue: Queue) -> None:
    total = DEAD_LETTERS_KEPT + OVER
    keep_all = queue.options(remove_on_fail=False)  # no retention of failed jobs here
    jobs = await queue.add_bulk([("fatal", i, keep_all) for i in range(total)])
    worker = Worker(queue, fatal, concurrency=50)
    await asyncio.wait_for(worker.run(burst=True), 50)

    assert await queue.dead_letter_count() == DEAD_LETTERS_KEPT
    assert (await queue.counts())[JobState.FAILED] == total
    newest = await queue.dead_letters(0, 0)
    oldest_kept = await queue.dead_letters(DEAD_LETTERS_KEPT - 1, DEAD_LETTERS_KEPT - 1)
    kept = {j.id for j in await queue.dead_letters(0, -1)}
    assert len(kept) == DEAD_LETTERS_KEPT
    # With concurrency the finishing order is not the adding order exactly; the
    # jobs that left are some of the first ones, and they are still stored.
    dropped = [j.id for j in jobs if j.id not in kept]
    assert len(dropped) == OVER
    first_ids = {j.id for j in jobs[: 50 + OVER]}
    assert set(dropped) <= first_ids
    for job_id in dropped:
        job = await queue.get_job(job_id)
        assert job is not None
        assert job.state is JobState.FAILED
        assert job.failed_reason is not None
    assert newest and oldest_kept
    assert newest[0].id != oldest_kept[0].id
