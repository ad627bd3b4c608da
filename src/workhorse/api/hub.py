"""Fan-out of job progress from the store's event streams to connected clients.

Each API process follows every registry queue's event stream itself (from any
number of workers, on any machine) and hands each update, with the job's owner, to
its sinks (Socket.IO rooms, SSE streams).  Nothing here polls job records: the
owner of a job is read once, on its first event, and cached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from workhorse.api.progress import FINAL, from_event
from workhorse.app.service import QueueService
from workhorse.events import Followers
from workhorse.store.base import Event

log = logging.getLogger("workhorse.api.live")


@dataclass(frozen=True, slots=True)
class JobUpdate:
    queue: str
    job_id: str
    owner: str | None
    payload: dict[str, Any]


Sink = Callable[[JobUpdate], Awaitable[None]]


class ProgressHub:
    """Follows the service's queues and calls the sinks with each :class:`JobUpdate`."""

    def __init__(self, service: QueueService, owner_cache: int = 10_000) -> None:
        self.service = service
        self._sinks: list[Sink] = []
        self._owners: OrderedDict[tuple[str, str], str | None] = OrderedDict()
        self._owner_cache = owner_cache
        self._watchers: dict[tuple[str, str], set[asyncio.Queue[JobUpdate]]] = {}
        self._followers = Followers()

    def add_sink(self, sink: Sink) -> None:
        self._sinks.append(sink)

    async def start(self) -> None:
        """Start following; returns once positioned, so no later event is missed."""
        store = self.service.store
        for queue in self.service.queues:
            after = await store.last_event_position(queue.name)
            self._followers.follow(store, queue.name, after, self._handle, name="wh-live")

    async def close(self) -> None:
        await self._followers.close()

    async def _handle(self, event: Event) -> None:
        try:
            await self._dispatch(event)
        except Exception:
            log.exception("live progress: dispatching %s failed", event)

    async def _dispatch(self, event: Event) -> None:
        key = (event.queue, event.job_id)
        if event.event == "removed":
            self._owners.pop(key, None)
            return
        payload = from_event(event)
        if payload is None:
            return
        update = JobUpdate(event.queue, event.job_id, await self._owner(key), payload)
        for watcher in self._watchers.get(key, ()):
            watcher.put_nowait(update)
        for sink in self._sinks:
            await sink(update)

    async def _owner(self, key: tuple[str, str]) -> str | None:
        if key in self._owners:
            self._owners.move_to_end(key)
            return self._owners[key]
        job = await self.service.store.get_job(*key)
        owner = job.owner if job is not None else None
        self._owners[key] = owner
        if len(self._owners) > self._owner_cache:
            self._owners.popitem(last=False)
        return owner

    @contextlib.asynccontextmanager
    async def watch(self, queue: str, job_id: str) -> AsyncIterator[asyncio.Queue[JobUpdate]]:
        """Updates of one job, from now on, while the context is open (register first,
        then read the current state, so nothing falls in between)."""
        inbox: asyncio.Queue[JobUpdate] = asyncio.Queue()
        key = (queue, job_id)
        self._watchers.setdefault(key, set()).add(inbox)
        try:
            yield inbox
        finally:
            watchers = self._watchers.get(key)
            if watchers is not None:
                watchers.discard(inbox)
                if not watchers:
                    del self._watchers[key]


def is_final(payload: dict[str, Any]) -> bool:
    return payload.get("status") in FINAL
