"""What the stores write for observability, on every store: the numbers the events
carry (wait, run time), rate-limit holds, and the oldest ready job."""

from __future__ import annotations

from tests.clocks import FakeClock
from workhorse.store.base import Event, NewJob, Outcome, OutcomeKind, Store

Q = "obs"


def new_job(name: str = "j", **kw: object) -> NewJob:
    return NewJob(name=name, data=b"{}", opts=b"{}", **kw)  # type: ignore[arg-type]


async def events(store: Store, name: str | None = None) -> list[Event]:
    found = await store.read_events(Q, "0", count=10_000)
    return [e for e in found if name is None or e.event == name]


async def test_active_carries_the_wait_since_ready(clocked_store: tuple[Store, FakeClock]) -> None:
    store, clock = clocked_store
    [(job_id, _)] = await store.add(Q, [new_job()])
    clock.advance(2.5)
    taken, _ = await store.fetch(Q, "tok", [], 1, 30_000)
    assert [j.id for j in taken] == [job_id]
    [active] = await events(store, "active")
    assert active.job_id == job_id
    assert active.fields["wait_ms"] == "2500"


async def test_the_wait_of_a_delayed_job_starts_at_its_due_time(
    clocked_store: tuple[Store, FakeClock],
) -> None:
    store, clock = clocked_store
    await store.add(Q, [new_job(delay_ms=1_000)])
    clock.advance(4)  # due after 1 s, taken 3 s later
    taken, _ = await store.fetch(Q, "tok", [], 1, 30_000)
    assert len(taken) == 1
    [active] = await events(store, "active")
    assert active.fields["wait_ms"] == "3000"


async def test_the_wait_of_a_retry_starts_when_it_is_ready_again(
    clocked_store: tuple[Store, FakeClock],
) -> None:
    store, clock = clocked_store
    [(job_id, _)] = await store.add(Q, [new_job()])
    await store.fetch(Q, "tok", [], 1, 30_000)
    clock.advance(1)
    retry = Outcome(job_id, OutcomeKind.RETRY, "boom", "", delay_ms=500)
    await store.fetch(Q, "tok", [retry], 0, 30_000)
    clock.advance(2)  # due 0.5 s after the retry, taken 1.5 s after that
    taken, _ = await store.fetch(Q, "tok", [], 1, 30_000)
    assert [j.id for j in taken] == [job_id]
    waits = [e.fields["wait_ms"] for e in await events(store, "active")]
    assert waits == ["0", "1500"]


async def test_finishing_events_carry_how_long_the_attempt_ran(
    clocked_store: tuple[Store, FakeClock],
) -> None:
    store, clock = clocked_store
    ids = [i for i, _ in await store.add(Q, [new_job("a"), new_job("b"), new_job("c")])]
    await store.fetch(Q, "tok", [], 3, 60_000)
    clock.advance(1.25)
    outcomes = [
        Outcome(ids[0], OutcomeKind.COMPLETE, b'"ok"'),
        Outcome(ids[1], OutcomeKind.RETRY, "flaky", "trace", delay_ms=0),
        Outcome(ids[2], OutcomeKind.FAIL, "timeout", "trace"),
    ]
    await store.fetch(Q, "tok", outcomes, 0, 60_000)
    ran = {
        e.event: (e.job_id, e.fields["duration_ms"])
        for e in await events(store)
        if e.event in ("completed", "retrying", "failed")
    }
    assert ran == {
        "completed": (ids[0], "1250"),
        "retrying": (ids[1], "1250"),
        "failed": (ids[2], "1250"),
    }
    [failed] = await events(store, "failed")
    assert failed.fields["error"] == "timeout"


async def test_a_failure_that_did_not_run_in_a_worker_has_no_duration(store: Store) -> None:
    [(job_id, _)] = await store.add(Q, [new_job()])
    await store.cancel(Q, job_id)
    [failed] = await events(store, "failed")
    assert failed.fields["error"] == "cancelled"
    assert "duration_ms" not in failed.fields


async def test_a_take_held_back_by_the_queue_rate_window_is_an_event(
    clocked_store: tuple[Store, FakeClock],
) -> None:
    store, clock = clocked_store
    await store.set_limits(Q, {"rate_max": 2, "rate_per": 60_000})
    await store.add(Q, [new_job() for _ in range(5)])
    taken, _ = await store.fetch(Q, "tok", [], 2, 60_000)
    assert len(taken) == 2
    assert await events(store, "ratelimited") == []  # it got all it asked for
    taken, _ = await store.fetch(Q, "tok", [], 2, 60_000)
    assert taken == []
    [held] = await events(store, "ratelimited")
    assert held.fields["scope"] == "queue"
    assert held.job_id == ""
    clock.advance(61)
    taken, _ = await store.fetch(Q, "tok", [], 2, 60_000)
    assert len(taken) == 2
    assert len(await events(store, "ratelimited")) == 1


async def test_a_take_held_back_by_group_rate_windows_is_one_event(store: Store) -> None:
    await store.set_limits(Q, {"group_max": 1, "group_per": 60_000})
    await store.add(Q, [new_job(group=g) for g in ("u1", "u1", "u2", "u2")])
    taken, _ = await store.fetch(Q, "tok", [], 4, 60_000)
    assert sorted(j.group or "" for j in taken) == ["u1", "u2"]
    [held] = await events(store, "ratelimited")
    assert held.fields == {"scope": "group", "groups": "2"}


async def test_a_group_held_by_its_concurrency_is_not_rate_limited(store: Store) -> None:
    await store.set_limits(Q, {"group_concurrency": 1, "group_max": 10, "group_per": 60_000})
    await store.add(Q, [new_job(group="u1") for _ in range(3)])
    taken, _ = await store.fetch(Q, "tok", [], 3, 60_000)
    assert len(taken) == 1
    assert await events(store, "ratelimited") == []


async def test_oldest_ready_at_none_when_nothing_is_ready(store: Store) -> None:
    assert await store.oldest_ready_at(Q) is None
    await store.add(Q, [new_job(delay_ms=60_000)])
    assert await store.oldest_ready_at(Q) is None


async def test_oldest_ready_at_looks_at_every_priority_level_and_due_jobs(
    clocked_store: tuple[Store, FakeClock],
) -> None:
    store, clock = clocked_store
    t0 = clock.now
    await store.add(Q, [new_job(priority=10)])  # low priority, ready at t0
    clock.advance(1)
    t1 = clock.now
    await store.add(Q, [new_job(priority=1), new_job(priority=10), new_job()])  # newer
    assert await store.oldest_ready_at(Q) == t0
    # The high-priority job goes first; the old low one is still the oldest.
    await store.fetch(Q, "tok", [], 1, 60_000)
    assert await store.oldest_ready_at(Q) == t0
    await store.fetch(Q, "tok", [], 1, 60_000)
    assert await store.oldest_ready_at(Q) == t1
    await store.fetch(Q, "tok", [], 2, 60_000)
    assert await store.oldest_ready_at(Q) is None
    # A delayed job past due counts from its due time, promoted or not.
    await store.add(Q, [new_job(delay_ms=500)])
    due = clock.now + 500
    clock.advance(3)
    assert await store.oldest_ready_at(Q) == due
    await store.fetch(Q, "tok", [], 0, 60_000)  # promotes it
    assert await store.oldest_ready_at(Q) == due


async def test_oldest_ready_at_follows_the_waiting_order(
    clocked_store: tuple[Store, FakeClock],
) -> None:
    store, clock = clocked_store
    first = clock.now
    await store.add(Q, [new_job()])
    clock.advance(1)
    second = clock.now
    await store.add(Q, [new_job()])
    assert await store.oldest_ready_at(Q) == first
    await store.fetch(Q, "tok", [], 1, 60_000)
    assert await store.oldest_ready_at(Q) == second
