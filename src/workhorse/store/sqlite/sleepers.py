"""The embedded store's sleepers: a worker waiting for jobs and a blocking event
reader.  Both register a :class:`~workhorse.store.sqlite.wake.Listener` for their
queue before they first look, so a change committed after the look always pokes
them, and they sleep in the event loop's selector, not in a polling loop."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from workhorse.errors import StoreUnavailable
from workhorse.store.base import Event, EventReader, Waiter
from workhorse.store.sqlite.wake import POLL_INTERVAL, WAKE_EVENTS, Listener

if TYPE_CHECKING:
    from workhorse.store.sqlite.store import SqliteStore


class _Registration:
    """A listener registered in the database for one queue (created lazily)."""

    def __init__(self, store: SqliteStore, queue: str, kind: str) -> None:
        self.store = store
        self.queue = queue
        self.kind = kind
        self.listener: Listener | None = None
        self.registered = False
        self.closed = False

    async def register(self) -> None:
        self.registered = True
        self.listener = Listener.create()
        if self.listener is not None:
            await self.store._register_listener(self.queue, self.kind, self.listener.address)

    async def sleep(self, timeout: float) -> list[bytes]:
        if self.listener is None:
            await asyncio.sleep(min(timeout, POLL_INTERVAL))
            return [WAKE_EVENTS]
        return await self.listener.wait(timeout)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.listener is not None:
            self.listener.close()
            with contextlib.suppress(StoreUnavailable, RuntimeError):
                await self.store._forget_listener(self.listener.address)


class SqliteWaiter(Waiter):
    """Returns when the queue may have work: poked after a commit that made jobs
    ready, when the earliest delayed job falls due, or after the timeout."""

    def __init__(self, store: SqliteStore, queue: str) -> None:
        self._reg = _Registration(store, queue, "w")
        self._store = store
        self._queue = queue

    async def wait(self, timeout: float) -> None:
        reg = self._reg
        if reg.closed:
            return
        if not reg.registered:
            # Registered from now on; the caller looks for work once more before
            # sleeping, so nothing committed in between is missed.
            await reg.register()
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        due = await self._store._next_due(self._queue)
        while not reg.closed:
            now = self._store.clock()
            if due is not None and due <= now:
                return
            remaining = deadline - loop.time()
            if due is not None:
                remaining = min(remaining, (due - now) / 1000)
            if remaining <= 0:
                return
            for message in await reg.sleep(remaining):
                if not message.startswith(b"d"):
                    return
                at = int(message[1:])
                due = at if due is None else min(due, at)

    async def close(self) -> None:
        await self._reg.close()


class SqliteEventReader(EventReader):
    def __init__(self, store: SqliteStore, queue: str) -> None:
        self._reg = _Registration(store, queue, "e")
        self._store = store
        self._queue = queue

    async def read(self, after: str, block_ms: int, count: int = 500) -> list[Event]:
        reg = self._reg
        if reg.closed:
            return []
        if not reg.registered:
            await reg.register()
        if after == "$":
            after = await self._store.last_event_position(self._queue)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(block_ms, 1) / 1000
        while not reg.closed:
            events = await self._store.read_events(self._queue, after, count)
            if events:
                return events
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await reg.sleep(remaining)
        return []

    async def close(self) -> None:
        await self._reg.close()
