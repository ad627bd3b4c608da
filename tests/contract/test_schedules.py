"""Schedules: upsert by key, list, update, remove; the scheduler enqueues each tick once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.clocks import FakeClock
from workhorse import JobState, Queue
from workhorse.clock import now_ms
from workhorse.job import Job
from workhorse.options import JobOptions
from workhorse.schedule import (
    Schedule,
    Scheduler,
    get_schedule,
    list_schedules,
    pause_schedule,
    remove_schedule,
    resume_schedule,
    trigger_schedule,
    upsert_schedule,
)
from workhorse.store.base import Event, NewJob, Store

EVERY_MINUTE = Schedule("sync", "emails", "send-due", {"batch": 1}, every=60)


async def test_upsert_lists_and_is_idempotent_per_key(store: Store) -> None:
    assert await upsert_schedule(store, EVERY_MINUTE) is True
    assert await upsert_schedule(store, EVERY_MINUTE) is False
    (info,) = await list_schedules(store)
    assert (info.key, info.queue, info.name, info.data) == (
        "sync",
        "emails",
        "send-due",
        {"batch": 1},
    )
    assert info.every == 60 and info.cron is None
    assert 55_000 <= info.next_at - now_ms() <= 60_000


async def test_processes_starting_together_create_one_schedule(
    make_store: Callable[..., Store], store: Store
) -> None:
    stores = [make_store() for _ in range(4)]
    try:
        created = await asyncio.gather(*(upsert_schedule(s, EVERY_MINUTE) for s in stores))
        assert sum(created) >= 1
        schedules = await list_schedules(stores[0])
        assert [s.key for s in schedules] == ["sync"]
        # Later starts leave the schedule and its next tick alone.
        assert await upsert_schedule(stores[1], EVERY_MINUTE) is False
        assert (await list_schedules(stores[2]))[0].next_at == schedules[0].next_at
    finally:
        for s in stores:
            await s.close()


async def test_due_tick_is_enqueued_once_even_by_two_schedulers(
    clocked_store: tuple[Store, FakeClock], make_store: Callable[..., Store]
) -> None:
    store, clock = clocked_store
    other = make_store(clock=clock)
    try:
        await upsert_schedule(store, EVERY_MINUTE)
        assert await Scheduler(store).run_once() == 0  # not due yet
        clock.advance(60)
        added = await asyncio.gather(Scheduler(store).run_once(), Scheduler(other).run_once())
        assert sum(added) == 1
        assert await Scheduler(store).run_once() == 0
        queue = Queue("emails", store)
        (job,) = await queue.list_jobs(JobState.WAITING)
        assert job.name == "send-due" and job.data == {"batch": 1}
        assert job.id.startswith("sched:sync:")
        clock.advance(60)
        assert await Scheduler(other).run_once() == 1
        assert (await queue.counts())[JobState.WAITING] == 2
    finally:
        await other.close()


async def test_missed_ticks_after_downtime_run_once(clocked_store: tuple[Store, FakeClock]) -> None:
    store, clock = clocked_store
    await upsert_schedule(store, EVERY_MINUTE)
    first = (await list_schedules(store))[0].next_at
    clock.advance(10 * 60 + 1)  # ten ticks missed
    assert await Scheduler(store).run_once() == 1
    assert await Scheduler(store).run_once() == 0
    info = await get_schedule(store, "sync")
    assert info is not None
    assert info.next_at > clock.now
    assert (info.next_at - first) % 60_000 == 0  # still on the schedule's grid


async def test_update_changes_what_is_enqueued_and_remove_stops_it(
    clocked_store: tuple[Store, FakeClock],
) -> None:
    store, clock = clocked_store
    await upsert_schedule(store, EVERY_MINUTE)
    changed = Schedule(
        "sync", "emails", "send-due", {"batch": 2}, every=60, options=JobOptions(priority=1)
    )
    assert await upsert_schedule(store, changed) is True
    clock.advance(61)
    assert await Scheduler(store).run_once() == 1
    (job,) = await Queue("emails", store).list_jobs(JobState.PRIORITIZED)
    assert job.data == {"batch": 2}

    assert await remove_schedule(store, "sync") is True
    assert await remove_schedule(store, "sync") is False
    assert await list_schedules(store) == []
    clock.advance(120)
    assert await Scheduler(store).run_once() == 0


async def test_cron_pattern_in_a_time_zone(store: Store) -> None:
    schedule = Schedule("nightly", "sessions", "generate", cron="30 9 * * *", tz="Europe/Paris")
    await upsert_schedule(store, schedule)
    info = await get_schedule(store, "nightly")
    assert info is not None and info.cron == "30 9 * * *" and info.tz == "Europe/Paris"
    at = datetime.fromtimestamp(info.next_at / 1000, ZoneInfo("Europe/Paris"))
    assert (at.hour, at.minute, at.second) == (9, 30, 0)
    assert 0 < info.next_at - now_ms() <= 24 * 3600 * 1000


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (Schedule("k", "q", "n", cron="61 * * * *"), "cron: invalid pattern '61 \\* \\* \\* \\*'"),
        (Schedule("k", "q", "n", cron="not a pattern"), "cron: invalid pattern"),
        (Schedule("k", "q", "n", cron="* * * * *", tz="Mars/Olympus"), "tz: unknown time zone"),
        (Schedule("k", "q", "n"), "exactly one of cron"),
        (Schedule("k", "q", "n", cron="* * * * *", every=5), "exactly one of cron"),
        (Schedule("k", "q", "n", every=0), "every must be"),
        (Schedule("", "q", "n", every=5), "key must be"),
        (Schedule("k", "bad queue", "n", every=5), "queue name"),
        (Schedule("k", "q", "n", {1, 2}, every=5), "data must be JSON-serialisable"),
        (Schedule("k", "q", "n", every=5, options=JobOptions(delay=5)), "options: delay"),
    ],
)
async def test_invalid_schedule_is_refused_and_stores_nothing(
    store: Store, schedule: Schedule, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await upsert_schedule(store, schedule)
    assert await list_schedules(store) == []


async def test_scheduler_loop_enqueues_ticks_until_closed(store: Store) -> None:
    queue = Queue("ticks", store)
    added: list[Event] = []
    two = asyncio.Event()

    async def hook(event: Event) -> None:
        added.append(event)
        if len(added) >= 2:
            two.set()

    queue.events.on("added", hook)
    await queue.events.start()
    await upsert_schedule(store, Schedule("fast", "ticks", "tick", every=0.05))
    scheduler = Scheduler(store, poll=0.05)
    task = asyncio.create_task(scheduler.run())
    try:
        await asyncio.wait_for(two.wait(), 10)
    finally:
        await scheduler.close()
        await asyncio.wait_for(task, 10)
        await queue.close_events()
    assert len({e.job_id for e in added}) == len(added)
    assert all(e.job_id.startswith("sched:fast:") for e in added)


async def test_trigger_enqueues_one_job_now_and_keeps_the_next_tick(
    clocked_store: tuple[Store, FakeClock],
) -> None:
    store, clock = clocked_store
    await upsert_schedule(store, EVERY_MINUTE)
    before = await get_schedule(store, "sync")
    job_id = await trigger_schedule(store, "sync")
    assert job_id is not None and job_id.startswith("sched:sync:now:")
    job = await Queue("emails", store).get_job(job_id)
    assert job is not None
    assert (job.name, job.data, job.state) == ("send-due", {"batch": 1}, JobState.WAITING)
    assert await get_schedule(store, "sync") == before
    clock.advance(1)
    assert await trigger_schedule(store, "sync") != job_id  # each trigger is a new job
    assert await trigger_schedule(store, "missing") is None


async def test_paused_schedule_enqueues_nothing_until_resumed(
    clocked_store: tuple[Store, FakeClock],
) -> None:
    store, clock = clocked_store
    await upsert_schedule(store, EVERY_MINUTE)
    assert await pause_schedule(store, "sync") is True
    assert await pause_schedule(store, "sync") is True  # already paused: no change
    info = await get_schedule(store, "sync")
    assert info is not None and info.paused is True and info.next_at is None
    clock.advance(10 * 60)
    assert await Scheduler(store).run_once() == 0
    # A process starting with the same, or a changed, definition keeps it paused.
    assert await upsert_schedule(store, EVERY_MINUTE) is False
    changed = Schedule("sync", "emails", "send-due", {"batch": 3}, every=60)
    assert await upsert_schedule(store, changed) is True
    info = await get_schedule(store, "sync")
    assert info is not None and info.paused is True and info.data == {"batch": 3}
    clock.advance(60)
    assert await Scheduler(store).run_once() == 0

    assert await resume_schedule(store, "sync") is True
    info = await get_schedule(store, "sync")
    assert info is not None and info.paused is False
    assert info.next_at == clock.now + 60_000  # from now on: missed ticks are skipped
    clock.advance(60)
    assert await Scheduler(store).run_once() == 1
    (job,) = await Queue("emails", store).list_jobs(JobState.WAITING)
    assert job.data == {"batch": 3}
    assert await pause_schedule(store, "missing") is False
    assert await resume_schedule(store, "missing") is False


async def test_paused_cron_schedule_resumes_at_its_next_cron_time(store: Store) -> None:
    schedule = Schedule("nightly", "sessions", "generate", cron="30 9 * * *", tz="Europe/Paris")
    await upsert_schedule(store, schedule)
    await pause_schedule(store, "nightly")
    assert [s.paused for s in await list_schedules(store)] == [True]
    await resume_schedule(store, "nightly")
    info = await get_schedule(store, "nightly")
    assert info is not None and info.next_at is not None
    at = datetime.fromtimestamp(info.next_at / 1000, ZoneInfo("Europe/Paris"))
    assert (at.hour, at.minute) == (9, 30)


async def test_a_fired_tick_never_runs_again_even_once_its_job_is_gone(
    clocked_store: tuple[Store, FakeClock],
) -> None:
    """Adding a tick's job and moving the schedule on are one step: a restarted or
    second scheduler finds the tick moved, even after retention removed the job."""
    store, clock = clocked_store
    await upsert_schedule(store, EVERY_MINUTE)
    (due,) = await store.schedules()
    clock.advance(61_000)
    assert await Scheduler(store).run_once() == 1
    emails = Queue("emails", store)
    (job,) = await emails.list_jobs(JobState.WAITING)
    assert job.id == f"sched:sync:{due.next_at}"
    assert await emails.remove(job.id)  # retention's doing, say
    # The same tick fired again (the stale view of a scheduler that read it before
    # the move): refused, nothing added.
    stale = await store.fire_schedule(
        "sync", due.next_at, due.next_at + 60_000, "emails", _tick_job(job)
    )
    assert stale is None
    assert sum((await emails.counts()).values()) == 0
    (moved,) = await store.schedules()
    assert moved.next_at > due.next_at


def _tick_job(job: Job) -> NewJob:
    return NewJob(name=job.name, data=b"{}", opts=b"{}", job_id=job.id)
