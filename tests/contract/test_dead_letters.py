"""Dead letters: jobs failed for good are kept, inspected, edited, redriven, purged."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from workhorse import JobState, Queue, UnrecoverableError, Worker
from workhorse.clock import now_ms
from workhorse.errors import InvalidTransition, JobNotFound
from workhorse.job import Job
from workhorse.store.base import Event, Store

BURST_TIMEOUT = 15.0


async def handler(job: Job) -> Any:
    if job.name == "fatal":
        raise UnrecoverableError(f"fatal {job.data}")
    if job.name.startswith("bad") and not (isinstance(job.data, dict) and job.data.get("fixed")):
        raise RuntimeError(f"boom {job.data}")
    return {"echo": job.data}


async def burst(queue: Queue) -> None:
    await asyncio.wait_for(Worker(queue, handler).run(burst=True), BURST_TIMEOUT)


async def dead_ids(queue: Queue) -> list[str]:
    return [j.id for j in await queue.dead_letters(0, -1)]


async def test_exhausted_job_is_dead_lettered_with_error_history_and_event(
    queue: Queue,
) -> None:
    seen: list[Event] = []
    got = asyncio.Event()

    async def hook(event: Event) -> None:
        seen.append(event)
        got.set()

    queue.events.on("deadlettered", hook)
    await queue.events.start()
    good = await queue.add("good", 1)
    bad = await queue.add("bad", 2, attempts=2)
    await burst(queue)

    await asyncio.wait_for(got.wait(), 10)
    assert [(e.job_id, e.fields["error"], e.fields["name"]) for e in seen] == [
        (bad.id, "boom 2", "bad")
    ]
    assert await dead_ids(queue) == [bad.id]
    assert await queue.dead_letter_count() == 1
    job = await queue.get_job(bad.id)
    assert job is not None
    assert job.state is JobState.FAILED
    assert job.failed_reason == "boom 2"
    assert job.dead_lettered_at is not None
    assert [h["error"] for h in await queue.get_history(bad.id)] == ["boom 2", "boom 2"]
    done = await queue.get_job(good.id)
    assert done is not None and done.dead_lettered_at is None
    # A dead letter is still a failed job.
    assert [j.id for j in await queue.list_jobs(JobState.FAILED)] == [bad.id]


async def test_unrecoverable_is_dead_lettered_but_cancelled_is_not(queue: Queue) -> None:
    fatal = await queue.add("fatal", 1, attempts=5)
    cancelled = await queue.add("bad", 2, delay=3600)
    assert await queue.cancel(cancelled.id) is JobState.DELAYED
    await burst(queue)
    assert await dead_ids(queue) == [fatal.id]
    job = await queue.get_job(fatal.id)
    assert job is not None and job.attempts_made == 1
    assert await queue.get_state(cancelled.id) is JobState.FAILED


async def test_job_stalled_too_often_is_dead_lettered(
    make_store: Callable[..., Store], store: Store
) -> None:
    # The ``store`` fixture deletes this test's Redis keys at the end.
    now = [now_ms()]
    clocked = make_store(clock=lambda: now[0])
    queue = Queue("q", clocked)
    try:
        job = await queue.add("slow", 1)
        taken, _ = await clocked.fetch(queue.name, "tok", [], 1, lock_ms=1000)
        assert [j.id for j in taken] == [job.id]
        now[0] += 2000  # its worker stopped renewing the lock
        report = await clocked.recover_stalled(queue.name, max_stalled=0)
        assert report.failed == [job.id]
        dead = await queue.dead_letters()
        assert [j.id for j in dead] == [job.id]
        assert dead[0].failed_reason is not None and "stalled" in dead[0].failed_reason
    finally:
        await clocked.close()


async def test_dead_letters_are_listed_newest_first_with_paging(queue: Queue) -> None:
    ids = []
    for i in range(3):
        ids.append((await queue.add("bad", i)).id)
        await burst(queue)
    assert await dead_ids(queue) == ids[::-1]
    assert [j.id for j in await queue.dead_letters(0, 0)] == [ids[2]]
    assert [j.id for j in await queue.dead_letters(0, -1, desc=False)] == ids
    assert all(j.queue is queue for j in await queue.dead_letters())


async def test_update_data_then_redrive_runs_the_job_again(queue: Queue) -> None:
    bad = await queue.add("bad", {"n": 1}, attempts=2)
    await burst(queue)
    await queue.update_data(bad.id, {"n": 1, "fixed": True})
    edited = await queue.get_job(bad.id)
    assert edited is not None and edited.data == {"n": 1, "fixed": True}

    await queue.redrive(bad.id)
    waiting = await queue.get_job(bad.id)
    assert waiting is not None
    assert waiting.state is JobState.WAITING
    assert waiting.attempts_made == 0
    assert waiting.dead_lettered_at is None
    assert await queue.dead_letter_count() == 0
    await burst(queue)
    assert await bad.result(timeout=5) == {"echo": {"n": 1, "fixed": True}}
    # The failed attempts before the redrive are kept in its history.
    assert len(await queue.get_history(bad.id)) == 2


async def test_update_data_is_refused_for_other_states_and_bad_json(queue: Queue) -> None:
    waiting = await queue.add("bad", {"n": 1})
    with pytest.raises(InvalidTransition, match="not failed"):
        await queue.update_data(waiting.id, {"n": 2})
    with pytest.raises(JobNotFound):
        await queue.update_data("nope", {"n": 2})
    await burst(queue)
    with pytest.raises(ValueError, match="data must be JSON-serialisable"):
        await queue.update_data(waiting.id, {1, 2})
    job = await queue.get_job(waiting.id)
    assert job is not None and job.data == {"n": 1}


async def test_redrive_refuses_a_job_that_is_not_a_dead_letter(queue: Queue) -> None:
    good = await queue.add("good", 1)
    with pytest.raises(InvalidTransition, match="not a dead letter"):
        await queue.redrive(good.id)
    await burst(queue)
    with pytest.raises(InvalidTransition, match="not a dead letter"):
        await queue.redrive(good.id)
    assert await queue.get_state(good.id) is JobState.COMPLETED


async def test_redrive_all_by_name_and_reason_in_batches(queue: Queue) -> None:
    a = [await queue.add("bad-a", {"k": "timeout", "i": i}) for i in range(5)]
    b = [await queue.add("bad-b", {"k": "timeout", "i": i}) for i in range(3)]
    c = await queue.add("bad-a", "other")
    await burst(queue)
    assert await queue.dead_letter_count() == 9

    moved = await queue.redrive_all(name="bad-a", reason="timeout", batch=2)
    assert moved == 5
    assert {j.id for j in await queue.list_jobs(JobState.WAITING)} == {j.id for j in a}
    assert set(await dead_ids(queue)) == {j.id for j in b} | {c.id}

    assert await queue.redrive_all(reason="boom", batch=3) == 4
    assert await queue.dead_letter_count() == 0
    with pytest.raises(ValueError, match="batch"):
        await queue.redrive_all(batch=0)


async def test_purge_dead_letters_deletes_them_only(queue: Queue) -> None:
    dead = [await queue.add("bad", i) for i in range(3)]
    await burst(queue)
    cancelled = await queue.add("bad", 9, delay=3600)
    await queue.cancel(cancelled.id)
    assert await queue.purge_dead_letters() == 3
    assert await queue.dead_letter_count() == 0
    for job in dead:
        assert await queue.get_job(job.id) is None
    assert [j.id for j in await queue.list_jobs(JobState.FAILED)] == [cancelled.id]


async def test_retry_of_a_dead_letter_takes_it_out_of_the_set(queue: Queue) -> None:
    bad = await queue.add("bad", 1)
    await burst(queue)
    await queue.retry_job(bad.id)
    assert await queue.dead_letter_count() == 0
    assert await queue.get_state(bad.id) is JobState.WAITING


async def test_retention_removing_a_dead_letter_announces_it(queue: Queue) -> None:
    bad = await queue.add("bad", 1, remove_on_fail=True)
    await burst(queue)
    assert await queue.get_job(bad.id) is None
    assert await queue.dead_letter_count() == 0
    events = await queue.store.read_events(queue.name, "0")
    removed = [e for e in events if e.event == "removed" and e.job_id == bad.id]
    assert [e.fields.get("reason") for e in removed] == ["retention"]
    assert any(e.event == "deadlettered" and e.job_id == bad.id for e in events)
