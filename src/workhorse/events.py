"""Following a queue's event stream, and in-process hooks.

Every state change writes an event to the queue's durable, trimmed stream in the same
atomic step; any process can follow it from a position.  :class:`QueueEvents` runs one
reader per queue and fans events out to hooks and to callers waiting for a job to
finish, so waiting for many jobs costs one blocking read, not one per job.
:class:`EventHooks` does the same for many queues, with hooks per queue or global.

Two kinds of callbacks, both isolated (a failure is logged, never reaches the reader,
the job or the worker):

* **hooks** (``on``): async callables, each call in a task of its own, so a slow
  hook (a webhook, a log shipper) never holds up the reader;
* **listeners** (``listen``): plain functions called inline, in order, for cheap
  bookkeeping on every event (metrics counters), without a task per event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from workhorse.errors import StoreUnavailable
from workhorse.store.base import Event, EventReader, Store

log = logging.getLogger("workhorse.events")

EventHook = Callable[[Event], Awaitable[Any]]
Listener = Callable[[Event], None]

#: The events the stores write (``"*"`` in ``on``: all of them).
EVENT_NAMES = frozenset(
    {
        "added",
        "active",
        "progress",
        "log",
        "completed",
        "failed",
        "retrying",
        "stalled",
        "deadlettered",
        "waiting",
        "delayed",
        "removed",
        "cancelling",
        "updated",
        "paused",
        "resumed",
        "drained",
        "ratelimited",
    }
)


def check_event_name(event: str) -> None:
    if event != "*" and event not in EVENT_NAMES:
        raise ValueError(f"unknown event {event!r}; use '*' or one of {sorted(EVENT_NAMES)}")


async def follow(
    store: Store,
    queue: str,
    after: str = "$",
    block_ms: int = 1_000,
    reader: EventReader | None = None,
) -> AsyncIterator[Event]:
    """Yield the queue's events after position ``after`` forever (``"$"``: new ones,
    ``"0"``: everything still in the stream).  Survives store outages by retrying.

    A cancelled consumer stops within ``block_ms``; pass a ``reader`` and close it to
    stop at once."""
    if after == "$":
        after = await store.last_event_position(queue)
    own = reader is None
    source = store.event_reader(queue) if reader is None else reader
    try:
        while True:
            try:
                batch = await source.read(after, block_ms)
            except StoreUnavailable as exc:
                _stop_if_cancelled()
                log.warning("event reader for %s: %s; retrying", queue, exc)
                await asyncio.sleep(1.0)
                continue
            _stop_if_cancelled()
            for event in batch:
                after = event.position
                yield event
    finally:
        if own:
            await source.close()


class Followers:
    """Tasks that follow queues' event streams, each on a reader of its own, for a
    component of a long-running process (live progress, the dashboard's feed, an
    audit recorder).  :meth:`close` stops them at once: closing a reader interrupts
    its blocking read."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []
        self._readers: list[EventReader] = []

    def follow(
        self,
        store: Store,
        queue: str,
        after: str,
        handle: Callable[[Event], Awaitable[None]],
        name: str = "workhorse-follow",
    ) -> None:
        """Call ``await handle(event)`` for each of ``queue``'s events after
        ``after``, in order, until closed."""
        reader = store.event_reader(queue)
        self._readers.append(reader)
        self._tasks.append(
            asyncio.create_task(self._run(store, queue, after, reader, handle), name=name)
        )

    @staticmethod
    async def _run(
        store: Store,
        queue: str,
        after: str,
        reader: EventReader,
        handle: Callable[[Event], Awaitable[None]],
    ) -> None:
        async for event in follow(store, queue, after, 5_000, reader):
            await handle(event)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for reader in self._readers:
            await reader.close()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._readers.clear()


def _stop_if_cancelled() -> None:
    """redis-py may turn a cancellation that lands on a blocking read into an empty
    result or a timeout; a reader asked to stop must stop, not read again."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def call_hook(hook: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """Run a hook in isolation: its failure is logged, never propagated."""
    try:
        await hook(*args)
    except Exception:
        log.exception("hook %r failed", getattr(hook, "__qualname__", hook))


class QueueEvents:
    """One reader of a queue's events with hooks (``on``) and job-finish waiters."""

    def __init__(self, store: Store, queue: str) -> None:
        self.store = store
        self.queue = queue
        self._hooks: dict[str, list[EventHook]] = {}
        self._listeners: list[Listener] = []
        self._finish: dict[str, list[asyncio.Future[Event]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._reader: EventReader | None = None
        self._hook_tasks: set[asyncio.Task[None]] = set()
        self._ready = asyncio.Event()

    def on(self, event: str, hook: EventHook) -> None:
        """Call ``hook(event)`` for every event of that name (``"*"``: all events)."""
        self._hooks.setdefault(event, []).append(hook)
        self._ensure_running()

    def listen(self, listener: Listener) -> None:
        """Call ``listener(event)`` for every event, inline in the reader (keep it
        cheap and non-blocking)."""
        self._listeners.append(listener)
        self._ensure_running()

    async def start(self) -> None:
        """Start reading; returns once positioned, so later events are not missed."""
        self._ensure_running()
        await self._ready.wait()

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._ready.clear()
            self._task = asyncio.create_task(self._run(), name=f"workhorse-events-{self.queue}")

    async def wait_finish_event(self, job_id: str) -> asyncio.Future[Event]:
        """A future resolved with the job's next ``completed`` or ``failed`` event.
        Registered before returning, so check the job's state after calling this."""
        await self.start()
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._finish.setdefault(job_id, []).append(fut)
        return fut

    def forget(self, job_id: str, fut: asyncio.Future[Event]) -> None:
        waiters = self._finish.get(job_id)
        if waiters and fut in waiters:
            waiters.remove(fut)
            if not waiters:
                del self._finish[job_id]

    async def _run(self) -> None:
        after = await self.store.last_event_position(self.queue)
        self._reader = self.store.event_reader(self.queue)
        self._ready.set()
        async for event in follow(self.store, self.queue, after, 5_000, self._reader):
            self._dispatch(event)

    def _dispatch(self, event: Event) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("event listener %r failed", getattr(listener, "__qualname__", ""))
        if event.event in ("completed", "failed"):
            for fut in self._finish.pop(event.job_id, ()):
                if not fut.done():
                    fut.set_result(event)
        for hook in (*self._hooks.get(event.event, ()), *self._hooks.get("*", ())):
            task = asyncio.create_task(call_hook(hook, event))
            self._hook_tasks.add(task)
            task.add_done_callback(self._hook_tasks.discard)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            if self._reader is not None:
                await self._reader.close()  # interrupts the blocking read at once
                self._reader = None
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._hook_tasks:
            await asyncio.wait(set(self._hook_tasks), timeout=5)


class EventHooks:
    """Hooks and listeners on the events of several queues of one store: one
    :class:`QueueEvents` (one reader) per queue.  A hook or listener is registered
    for one queue or, with ``queue=None``, for all of them::

        hooks = EventHooks(store, ["exports", "emails"])
        hooks.on("deadlettered", page_someone)               # every queue
        hooks.on("completed", log_export, queue="exports")   # one queue
        await hooks.start()
        ...
        await hooks.close()
    """

    def __init__(self, store: Store, queues: Iterable[str]) -> None:
        self.store = store
        self._queues = {name: QueueEvents(store, name) for name in dict.fromkeys(queues)}

    @property
    def queues(self) -> list[str]:
        return list(self._queues)

    def _targets(self, queue: str | None) -> list[QueueEvents]:
        if queue is None:
            return list(self._queues.values())
        if queue not in self._queues:
            raise ValueError(f"unknown queue {queue!r}; hooks follow {sorted(self._queues)}")
        return [self._queues[queue]]

    def on(self, event: str, hook: EventHook, queue: str | None = None) -> None:
        """Call the async ``hook(event)`` for every event of that name (``"*"``: all)."""
        check_event_name(event)
        for target in self._targets(queue):
            target.on(event, hook)

    def listen(self, listener: Listener, queue: str | None = None) -> None:
        """Call ``listener(event)`` inline for every event (see the module doc)."""
        for target in self._targets(queue):
            target.listen(listener)

    async def start(self) -> None:
        """Start every reader; returns once all are positioned (no later event is
        missed)."""
        await asyncio.gather(*(q.start() for q in self._queues.values()))

    async def close(self) -> None:
        await asyncio.gather(*(q.close() for q in self._queues.values()))
