"""Contract tests of the admin and inspection API of a queue.

Only the public ``Queue`` / ``Worker`` / ``Store`` API is used, so these run unchanged
on every store kind.  Jobs are processed with burst workers; a job is made *active*
without a worker by calling ``store.fetch`` directly (part of the store contract).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.clocks import FakeClock
from workhorse import Job, JobState, Queue, Worker
from workhorse.clock import now_ms
from workhorse.errors import InvalidTransition
from workhorse.store.base import Event, Store

BURST_TIMEOUT = 15.0
Handler = Callable[[Job], Awaitable[Any]]

W, P, D = JobState.WAITING, JobState.PRIORITIZED, JobState.DELAYED
A, C, F = JobState.ACTIVE, JobState.COMPLETED, JobState.FAILED


# ---- helpers ------------------------------------------------------------------------
async def echo(job: Job) -> Any:
    return job.data


async def fail_bad(job: Job) -> Any:
    if job.name == "bad":
        raise RuntimeError(f"boom {job.data}")
    return job.data


async def burst(queue: Queue, handler: Handler = echo, concurrency: int = 1) -> None:
    worker = Worker(queue, handler, concurrency=concurrency)
    await asyncio.wait_for(worker.run(burst=True), BURST_TIMEOUT)


def nonzero(counts: dict[JobState, int]) -> dict[JobState, int]:
    return {state: n for state, n in counts.items() if n}


async def listed(
    queue: Queue, state: JobState, start: int = 0, end: int = 49, desc: bool = True
) -> list[str]:
    jobs = await queue.list_jobs(state, start, end, desc)
    assert all(job.state is state for job in jobs)
    return [job.id for job in jobs]


async def take(queue: Queue, n: int = 1, token: str = "tok") -> list[Job]:
    """Make ``n`` jobs active without a worker (the store's take operation)."""
    jobs, refused = await queue.store.fetch(queue.name, token, [], n, 60_000)
    assert refused == []
    return jobs


@pytest.fixture
async def clocked(
    store: Store, make_store: Callable[..., Store]
) -> AsyncIterator[tuple[Queue, FakeClock]]:
    """A queue on a store whose clock ticks 1 ms per reading and can be advanced.
    (Depends on ``store`` for the Redis check and the clean-up of the prefix.)"""
    clock = FakeClock(tick=1)
    s = make_store(clock=clock)
    q = Queue("q", s)
    yield q, clock
    await q.close_events()
    await s.close()


# ---- counts -------------------------------------------------------------------------
async def test_counts_of_an_empty_queue_are_zero(queue: Queue) -> None:
    counts = await queue.counts()
    for state in (W, P, D, A, C, F):
        assert counts[state] == 0
    assert nonzero(counts) == {}


async def test_counts_per_state(queue: Queue) -> None:
    await queue.add("good", 1)
    await queue.add("good", 2)
    await queue.add("bad", 3)
    await burst(queue, fail_bad)
    assert nonzero(await queue.counts()) == {C: 2, F: 1}

    await queue.add("prio", priority=1)
    await queue.add("prio", priority=2)
    for i in range(3):
        await queue.add("wait", i)
    await queue.add("later", delay=3600)
    await queue.add("later", delay=7200)
    (active,) = await take(queue)
    assert active.name == "prio"
    assert nonzero(await queue.counts()) == {W: 3, P: 1, D: 2, A: 1, C: 2, F: 1}


# ---- list_jobs ----------------------------------------------------------------------
async def test_list_waiting_in_take_order_with_paging(queue: Queue) -> None:
    ids = [(await queue.add("w", i)).id for i in range(5)]
    assert await listed(queue, W, desc=False) == ids
    assert await listed(queue, W, desc=True) == ids[::-1]
    assert await listed(queue, W, 0, 0, desc=False) == ids[:1]
    assert await listed(queue, W, 1, 2, desc=False) == ids[1:3]
    assert await listed(queue, W, 3, 10, desc=False) == ids[3:]
    assert await listed(queue, W, 1, 2, desc=True) == [ids[3], ids[2]]
    assert await listed(queue, W, 3, 10, desc=True) == [ids[1], ids[0]]
    # Paging past the end gives an empty page, in both directions.
    assert await listed(queue, W, 5, 9, desc=True) == []
    assert await listed(queue, W, 5, 9, desc=False) == []
    assert await listed(queue, W, 6, 9, desc=False) == []
    # "Take order" means what a worker takes next is first in ascending order.
    assert [j.id for j in await take(queue, 2)] == ids[:2]
    assert await listed(queue, W, desc=False) == ids[2:]


async def test_list_prioritized_by_priority_then_fifo(queue: Queue) -> None:
    prios = [3, 1, 2, 1, 3]
    ids = [(await queue.add("p", i, priority=p)).id for i, p in enumerate(prios)]
    expected = [ids[1], ids[3], ids[2], ids[0], ids[4]]
    assert await listed(queue, P, desc=False) == expected
    assert await listed(queue, P, desc=True) == expected[::-1]
    assert await listed(queue, P, 1, 3, desc=False) == expected[1:4]
    assert await listed(queue, P, 0, 1, desc=True) == [expected[4], expected[3]]
    assert await listed(queue, P, 5, 9, desc=False) == []
    jobs = await queue.list_jobs(P, desc=False)
    assert [j.priority for j in jobs] == [1, 1, 2, 3, 3]
    assert [j.id for j in await take(queue, 5)] == expected


async def test_list_delayed_by_due_time(queue: Queue) -> None:
    late = await queue.add("d", delay=300)
    early = await queue.add("d", delay=100)
    mid = await queue.add("d", delay=200)
    expected = [early.id, mid.id, late.id]
    assert await listed(queue, D, desc=False) == expected
    assert await listed(queue, D, desc=True) == expected[::-1]
    assert await listed(queue, D, 1, 1, desc=False) == [mid.id]
    assert await listed(queue, D, 1, 5, desc=True) == [mid.id, early.id]
    jobs = await queue.list_jobs(D, desc=False)
    dues = [j.due_at for j in jobs]
    assert all(d is not None for d in dues)
    assert dues == sorted(dues)


async def test_list_active_by_lock_expiry(queue: Queue) -> None:
    for i in range(2):
        await queue.add("a", i)
    (long_lock,) = (await queue.store.fetch(queue.name, "t1", [], 1, 120_000))[0]
    (short_lock,) = (await queue.store.fetch(queue.name, "t2", [], 1, 60_000))[0]
    assert await listed(queue, A, desc=False) == [short_lock.id, long_lock.id]
    assert await listed(queue, A, desc=True) == [long_lock.id, short_lock.id]


async def test_list_completed_and_failed_by_finish_time(
    clocked: tuple[Queue, FakeClock],
) -> None:
    queue, _ = clocked
    # Priorities make the finish order differ from the id order.
    ok = [(await queue.add("good", i, priority=p)).id for i, p in enumerate([3, 1, 2])]
    bad = [(await queue.add("bad", i, priority=p)).id for i, p in enumerate([2, 1])]
    await burst(queue, fail_bad)
    ok_finish_order = [ok[1], ok[2], ok[0]]
    bad_finish_order = [bad[1], bad[0]]

    assert await listed(queue, C, desc=False) == ok_finish_order
    assert await listed(queue, C, desc=True) == ok_finish_order[::-1]
    assert await listed(queue, C, 0, 1, desc=True) == [ok[0], ok[2]]
    assert await listed(queue, C, 2, 2, desc=True) == [ok[1]]
    assert await listed(queue, C, 3, 9, desc=True) == []
    assert await listed(queue, F, desc=False) == bad_finish_order
    assert await listed(queue, F, desc=True) == bad_finish_order[::-1]
    assert await listed(queue, F, 1, 1, desc=False) == [bad[0]]
    finished = [j.finished_at for j in await queue.list_jobs(C, desc=False)]
    assert all(t is not None for t in finished)
    assert finished == sorted(finished)


# ---- get_job ------------------------------------------------------------------------
async def test_get_job_fields_of_a_pending_job(queue: Queue) -> None:
    before = now_ms()
    added = await queue.add(
        "send",
        {"to": "a@example.com", "n": [1, 2]},
        priority=2,
        attempts=3,
        tags=("mail", "eu"),
        meta={"trace": "t-1"},
        owner="alice",
    )
    after = now_ms()
    job = await queue.get_job(added.id)
    assert job is not None
    assert job.id == added.id
    assert job.name == "send"
    assert job.data == {"to": "a@example.com", "n": [1, 2]}
    assert job.state is P
    assert job.priority == 2
    assert job.attempts == 3
    assert job.tags == ["mail", "eu"]
    assert job.meta == {"trace": "t-1"}
    assert job.owner == "alice"
    assert before <= job.created_at <= after
    assert job.started_at is None
    assert job.finished_at is None
    assert job.due_at is None
    assert job.attempts_made == 0
    assert job.returnvalue is None
    assert job.failed_reason is None
    assert job.stacktrace is None
    assert await queue.get_state(added.id) is P

    plain = await queue.get_job((await queue.add("plain")).id)
    assert plain is not None
    assert plain.state is W
    assert plain.priority == 0
    assert plain.data is None
    assert plain.tags == []
    assert plain.meta == {}
    assert plain.owner is None

    delayed = await queue.get_job((await queue.add("later", delay=3600)).id)
    assert delayed is not None
    assert delayed.state is D
    assert delayed.due_at == delayed.created_at + 3_600_000

    assert await queue.get_job("no-such-job") is None
    assert await queue.get_state("no-such-job") is None


async def test_get_job_fields_of_finished_jobs(queue: Queue) -> None:
    async def handler(job: Job) -> Any:
        await job.update_progress(40)
        if job.name == "bad":
            raise ValueError(f"bad input {job.data}")
        return {"sum": sum(job.data)}

    before = now_ms()
    good = await queue.add("good", [1, 2, 3], tags=("x",), meta={"k": 1}, owner="bob")
    bad = await queue.add("bad", 7, attempts=2)
    await burst(queue, handler)
    after = now_ms()

    done = await queue.get_job(good.id)
    assert done is not None
    assert done.state is C
    assert done.name == "good"
    assert done.data == [1, 2, 3]
    assert done.returnvalue == {"sum": 6}
    assert done.attempts_made == 1
    assert done.progress == 40
    assert done.failed_reason is None
    assert done.stacktrace is None
    assert done.tags == ["x"]
    assert done.meta == {"k": 1}
    assert done.owner == "bob"
    assert done.started_at is not None
    assert done.finished_at is not None
    assert before <= done.created_at <= done.started_at <= done.finished_at <= after

    failed = await queue.get_job(bad.id)
    assert failed is not None
    assert failed.state is F
    assert failed.attempts_made == 2
    assert failed.failed_reason == "bad input 7"
    assert failed.stacktrace is not None
    assert "ValueError: bad input 7" in failed.stacktrace
    assert failed.returnvalue is None
    assert failed.finished_at is not None
    assert before <= failed.created_at <= failed.finished_at <= after


# ---- retry --------------------------------------------------------------------------
async def test_retry_job_runs_a_failed_job_again(queue: Queue) -> None:
    calls: list[str] = []

    async def flaky(job: Job) -> Any:
        calls.append(job.id)
        if len(calls) == 1:
            raise RuntimeError("first run fails")
        return "second run"

    job = await queue.add("flaky", priority=3)
    await burst(queue, flaky)
    failed = await queue.get_job(job.id)
    assert failed is not None
    assert failed.state is F
    assert failed.failed_reason == "first run fails"

    await queue.retry_job(job.id)
    again = await queue.get_job(job.id)
    assert again is not None
    assert again.state is P  # back among the ready jobs, keeping its priority
    assert again.attempts_made == 0
    assert again.failed_reason is None
    assert again.finished_at is None
    assert nonzero(await queue.counts()) == {P: 1}

    await burst(queue, flaky)
    assert calls == [job.id, job.id]
    done = await queue.get_job(job.id)
    assert done is not None
    assert done.state is C
    assert done.returnvalue == "second run"
    assert done.attempts_made == 1


async def test_retry_job_refuses_a_job_that_is_not_failed(queue: Queue) -> None:
    completed = await queue.add("good")
    await burst(queue)
    waiting = await queue.add("waiting")
    delayed = await queue.add("later", delay=3600)
    for job_id in (completed.id, waiting.id, delayed.id, "no-such-job"):
        with pytest.raises(InvalidTransition):
            await queue.retry_job(job_id)
    assert nonzero(await queue.counts()) == {W: 1, D: 1, C: 1}
    assert await queue.get_state(completed.id) is C

    # A completed job can be run again when asked for explicitly.
    await queue.retry_job(completed.id, JobState.COMPLETED)
    assert await queue.get_state(completed.id) is W


async def test_retry_all_failed(queue: Queue) -> None:
    attempts: dict[str, int] = {}

    async def fail_first(job: Job) -> Any:
        attempts[job.id] = attempts.get(job.id, 0) + 1
        if attempts[job.id] == 1:
            raise RuntimeError("first")
        return job.data

    ids = [(await queue.add("j", i)).id for i in range(5)]
    await burst(queue, fail_first, concurrency=2)
    assert nonzero(await queue.counts()) == {F: 5}

    assert await queue.retry_all(batch=2) == 5
    assert nonzero(await queue.counts()) == {W: 5}
    assert await queue.retry_all() == 0

    await burst(queue, fail_first, concurrency=2)
    assert nonzero(await queue.counts()) == {C: 5}
    for i, job_id in enumerate(ids):
        job = await queue.get_job(job_id)
        assert job is not None
        assert job.returnvalue == i
    assert attempts == dict.fromkeys(ids, 2)


# ---- promote ------------------------------------------------------------------------
async def test_promote_runs_a_delayed_job_before_its_due_time(queue: Queue) -> None:
    job = await queue.add("later", "x", delay=3600)
    prio = await queue.add("later-prio", "y", delay=3600, priority=1)
    await queue.promote(job.id)
    await queue.promote(prio.id)
    assert await queue.get_state(job.id) is W
    assert await queue.get_state(prio.id) is P
    assert nonzero(await queue.counts()) == {W: 1, P: 1}

    await burst(queue)
    done = await queue.get_job(job.id)
    assert done is not None
    assert done.state is C
    assert done.returnvalue == "x"
    assert done.started_at is not None
    assert done.started_at < done.created_at + 3_600_000
    assert await queue.get_state(prio.id) is C


async def test_promote_refuses_a_job_that_is_not_delayed(queue: Queue) -> None:
    done = await queue.add("done")
    await burst(queue)
    waiting = await queue.add("waiting")
    prio = await queue.add("prio", priority=1)
    for job_id in (done.id, waiting.id, prio.id, "no-such-job"):
        with pytest.raises(InvalidTransition):
            await queue.promote(job_id)
    assert nonzero(await queue.counts()) == {W: 1, P: 1, C: 1}


# ---- remove -------------------------------------------------------------------------
async def test_remove_jobs_in_every_removable_state(queue: Queue) -> None:
    good = await queue.add("good")
    bad = await queue.add("bad")
    await burst(queue, fail_bad)
    waiting = await queue.add("w")
    prio = await queue.add("p", priority=1)
    delayed = await queue.add("d", delay=3600)
    await waiting.log("a line")
    assert nonzero(await queue.counts()) == {W: 1, P: 1, D: 1, C: 1, F: 1}

    remaining = {W: 1, P: 1, D: 1, C: 1, F: 1}
    for job, state in ((waiting, W), (prio, P), (delayed, D), (good, C), (bad, F)):
        assert await queue.remove(job.id) is True
        assert await queue.get_job(job.id) is None
        remaining.pop(state)
        assert nonzero(await queue.counts()) == remaining
        assert await queue.list_jobs(state) == []
    assert await queue.get_logs(waiting.id) == []


async def test_remove_absent_job_returns_false(queue: Queue) -> None:
    job = await queue.add("x")
    assert await queue.remove(job.id) is True
    assert await queue.remove(job.id) is False
    assert await queue.remove("no-such-job") is False


async def test_remove_refuses_an_active_job(queue: Queue) -> None:
    job = await queue.add("x")
    (active,) = await take(queue)
    assert active.id == job.id
    with pytest.raises(InvalidTransition):
        await queue.remove(job.id)
    assert await queue.get_state(job.id) is A
    assert nonzero(await queue.counts()) == {A: 1}


# ---- clean --------------------------------------------------------------------------
async def test_clean_finished_jobs_by_age_and_limit(clocked: tuple[Queue, FakeClock]) -> None:
    queue, clock = clocked
    old = [(await queue.add("good", i)).id for i in range(3)]
    old_bad = (await queue.add("bad", 9)).id
    await burst(queue, fail_bad)
    clock.advance(10)
    new = [(await queue.add("good", i)).id for i in range(2)]
    new_bad = (await queue.add("bad", 10)).id
    await burst(queue, fail_bad)
    assert nonzero(await queue.counts()) == {C: 5, F: 2}

    # Only jobs that finished more than 5 s ago, oldest first, at most `limit`.
    assert await queue.clean(C, grace=5, limit=2) == old[:2]
    assert await queue.get_job(old[0]) is None
    assert await queue.get_job(old[1]) is None
    assert await queue.get_state(old[2]) is C
    assert sorted(await queue.clean(C, grace=5)) == sorted(old[2:])
    assert await queue.clean(C, grace=5) == []
    assert sorted(await listed(queue, C)) == sorted(new)

    assert await queue.clean(F, grace=5) == [old_bad]
    assert await queue.get_job(old_bad) is None
    assert await queue.get_state(new_bad) is F

    assert sorted(await queue.clean(C, grace=0)) == sorted(new)
    assert nonzero(await queue.counts()) == {F: 1}


async def test_clean_pending_jobs_by_creation_time(clocked: tuple[Queue, FakeClock]) -> None:
    queue, clock = clocked
    old_w = [(await queue.add("w", i)).id for i in range(2)]
    old_p = (await queue.add("p", priority=1)).id
    old_d = (await queue.add("d", delay=3600)).id
    clock.advance(60)
    new_w = (await queue.add("w", 9)).id
    new_d = (await queue.add("d", delay=3600)).id

    assert sorted(await queue.clean(W, grace=30)) == sorted(old_w)
    assert await listed(queue, W) == [new_w]
    assert await queue.clean(P, grace=30) == [old_p]
    assert await queue.clean(D, grace=30) == [old_d]
    assert await listed(queue, D) == [new_d]
    assert nonzero(await queue.counts()) == {W: 1, D: 1}
    for job_id in (*old_w, old_p, old_d):
        assert await queue.get_job(job_id) is None


async def test_clean_refuses_active_jobs(queue: Queue) -> None:
    job = await queue.add("x")
    await take(queue)
    with pytest.raises(InvalidTransition):
        await queue.clean(A)
    assert await queue.get_state(job.id) is A


# ---- pause / resume -----------------------------------------------------------------
async def test_pause_stops_taking_and_resume_drains(queue: Queue) -> None:
    ids = [(await queue.add("j", i)).id for i in range(3)]
    await queue.pause()
    assert await queue.is_paused() is True
    assert await take(queue, 3) == []

    ran: list[str] = []

    async def handler(job: Job) -> Any:
        ran.append(job.id)
        return None

    worker = Worker(queue, handler, concurrency=2)
    task = asyncio.create_task(worker.run(burst=True))
    try:
        # A burst worker keeps waiting while jobs are pending; paused, it takes none.
        done, _ = await asyncio.wait({task}, timeout=0.4)
        assert not done
        assert ran == []
        assert nonzero(await queue.counts()) == {W: 3}

        await queue.resume()
        assert await queue.is_paused() is False
        await asyncio.wait_for(task, BURST_TIMEOUT)
    finally:
        if not task.done():
            await worker.close(grace=0)
            await task
    assert sorted(ran) == sorted(ids)
    assert nonzero(await queue.counts()) == {C: 3}


# ---- drain --------------------------------------------------------------------------
async def test_drain_removes_waiting_and_prioritized_but_keeps_others(queue: Queue) -> None:
    done = await queue.add("done")
    await burst(queue)
    active = await queue.add("active", priority=1)
    await take(queue)
    waiting = [(await queue.add("w", i)).id for i in range(2)]
    prio = [(await queue.add("p", i, priority=2)).id for i in range(2)]
    delayed = await queue.add("d", delay=3600)
    assert nonzero(await queue.counts()) == {W: 2, P: 2, D: 1, A: 1, C: 1}

    assert await queue.drain() == 4
    assert nonzero(await queue.counts()) == {D: 1, A: 1, C: 1}
    for job_id in (*waiting, *prio):
        assert await queue.get_job(job_id) is None
    assert await queue.get_state(delayed.id) is D
    assert await queue.get_state(active.id) is A
    assert await queue.get_state(done.id) is C

    assert await queue.drain(delayed=True) == 1
    assert await queue.get_job(delayed.id) is None
    assert nonzero(await queue.counts()) == {A: 1, C: 1}
    assert await queue.drain(delayed=True) == 0


# ---- obliterate ---------------------------------------------------------------------
async def _fill_every_state(queue: Queue) -> list[str]:
    await queue.add("good")
    await queue.add("bad")
    await burst(queue, fail_bad)
    ids = [job.id for job in await queue.list_jobs(C)] + [j.id for j in await queue.list_jobs(F)]
    for job in (
        await queue.add("w"),
        await queue.add("p", priority=1),
        await queue.add("d", delay=3600),
    ):
        await job.log("line")
        ids.append(job.id)
    return ids


async def test_obliterate_deletes_everything(queue: Queue, store: Store) -> None:
    ids = await _fill_every_state(queue)
    await queue.pause()
    assert queue.name in await store.queues()

    await queue.obliterate()
    assert nonzero(await queue.counts()) == {}
    for job_id in ids:
        assert await queue.get_job(job_id) is None
        assert await queue.get_logs(job_id) == []
    assert await queue.is_paused() is False
    assert queue.name not in await store.queues()

    # The queue can be used again afterwards.
    job = await queue.add("again", 1)
    await burst(queue)
    assert await queue.get_state(job.id) is C


async def test_obliterate_refuses_active_jobs_unless_forced(queue: Queue) -> None:
    ids = await _fill_every_state(queue)
    await queue.add("to-take", priority=1)
    (active,) = await take(queue)
    before = nonzero(await queue.counts())
    assert before == {W: 1, P: 1, D: 1, A: 1, C: 1, F: 1}

    with pytest.raises(InvalidTransition):
        await queue.obliterate()
    assert nonzero(await queue.counts()) == before
    assert await queue.get_state(active.id) is A

    await queue.obliterate(force=True)
    assert nonzero(await queue.counts()) == {}
    for job_id in (*ids, active.id):
        assert await queue.get_job(job_id) is None


# ---- cancel -------------------------------------------------------------------------
async def test_cancel_pending_jobs(queue: Queue) -> None:
    waiting = await queue.add("w")
    prio = await queue.add("p", priority=1)
    delayed = await queue.add("d", delay=3600)

    assert await queue.cancel(waiting.id) is W
    assert await queue.cancel(prio.id) is P
    assert await queue.cancel(delayed.id) is D
    assert await queue.cancel("no-such-job") is None
    for job_id in (waiting.id, prio.id, delayed.id):
        job = await queue.get_job(job_id)
        assert job is not None
        assert job.state is F
        assert job.failed_reason == "cancelled"
        assert job.finished_at is not None
    assert nonzero(await queue.counts()) == {F: 3}

    ran: list[str] = []

    async def handler(job: Job) -> Any:
        ran.append(job.id)

    await burst(queue, handler)
    assert ran == []
    # Cancelling again reports the state it is now in and changes nothing.
    assert await queue.cancel(waiting.id) is F
    assert nonzero(await queue.counts()) == {F: 3}


async def test_cancel_finished_job_changes_nothing(queue: Queue) -> None:
    job = await queue.add("x", 5)
    await burst(queue)
    assert await queue.cancel(job.id) is C
    done = await queue.get_job(job.id)
    assert done is not None
    assert done.state is C
    assert done.returnvalue == 5
    assert done.failed_reason is None


# ---- logs and history ---------------------------------------------------------------
async def test_logs_and_history_of_failed_attempts(queue: Queue) -> None:
    async def flaky(job: Job) -> Any:
        attempt = job.attempts_made + 1
        await job.log(f"attempt {attempt} starts")
        if attempt < 3:
            raise RuntimeError(f"boom {attempt}")
        await job.log("done")
        return attempt

    job = await queue.add("flaky", attempts=3)
    await burst(queue, flaky)
    done = await queue.get_job(job.id)
    assert done is not None
    assert done.state is C
    assert done.returnvalue == 3
    assert done.attempts_made == 3

    lines = ["attempt 1 starts", "attempt 2 starts", "attempt 3 starts", "done"]
    assert await queue.get_logs(job.id) == lines
    assert await queue.get_logs(job.id, 1, 2) == lines[1:3]
    assert await queue.get_logs(job.id, 3, 9) == lines[3:]

    history = await queue.get_history(job.id)
    assert [h["attempt"] for h in history] == [1, 2]
    assert [h["error"] for h in history] == ["boom 1", "boom 2"]
    for i, h in enumerate(history, start=1):
        assert f"RuntimeError: boom {i}" in h["stack"]
        assert isinstance(h["at"], int)
    assert history[0]["at"] <= history[1]["at"]


async def test_history_of_a_job_that_failed_for_good(queue: Queue) -> None:
    job = await queue.add("bad", 1, attempts=2)
    await burst(queue, fail_bad)
    history = await queue.get_history(job.id)
    assert [(h["attempt"], h["error"]) for h in history] == [(1, "boom 1"), (2, "boom 1")]
    ok = await queue.add("good")
    await burst(queue)
    assert await queue.get_history(ok.id) == []
    assert await queue.get_logs(ok.id) == []


# ---- events -------------------------------------------------------------------------
EVENT_NAMES = {"added", "active", "completed", "failed", "retrying", "progress", "log", "removed"}


async def test_event_stream_follows_every_transition(queue: Queue) -> None:
    async def handler(job: Job) -> Any:
        if job.name == "bad":
            raise RuntimeError("nope")
        await job.update_progress(50)
        await job.log("hello")
        return "ok"

    good = await queue.add("good")
    bad = await queue.add("bad", attempts=2)
    await burst(queue, handler)
    assert await queue.remove(good.id) is True

    events: list[Event] = []
    stream = queue.follow("0")
    try:
        while not any(e.event == "removed" and e.job_id == good.id for e in events):
            events.append(await asyncio.wait_for(stream.__anext__(), 5))
    finally:
        await stream.aclose()

    positions = [e.position for e in events]
    assert len(set(positions)) == len(positions)
    assert all(e.queue == queue.name for e in events)

    def of(job_id: str) -> list[Event]:
        return [e for e in events if e.job_id == job_id and e.event in EVENT_NAMES]

    good_events = of(good.id)
    assert [e.event for e in good_events] == [
        "added",
        "active",
        "progress",
        "log",
        "completed",
        "removed",
    ]
    assert good_events[0].fields["name"] == "good"
    assert good_events[2].fields["data"] == "50"
    assert good_events[3].fields["line"] == "hello"
    assert good_events[4].fields["result"] == '"ok"'

    bad_events = of(bad.id)
    assert [e.event for e in bad_events] == ["added", "active", "retrying", "active", "failed"]
    assert bad_events[2].fields["error"] == "nope"
    assert bad_events[4].fields["error"] == "nope"

    # Events of one job come in the order they happened; added before anything else.
    first_added = next(i for i, e in enumerate(events) if e.event == "added")
    assert events[first_added].job_id == good.id


async def test_added_event_names_the_state_the_job_was_added_in(queue: Queue) -> None:
    waiting = await queue.add("w")
    prio = await queue.add("p", priority=2)
    delayed = await queue.add("d", delay=3600)
    stream = queue.follow("0")
    try:
        added = [await asyncio.wait_for(stream.__anext__(), 5) for _ in range(3)]
    finally:
        await stream.aclose()
    assert [(e.event, e.job_id) for e in added] == [
        ("added", waiting.id),
        ("added", prio.id),
        ("added", delayed.id),
    ]
    assert [e.fields["state"] for e in added] == ["waiting", "prioritized", "delayed"]
