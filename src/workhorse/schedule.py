"""Schedules: repeatable jobs by cron pattern (with a time zone) or fixed interval.

    await upsert_schedule(store, Schedule("nightly-sessions", "recurring-sessions",
                                          "generate", cron="0 2 * * *", tz="Europe/Paris"))
    await Scheduler(store).run()        # in one or more processes

A schedule is stored under a stable ``key``: upserting the same definition again
changes nothing, so every process may upsert its schedules at start-up and one
schedule results; a changed definition replaces the stored one (and its next tick).

:class:`Scheduler` enqueues each due tick as a job whose id is derived from the key
and the tick time (``sched:<key>:<tick ms>``), so two schedulers never enqueue one
tick twice (the second add finds the id), then moves the schedule to its next tick
-- the first tick after *now*: a scheduler that was down for a while runs a missed
schedule once, not once per missed tick.  The two steps are separate (the schedules
and the queue may live on different Redis Cluster nodes); each is idempotent, so a
scheduler dying between them only leaves the next one to repeat both harmlessly --
unless the tick's job already finished and was removed by its retention meanwhile.

Operators may :func:`trigger_schedule` (enqueue one job now, leaving the next tick
alone), :func:`pause_schedule` and :func:`resume_schedule`.  A paused schedule has no
next tick; upserting its definition again, even a changed one, keeps it paused, so a
deployment does not undo an operator's pause.  Resuming starts from now: the ticks
missed while paused are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from croniter import croniter  # type: ignore[import-untyped]

from workhorse.options import JobOptions
from workhorse.queue import Queue
from workhorse.store.base import (
    SCHEDULE_PAUSED,
    NewJob,
    Store,
    StoredSchedule,
    check_queue_name,
)

_MAX_KEY = 200


@dataclass(frozen=True, slots=True)
class Schedule:
    """A repeatable job: exactly one of ``cron`` (a 5-field pattern read in time zone
    ``tz``) or ``every`` (seconds).  ``options`` apply to every job it enqueues
    (``delay`` and ``job_id`` are not allowed: the schedule sets the time and id)."""

    key: str
    queue: str
    name: str
    data: Any = None
    cron: str | None = None
    tz: str = "UTC"
    every: float | None = None
    options: JobOptions | None = None


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    """A stored schedule; ``next_at`` is its next tick (epoch ms), None when paused."""

    key: str
    queue: str
    name: str
    data: Any
    cron: str | None
    tz: str
    every: float | None
    next_at: int | None
    paused: bool = False


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"tz: unknown time zone {tz!r} ({exc})") from None


def _next_cron(pattern: str, tz: str, after_ms: int) -> int:
    start = datetime.fromtimestamp(after_ms / 1000, _zone(tz))
    return round(float(croniter(pattern, start).get_next(float)) * 1000)


def _check(schedule: Schedule) -> None:
    key = schedule.key
    if not isinstance(key, str) or not key or len(key) > _MAX_KEY or "\n" in key:
        raise ValueError(f"key must be a non-empty string of at most {_MAX_KEY} characters")
    check_queue_name(schedule.queue)
    if (schedule.cron is None) == (schedule.every is None):
        raise ValueError("give exactly one of cron (a pattern) or every (seconds)")
    if schedule.every is not None:
        every = schedule.every
        if isinstance(every, bool) or not isinstance(every, int | float) or every < 0.001:
            raise ValueError(f"every must be a number of seconds >= 0.001, got {every!r}")
    else:
        _zone(schedule.tz)
        try:
            croniter(schedule.cron)
        except Exception as exc:  # croniter raises several types; its message says why
            raise ValueError(f"cron: invalid pattern {schedule.cron!r}: {exc}") from None
    opts = schedule.options
    if opts is not None and (opts.delay or opts.job_id):
        raise ValueError("options: delay and job_id cannot be set on a schedule")


def _spec(store: Store, schedule: Schedule) -> dict[str, Any]:
    queue = Queue(schedule.queue, store)
    job = queue._new_job(schedule.name, schedule.data, schedule.options or JobOptions())
    return {
        "queue": schedule.queue,
        "name": job.name,
        "data": job.data.decode(),
        "opts": job.opts.decode(),
        "priority": job.priority,
        "owner": job.owner,
        "tags": job.tags.decode(),
        "meta": job.meta.decode(),
        "kc": job.keep_completed,
        "kf": job.keep_failed,
        "group": job.group,
        "cron": schedule.cron,
        "tz": schedule.tz,
        "every_ms": None if schedule.every is None else round(schedule.every * 1000),
    }


def _next_tick(spec: dict[str, Any], after_ms: int, last_tick: int | None = None) -> int:
    """The first tick after ``after_ms`` (interval ticks stay on the grid of
    ``last_tick``)."""
    every = spec["every_ms"]
    if every is None:
        return _next_cron(spec["cron"], spec["tz"], after_ms)
    if last_tick is None:
        return after_ms + int(every)
    return int(last_tick + ((after_ms - last_tick) // every + 1) * every)


async def upsert_schedule(store: Store, schedule: Schedule) -> bool:
    """Create or update the schedule under its key (see the module doc).  Invalid
    definitions raise ``ValueError`` naming the field; nothing is stored then.
    Returns True when the stored schedule was created or changed."""
    _check(schedule)
    spec = _spec(store, schedule)
    raw = orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)
    return await store.upsert_schedule(schedule.key, raw, _next_tick(spec, store.clock()))


async def list_schedules(store: Store) -> list[ScheduleInfo]:
    return [_info(s) for s in await store.schedules()]


async def get_schedule(store: Store, key: str) -> ScheduleInfo | None:
    return next((s for s in await list_schedules(store) if s.key == key), None)


async def remove_schedule(store: Store, key: str) -> bool:
    return await store.remove_schedule(key)


async def _stored(store: Store, key: str) -> StoredSchedule | None:
    return next((s for s in await store.schedules() if s.key == key), None)


async def trigger_schedule(store: Store, key: str) -> str | None:
    """Enqueue one job of the schedule now (id ``sched:<key>:now:<ms>``), paused or
    not; its next tick does not move.  Returns the job id (None: no such schedule)."""
    stored = await _stored(store, key)
    if stored is None:
        return None
    spec = orjson.loads(stored.spec)
    ((job_id, _),) = await store.add(
        spec["queue"], [_job(spec, f"sched:{key}:now:{store.clock()}")]
    )
    return job_id


async def pause_schedule(store: Store, key: str) -> bool:
    """Stop enqueuing the schedule's ticks until :func:`resume_schedule`.  Returns
    False when there is no such schedule."""
    while (stored := await _stored(store, key)) is not None:
        if stored.paused or await store.advance_schedule(key, stored.next_at, SCHEDULE_PAUSED):
            return True
        # A scheduler moved the tick between the read and the move: read it again.
    return False


async def resume_schedule(store: Store, key: str) -> bool:
    """Give a paused schedule its first tick after now again (ticks missed while
    paused are skipped).  Returns False when there is no such schedule."""
    while (stored := await _stored(store, key)) is not None:
        if not stored.paused:
            return True
        spec = orjson.loads(stored.spec)
        if await store.advance_schedule(key, stored.next_at, _next_tick(spec, store.clock())):
            return True
    return False


def _info(stored: StoredSchedule) -> ScheduleInfo:
    spec = orjson.loads(stored.spec)
    every = spec["every_ms"]
    return ScheduleInfo(
        key=stored.key,
        queue=spec["queue"],
        name=spec["name"],
        data=orjson.loads(spec["data"]),
        cron=spec["cron"],
        tz=spec["tz"],
        every=None if every is None else every / 1000,
        next_at=None if stored.paused else stored.next_at,
        paused=stored.paused,
    )


class Scheduler:
    """Enqueues due ticks of every schedule in the store.  Run one or several (they
    never enqueue a tick twice).  ``poll`` bounds how long a new or changed schedule
    waits to be noticed."""

    def __init__(self, store: Store, poll: float = 1.0, batch: int = 100) -> None:
        self.store = store
        self.poll = poll
        self.batch = batch
        self._closing = asyncio.Event()

    async def run_once(self) -> int:
        """Enqueue the ticks due now; returns how many jobs this call added.  Each
        tick's job is added and its schedule advanced in one atomic step
        (:meth:`Store.fire_schedule`), so a scheduler that dies never leaves a tick
        to be run again, and two schedulers never both fire it."""
        added = 0
        now = self.store.clock()
        for stored in await self.store.due_schedules(now, self.batch):
            spec = orjson.loads(stored.spec)
            tick = stored.next_at
            job = _job(spec, f"sched:{stored.key}:{tick}")
            nxt = _next_tick(spec, max(now, tick), tick)
            fired = await self.store.fire_schedule(stored.key, tick, nxt, spec["queue"], job)
            added += bool(fired and fired[1])
        return added

    async def run(self) -> None:
        """Enqueue due ticks until :meth:`close`."""
        while not self._closing.is_set():
            await self.run_once()
            wait = self.poll
            upcoming = await self.store.schedules()
            if upcoming:
                wait = min(wait, max(upcoming[0].next_at - self.store.clock(), 0) / 1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), wait)

    async def close(self) -> None:
        self._closing.set()


def _job(spec: dict[str, Any], job_id: str) -> NewJob:
    return NewJob(
        name=spec["name"],
        data=spec["data"].encode(),
        opts=spec["opts"].encode(),
        job_id=job_id,
        priority=spec["priority"],
        owner=spec["owner"],
        tags=spec["tags"].encode(),
        meta=spec["meta"].encode(),
        keep_completed=spec["kc"],
        keep_failed=spec["kf"],
        group=spec["group"],
    )
