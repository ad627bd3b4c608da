"""Event hooks over several queues: per queue or global, fed by workers of any
process, and isolated (a failing hook or listener never breaks a job, a worker or
the other hooks)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from workhorse import Queue, Worker
from workhorse.events import EventHooks
from workhorse.job import Job
from workhorse.store.base import Event, Store


class Seen:
    """Records events and lets the test await one by (queue, event, job id)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._waiters: dict[tuple[str, str, str], asyncio.Future[Event]] = {}

    async def hook(self, event: Event) -> None:
        self.events.append(event)
        fut = self._waiters.get((event.queue, event.event, event.job_id))
        if fut is not None and not fut.done():
            fut.set_result(event)

    def expect(self, event: str, job: Job) -> asyncio.Future[Event]:
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._waiters[(job.queue_name, event, job.id)] = fut
        return fut

    def names(self, queue: str | None = None) -> list[tuple[str, str]]:
        return [(e.queue, e.event) for e in self.events if queue in (None, e.queue)]


@pytest.fixture
async def other(make_store: Callable[..., Store]) -> AsyncIterator[Store]:
    """The store as another process sees it: the workers run on this one."""
    s = make_store()
    yield s
    await s.close()


async def run_burst(store: Store, queue: str, handler: Callable[[Job], Any]) -> None:
    await Worker(Queue(queue, store), handler, stalled_interval=0.2).run(burst=True)


async def test_global_and_per_queue_hooks_see_another_process_workers(
    store: Store, other: Store
) -> None:
    everything, exports_only = Seen(), Seen()
    hooks = EventHooks(store, ["exports", "emails"])
    hooks.on("completed", everything.hook)
    hooks.on("completed", exports_only.hook, queue="exports")
    await hooks.start()
    try:
        export = await Queue("exports", store).add("export", {"n": 1})
        email = await Queue("emails", store).add("send", {"n": 2})
        got_export = everything.expect("completed", export)
        got_email = everything.expect("completed", email)

        async def work(job: Job) -> int:
            return int(job.data["n"])

        await run_burst(other, "exports", work)
        await run_burst(other, "emails", work)
        await asyncio.wait_for(asyncio.gather(got_export, got_email), 10)
        assert sorted(everything.names()) == [("emails", "completed"), ("exports", "completed")]
        assert exports_only.names() == [("exports", "completed")]
        assert (await got_export).fields["result"] == "1"
    finally:
        await hooks.close()


async def test_hooks_for_failed_progress_deadlettered_and_stalled(
    store: Store, other: Store
) -> None:
    seen = Seen()
    hooks = EventHooks(store, ["q"])
    for name in ("failed", "progress", "deadlettered", "stalled"):
        hooks.on(name, seen.hook)
    await hooks.start()
    try:
        queue = Queue("q", store)
        bad = await queue.add("bad", None, attempts=1)
        dead = seen.expect("deadlettered", bad)

        async def handler(job: Job) -> None:
            await job.update_progress(40)
            raise RuntimeError("broken")

        await run_burst(other, "q", handler)
        assert (await asyncio.wait_for(dead, 10)).fields["error"] == "broken"
        # A job whose worker died: taken with a lock that is already expired.
        lost = await queue.add("lost", None)
        stalled = seen.expect("stalled", lost)
        await other.fetch("q", "dead-worker", [], 1, 0)
        await other.recover_stalled("q", max_stalled=1)
        await asyncio.wait_for(stalled, 10)
        kinds = [name for _, name in seen.names("q")]
        assert kinds == ["progress", "failed", "deadlettered", "stalled"]
    finally:
        await hooks.close()


async def test_a_failing_hook_or_listener_breaks_nothing(
    store: Store, other: Store, caplog: pytest.LogCaptureFixture
) -> None:
    seen = Seen()
    listened: list[str] = []
    hooks = EventHooks(store, ["q"])

    async def broken_hook(event: Event) -> None:
        raise RuntimeError("hook bug")

    def broken_listener(event: Event) -> None:
        raise ValueError("listener bug")

    hooks.on("*", broken_hook)
    hooks.listen(broken_listener)
    hooks.listen(lambda e: listened.append(e.event))
    hooks.on("completed", seen.hook)
    await hooks.start()
    try:
        queue = Queue("q", store)
        first = await queue.add("one", None)
        second = await queue.add("two", None)
        done = [seen.expect("completed", first), seen.expect("completed", second)]
        with caplog.at_level(logging.ERROR, logger="workhorse.events"):
            await run_burst(other, "q", lambda job: job.name)
            await asyncio.wait_for(asyncio.gather(*done), 10)
        assert [(await f).fields["result"] for f in done] == ['"one"', '"two"']
        assert listened.count("completed") == 2
        messages = " ".join(r.getMessage() for r in caplog.records)
        assert "broken_hook" in messages and "listener" in messages
        for job in (first, second):
            finished = await queue.get_job(job.id)
            assert finished is not None and finished.returnvalue == job.name
    finally:
        await hooks.close()


def test_unknown_event_or_queue_is_a_clear_error(store: Store) -> None:
    hooks = EventHooks(store, ["q"])

    async def hook(event: Event) -> None:
        return None

    with pytest.raises(ValueError, match=r"unknown event 'dead-letter'.*deadlettered"):
        hooks.on("dead-letter", hook)
    with pytest.raises(ValueError, match=r"unknown queue 'nope'.*\['q'\]"):
        hooks.on("completed", hook, queue="nope")
