"""A store wake-up that arrives while a fetch is in flight is never lost.

The race: the worker waits for a wake-up (queue drained) while a job runs; the job
ends, so a fetch carrying its outcome goes out and finds nothing; a new job is added
and the wake-up fires before that fetch's reply arrives.  The reply is short, but it
predates the new job: the worker must fetch again instead of going back to sleep
(which left the new job waiting until some later wake-up)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workhorse import Job, Queue, Worker
from workhorse.store.base import Outcome
from workhorse.store.sqlite import SqliteStore


class GatedStore(SqliteStore):
    """Holds back the reply of the first fetch that carries an outcome."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.fetched = asyncio.Event()
        self.gate = asyncio.Event()
        self._held = False

    async def fetch(
        self, queue: str, token: str, outcomes: Sequence[Outcome], take: int, lock_ms: int
    ) -> tuple[list[Job], list[str]]:
        result = await super().fetch(queue, token, outcomes, take, lock_ms)
        if outcomes and not self._held:
            self._held = True
            self.fetched.set()
            await self.gate.wait()
        return result


async def until(condition: Any) -> None:
    """Poll the worker's private state: it offers no event for these moments."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


async def test_a_wakeup_during_a_fetch_is_not_lost(tmp_path: Path) -> None:
    store = GatedStore(tmp_path / "wh.db")
    queue = Queue("q", store)
    started, release = asyncio.Event(), asyncio.Event()

    async def handler(job: Job) -> str:
        if job.name == "first":
            started.set()
            await release.wait()
        return job.name

    worker = Worker(queue, handler, concurrency=2)
    running = asyncio.create_task(worker.run())
    try:
        await queue.add("first", None)
        await asyncio.wait_for(started.wait(), 10)
        await until(lambda: worker._wait_task is not None)  # drained, waiting
        release.set()  # "first" ends: its outcome goes out in a fetch ...
        await asyncio.wait_for(store.fetched.wait(), 10)  # ... which found nothing
        second = await queue.add("second", None)
        await until(lambda: worker._wait_task is None or worker._wait_task.done())
        store.gate.set()  # the short reply arrives after the wake-up
        assert await second.result(timeout=10) == "second"
    finally:
        store.gate.set()
        await worker.close(grace=1)
        await running
        await queue.close_events()
        await store.close()
