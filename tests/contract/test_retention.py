"""Contract tests of finished-job retention (``remove_on_complete`` / ``remove_on_fail``).

Age-based retention is checked with a store whose clock the test moves by hand, so
nothing waits for real time to pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.clocks import FakeClock
from workhorse import Job, JobFailed, JobOptions, JobState, Queue, Retention, Worker
from workhorse.options import KEEP_COMPLETED, KEEP_FAILED
from workhorse.store.base import Store

BURST_TIMEOUT = 15.0
Handler = Callable[[Job], Awaitable[Any]]
C, F = JobState.COMPLETED, JobState.FAILED


async def handler(job: Job) -> Any:
    if job.name == "bad":
        raise RuntimeError(f"boom {job.data}")
    return {"echo": job.data}


async def burst(queue: Queue, fn: Handler = handler) -> None:
    await asyncio.wait_for(Worker(queue, fn).run(burst=True), BURST_TIMEOUT)


async def finish(queue: Queue, name: str, data: Any = None, **options: Any) -> str:
    """Add one job and run it to its end; returns its id."""
    job = await queue.add(name, data, **options)
    await burst(queue)
    return job.id


def nonzero(counts: dict[JobState, int]) -> dict[JobState, int]:
    return {state: n for state, n in counts.items() if n}


@pytest.fixture
async def clocked(
    store: Store, make_store: Callable[..., Store]
) -> AsyncIterator[tuple[Queue, FakeClock]]:
    """A queue on a store with a hand-moved clock (1 ms per reading).  Depends on
    ``store`` for the Redis check and the clean-up of the prefix."""
    clock = FakeClock(tick=1)
    s = make_store(clock=clock)
    q = Queue("q", s)
    yield q, clock
    await q.close_events()
    await s.close()


# ---- remove at once -----------------------------------------------------------------
async def test_remove_on_complete_true_removes_at_once_but_result_is_delivered(
    queue: Queue,
) -> None:
    await queue.events.start()
    job = await queue.add("good", [1, 2], remove_on_complete=True)
    value, _ = await asyncio.gather(job.result(timeout=10), burst(queue))
    assert value == {"echo": [1, 2]}
    assert await queue.get_job(job.id) is None
    assert nonzero(await queue.counts()) == {}
    assert await queue.list_jobs(C) == []


async def test_remove_on_fail_true_removes_at_once_but_failure_is_delivered(
    queue: Queue,
) -> None:
    await queue.events.start()
    job = await queue.add("bad", 7, remove_on_fail=True)
    results = await asyncio.gather(job.result(timeout=10), burst(queue), return_exceptions=True)
    error = results[0]
    assert isinstance(error, JobFailed)
    assert error.reason == "boom 7"
    assert results[1] is None
    assert await queue.get_job(job.id) is None
    assert nonzero(await queue.counts()) == {}


async def test_remove_on_complete_does_not_touch_failed_jobs(queue: Queue) -> None:
    good = await finish(queue, "good", remove_on_complete=True, remove_on_fail=False)
    bad = await finish(queue, "bad", remove_on_complete=True, remove_on_fail=False)
    assert await queue.get_job(good) is None
    assert await queue.get_state(bad) is F
    assert nonzero(await queue.counts()) == {F: 1}


# ---- keep by count ------------------------------------------------------------------
async def test_keep_last_n_completed(clocked: tuple[Queue, FakeClock]) -> None:
    queue, _ = clocked
    # Priorities make the finish order (5, 4, 3, 2, 1) differ from the id order.
    ids = [
        (await queue.add("good", i, priority=p, remove_on_complete=3)).id
        for i, p in enumerate([5, 4, 3, 2, 1])
    ]
    await burst(queue)
    newest = {ids[0], ids[1], ids[2]}  # the last three to finish
    assert nonzero(await queue.counts()) == {C: 3}
    assert {j.id for j in await queue.list_jobs(C)} == newest
    for job_id in ids:
        job = await queue.get_job(job_id)
        if job_id in newest:
            assert job is not None
            assert job.state is C
        else:
            assert job is None


async def test_keep_last_n_failed(clocked: tuple[Queue, FakeClock]) -> None:
    queue, _ = clocked
    ids = [await finish(queue, "bad", i, remove_on_fail=2) for i in range(4)]
    assert nonzero(await queue.counts()) == {F: 2}
    assert await queue.get_job(ids[0]) is None
    assert await queue.get_job(ids[1]) is None
    for job_id in ids[2:]:
        job = await queue.get_job(job_id)
        assert job is not None
        assert job.state is F
        assert job.failed_reason is not None


async def test_keep_count_with_retention_object(clocked: tuple[Queue, FakeClock]) -> None:
    queue, _ = clocked
    ids = [await finish(queue, "good", i, remove_on_complete=Retention(count=1)) for i in range(3)]
    assert nonzero(await queue.counts()) == {C: 1}
    assert [j.id for j in await queue.list_jobs(C)] == [ids[2]]


# ---- keep by age --------------------------------------------------------------------
async def test_keep_completed_by_age(clocked: tuple[Queue, FakeClock]) -> None:
    queue, clock = clocked
    keep = Retention(age=60)
    old = [await finish(queue, "good", i, remove_on_complete=keep) for i in range(2)]
    clock.advance(30)
    mid = await finish(queue, "good", 2, remove_on_complete=keep)
    # Nothing is older than 60 s yet.
    assert nonzero(await queue.counts()) == {C: 3}

    clock.advance(31)  # the first two finished 61 s ago, `mid` 31 s ago
    new = await finish(queue, "good", 3, remove_on_complete=keep)
    for job_id in old:
        assert await queue.get_job(job_id) is None
    assert await queue.get_state(mid) is C
    assert await queue.get_state(new) is C
    assert nonzero(await queue.counts()) == {C: 2}


async def test_keep_failed_by_age(clocked: tuple[Queue, FakeClock]) -> None:
    queue, clock = clocked
    keep = Retention(age=10)
    old = await finish(queue, "bad", 1, remove_on_fail=keep)
    clock.advance(11)
    new = await finish(queue, "bad", 2, remove_on_fail=keep)
    assert await queue.get_job(old) is None
    assert await queue.get_history(old) == []
    assert await queue.get_state(new) is F
    assert nonzero(await queue.counts()) == {F: 1}


async def test_keep_by_age_and_count_together(clocked: tuple[Queue, FakeClock]) -> None:
    queue, clock = clocked
    keep = Retention(age=60, count=2)
    first = [await finish(queue, "good", i, remove_on_complete=keep) for i in range(3)]
    assert await queue.get_job(first[0]) is None  # over the count
    assert nonzero(await queue.counts()) == {C: 2}
    clock.advance(61)
    last = await finish(queue, "good", 9, remove_on_complete=keep)
    for job_id in first:
        assert await queue.get_job(job_id) is None  # over the age
    assert [j.id for j in await queue.list_jobs(C)] == [last]


# ---- bounded defaults ---------------------------------------------------------------
def test_default_retention_is_bounded() -> None:
    opts = JobOptions()
    assert opts.remove_on_complete == KEEP_COMPLETED
    assert opts.remove_on_fail == KEEP_FAILED
    for keep in (KEEP_COMPLETED, KEEP_FAILED):
        assert keep.age is not None and keep.age > 0
        assert keep.count is not None and keep.count > 0


async def test_default_retention_applies_when_nothing_is_given(
    clocked: tuple[Queue, FakeClock],
) -> None:
    queue, clock = clocked
    assert queue.options().remove_on_complete == KEEP_COMPLETED
    assert queue.options().remove_on_fail == KEEP_FAILED
    assert KEEP_COMPLETED.age is not None and KEEP_FAILED.age is not None

    done = await finish(queue, "good", 1)
    failed = await finish(queue, "bad", 1)
    # Kept after finishing (the defaults do not remove at once) ...
    assert await queue.get_state(done) is C
    assert await queue.get_state(failed) is F

    # ... and bounded by age: a later completion drops completed jobs older than
    # KEEP_COMPLETED.age, but failed jobs are kept for the (longer) KEEP_FAILED.age.
    clock.advance(KEEP_COMPLETED.age + 1)
    done2 = await finish(queue, "good", 2)
    failed2 = await finish(queue, "bad", 2)
    assert await queue.get_job(done) is None
    assert await queue.get_state(done2) is C
    assert await queue.get_state(failed) is F

    clock.advance(KEEP_FAILED.age - KEEP_COMPLETED.age)
    await finish(queue, "bad", 3)
    assert await queue.get_job(failed) is None
    assert await queue.get_state(failed2) is F


async def test_queue_default_options_override_the_bounded_defaults(
    clocked: tuple[Queue, FakeClock],
) -> None:
    queue, clock = clocked
    keep_all = Queue(
        queue.name,
        queue.store,
        default_options=JobOptions(remove_on_complete=False, remove_on_fail=False),
    )
    assert KEEP_COMPLETED.age is not None
    old = (await keep_all.add("good", 1)).id
    await burst(keep_all)
    clock.advance(KEEP_COMPLETED.age * 10)
    new = (await keep_all.add("good", 2)).id
    await burst(keep_all)
    assert await keep_all.get_state(old) is C
    assert await keep_all.get_state(new) is C


# ---- invalid retention --------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        {"remove_on_complete": -1},
        {"remove_on_complete": 1.5},
        {"remove_on_complete": "yes"},
        {"remove_on_complete": None},
        {"remove_on_fail": -5},
        {"remove_on_fail": "all"},
    ],
)
async def test_invalid_retention_is_refused_and_nothing_stored(
    queue: Queue, options: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match=next(iter(options))):
        await queue.add("x", 1, **options)
    with pytest.raises(ValueError, match=next(iter(options))):
        JobOptions(**options)
    assert nonzero(await queue.counts()) == {}
    assert await queue.list_jobs(JobState.WAITING) == []


@pytest.mark.parametrize("kwargs", [{"age": -1}, {"count": -1}])
def test_invalid_retention_object_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="retention"):
        Retention(**kwargs)


async def test_invalid_item_in_a_bulk_add_stores_nothing(queue: Queue) -> None:
    # Options are validated when built; an item that fails later (here: its data)
    # must still keep the whole batch out of the store.
    with pytest.raises(ValueError, match="JSON"):
        await queue.add_bulk(
            [
                ("ok", 1, JobOptions(remove_on_complete=1)),
                ("unserialisable", {1, 2}, JobOptions(remove_on_fail=False)),
            ]
        )
    assert nonzero(await queue.counts()) == {}
