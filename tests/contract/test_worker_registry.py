"""The worker registry: workers heartbeat into the store; any process lists the live
ones; a worker that stops heartbeating drops out after its ttl."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable
from typing import Any

from tests.clocks import FakeClock
from workhorse import Queue, Worker
from workhorse.job import Job
from workhorse.store.base import Store, WorkerInfo


def info(worker_id: str, **changes: Any) -> WorkerInfo:
    base = WorkerInfo(
        id=worker_id,
        host="box-1",
        pid=4242,
        queues=("exports", "emails"),
        concurrency=4,
        active=1,
        started_at=1_700_000_000_000,
        heartbeat_at=0,
    )
    return dataclasses.replace(base, **changes)


async def test_register_lists_the_worker_with_the_store_clock(
    clocked_store: tuple[Store, FakeClock],
) -> None:
    store, clock = clocked_store
    await store.register_worker(info("w1"), ttl_ms=10_000)
    [listed] = await store.workers()
    assert listed == info("w1", heartbeat_at=clock.now)


async def test_register_again_updates_in_place(clocked_store: tuple[Store, FakeClock]) -> None:
    store, clock = clocked_store
    await store.register_worker(info("w1"), ttl_ms=10_000)
    clock.advance(3)
    await store.register_worker(info("w1", active=3), ttl_ms=10_000)
    assert await store.workers() == [info("w1", active=3, heartbeat_at=clock.now)]


async def test_listed_by_id_and_unregister_removes_one(
    clocked_store: tuple[Store, FakeClock],
) -> None:
    store, _ = clocked_store
    for worker_id in ("w2", "w1", "w3"):
        await store.register_worker(info(worker_id), ttl_ms=10_000)
    assert [w.id for w in await store.workers()] == ["w1", "w2", "w3"]
    await store.unregister_worker("w2")
    await store.unregister_worker("never-registered")
    assert [w.id for w in await store.workers()] == ["w1", "w3"]


async def test_a_worker_whose_heartbeat_lapsed_is_not_live_and_is_pruned(
    clocked_store: tuple[Store, FakeClock], make_store: Callable[..., Store]
) -> None:
    store, clock = clocked_store
    await store.register_worker(info("short"), ttl_ms=1_000)
    await store.register_worker(info("long"), ttl_ms=60_000)
    clock.advance(0.5)
    assert [w.id for w in await store.workers()] == ["long", "short"]
    clock.advance(1)
    assert [w.id for w in await store.workers()] == ["long"]
    # Pruned, not hidden: a reader whose clock is behind no longer sees it either.
    other = make_store()
    try:
        assert [w.id for w in await other.workers()] == ["long"]
    finally:
        await other.close()
    # A heartbeat after the lapse brings it back.
    await store.register_worker(info("short"), ttl_ms=1_000)
    assert [w.id for w in await store.workers()] == ["long", "short"]


async def test_a_running_worker_is_registered_with_its_load_then_leaves_on_close(
    store: Store, make_store: Callable[..., Store]
) -> None:
    queue = Queue("registry", store)
    release = asyncio.Event()
    started = asyncio.Event()

    async def handler(job: Job) -> None:
        started.set()
        await release.wait()

    worker = Worker(queue, handler, concurrency=3, stalled_interval=0.05)
    runner = asyncio.create_task(worker.run())
    observer = make_store()  # another process's view of the same store
    try:
        await queue.add("hold", None)
        await asyncio.wait_for(started.wait(), 10)
        seen = await _until(observer, lambda ws: bool(ws) and ws[0].active == 1)
        [me] = seen
        assert me.id == worker.name
        assert me.queues == ("registry",)
        assert me.concurrency == 3
        assert me.pid == os.getpid()
        assert me.host == worker.host
        assert 0 < me.started_at <= me.heartbeat_at
        release.set()
        await _until(observer, lambda ws: bool(ws) and ws[0].active == 0)
        await worker.close()
        await runner
        assert await observer.workers() == []
    finally:
        release.set()
        await worker.close()
        await runner
        await observer.close()


async def _until(store: Store, ok: Callable[[list[WorkerInfo]], bool]) -> list[WorkerInfo]:
    """The registry once ``ok`` holds (workers heartbeat on a timer: no event to await)."""
    async with asyncio.timeout(10):
        while True:
            found = await store.workers()
            if ok(found):
                return found
            await asyncio.sleep(0.02)
