"""Live updates of the dashboard, pushed over Server-Sent Events.

One :class:`LiveFeed` per API process follows each queue's event stream once (one
reader per queue, whatever the number of open pages) and hands every subscriber:

- ``job`` frames, one per job event (``{queue, id, event, ...}``: the progress, a
  new log line, the failure reason), which update the open job and the list;
- ``queue`` frames with the queue's fresh summary (counts, paused, throughput ...),
  computed once per burst of events (``DEBOUNCE_S``) for all subscribers.

Every frame has an id; the feed keeps the last ``REPLAY`` frames so a browser that
reconnects (``EventSource`` sends ``Last-Event-ID``) gets what it missed.  When that
is too old, or the server restarted, it gets a ``resync`` frame and reloads its
parts.  Streams end after ``STREAM_S`` (the browser reconnects at once, missing
nothing), so a server that shuts down never waits long for a dashboard tab.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson

from workhorse.events import Followers
from workhorse.queue import Queue
from workhorse.store.base import Event

log = logging.getLogger("workhorse.dashboard")

DEBOUNCE_S = 0.25
REPLAY = 2000
INBOX = 5000
STREAM_S = 60.0
KEEPALIVE_S = 15.0
#: How long after the last page left summaries are still made (a page reconnecting).
GAP_S = 10.0
#: Events that change no count: they update the open job only.
_IN_PLACE = frozenset({"progress", "log", "ratelimited", "updated"})

Summarize = Callable[[Queue], Awaitable[dict[str, Any]]]


@dataclass(eq=False, slots=True)
class Subscriber:
    inbox: asyncio.Queue[tuple[int, str]] = field(
        default_factory=lambda: asyncio.Queue(maxsize=INBOX)
    )
    #: Set when the inbox overflowed: the stream ends and the browser resyncs.
    lost: bool = False


def job_frame(event: Event) -> dict[str, Any]:
    """What a page needs of one job event."""
    out: dict[str, Any] = {"queue": event.queue, "id": event.job_id, "event": event.event}
    f = event.fields
    if event.event == "progress" and f.get("data"):
        out["progress"] = orjson.loads(f["data"])
    elif event.event == "log":
        out["line"] = f.get("line", "")
    elif "error" in f:
        out["error"] = f["error"]
    if "state" in f:
        out["state"] = f["state"]
    return out


class LiveFeed:
    def __init__(self, queues: list[Queue], summarize: Summarize) -> None:
        self.queues = queues
        self.summarize = summarize
        #: Identifies this feed's frame ids: ids of another process or run mean resync.
        self.epoch = secrets.token_hex(4)
        self._seq = 0
        self._recent: deque[tuple[int, str]] = deque(maxlen=REPLAY)
        self._subscribers: set[Subscriber] = set()
        self._pending: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()  # summaries being made
        self._followers = Followers()
        self._last_seen = float("-inf")

    async def start(self) -> None:
        """Start following; returns once positioned, so no later event is missed."""
        for queue in self.queues:
            store = queue.store
            after = await store.last_event_position(queue.name)
            self._followers.follow(store, queue.name, after, partial(self._on_event, queue))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        await self._followers.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _on_event(self, queue: Queue, event: Event) -> None:
        # Frames are cheap and kept for replay, so a page that is reconnecting
        # (no subscriber for a moment) misses nothing; summaries read the store,
        # so they are only made while someone watches or just did.
        if event.job_id:
            self._publish("job", job_frame(event))
        if event.event not in _IN_PLACE and self._watched():
            self._recount(queue)

    def _watched(self) -> bool:
        loop = asyncio.get_running_loop()
        return bool(self._subscribers) or loop.time() - self._last_seen < GAP_S

    def _recount(self, queue: Queue) -> None:
        if queue.name in self._pending:
            return
        self._pending.add(queue.name)
        self._spawn(self._send_summary(queue))

    async def _send_summary(self, queue: Queue) -> None:
        await asyncio.sleep(DEBOUNCE_S)  # one summary for a burst of events
        self._pending.discard(queue.name)
        try:
            summary = await self.summarize(queue)
        except Exception:
            log.exception("dashboard: summarizing %s failed", queue.name)
            return
        self._publish("queue", summary)

    def _publish(self, kind: str, payload: dict[str, Any]) -> None:
        self._seq += 1
        frame = (
            f"id: {self.epoch}-{self._seq}\nevent: {kind}\n"
            f"data: {orjson.dumps(payload).decode()}\n\n"
        )
        item = (self._seq, frame)
        self._recent.append(item)
        for sub in self._subscribers:
            try:
                sub.inbox.put_nowait(item)
            except asyncio.QueueFull:
                sub.lost = True

    def position(self) -> str:
        """The id of the latest frame: a page rendered now passes it when it connects,
        so nothing between the render and the connection is missed."""
        return f"{self.epoch}-{self._seq}"

    def missed(self, last_id: str | None) -> list[str] | None:
        """Frames after ``last_id`` (none given: none missed); None when they are no
        longer kept (another process's id, a restart, or too old)."""
        if not last_id:
            return []
        epoch, _, seq = last_id.partition("-")
        if epoch != self.epoch or not seq.isdigit():
            return None
        after = int(seq)
        if self._recent and self._recent[0][0] > after + 1:
            return None
        return [frame for n, frame in self._recent if n > after]

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[Subscriber]:
        sub = Subscriber()
        self._subscribers.add(sub)
        try:
            yield sub
        finally:
            self._subscribers.discard(sub)
            self._last_seen = asyncio.get_running_loop().time()

    async def stream(self, last_id: str | None) -> AsyncIterator[str]:
        """The frames of one SSE connection, for at most ``STREAM_S`` seconds."""
        with self.subscribe() as sub:
            # Taken together with subscribing (no await in between): the replay ends
            # exactly where the inbox starts.
            missed = self.missed(last_id)
            head = f"id: {self.epoch}-{self._seq}\n"
            yield "retry: 1000\n\n"
            if missed is None:
                yield head + "event: resync\ndata: {}\n\n"
            for frame in missed or ():
                yield frame
            # An id without data: the browser now reconnects from here, even when
            # no event comes before this stream ends.
            yield head + "\n"
            async for frame in _frames(sub):
                yield frame


async def _frames(sub: Subscriber) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    ends = loop.time() + STREAM_S
    while not sub.lost and (left := ends - loop.time()) > 0:
        try:
            _, frame = await asyncio.wait_for(sub.inbox.get(), min(KEEPALIVE_S, left))
        except TimeoutError:
            yield ": keep-alive\n\n"
            continue
        yield frame
