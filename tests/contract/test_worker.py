"""Workers: outcomes, retries, limits, locks, stalls, cancellation, shutdown."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

import pytest

from workhorse import Backoff, JobFailed, JobState, Queue, UnrecoverableError, Worker
from workhorse.job import Job
from workhorse.store.base import Store

FAST = {"lock_duration": 0.6, "stalled_interval": 0.2}


async def test_completes_and_returns_value(queue: Queue) -> None:
    job = await queue.add("double", {"n": 21})

    async def handler(j: Job) -> Any:
        return {"n": j.data["n"] * 2}

    await Worker(queue, handler).run(burst=True)
    assert await job.result(timeout=5) == {"n": 42}
    done = await queue.get_job(job.id)
    assert done is not None
    assert done.state is JobState.COMPLETED
    assert done.attempts_made == 1
    assert done.started_at is not None and done.finished_at is not None


async def test_sync_handler_runs_in_a_thread(queue: Queue) -> None:
    job = await queue.add("sync", {"n": 2})

    def handler(j: Job) -> int:
        time.sleep(0.05)
        return int(j.data["n"]) + 1

    await Worker(queue, handler).run(burst=True)
    assert await job.result(timeout=5) == 3


async def test_retries_then_succeeds_with_history(queue: Queue) -> None:
    job = await queue.add("flaky", None, attempts=3, backoff=Backoff("fixed", delay=0.05))
    calls: list[int] = []

    async def handler(j: Job) -> str:
        calls.append(j.attempts_made)
        if len(calls) < 3:
            raise ConnectionError(f"boom {len(calls)}")
        return "ok"

    await Worker(queue, handler).run(burst=True)
    assert calls == [0, 1, 2]
    assert await job.result(timeout=5) == "ok"
    history = await queue.get_history(job.id)
    assert [h["error"] for h in history] == ["boom 1", "boom 2"]
    assert "ConnectionError" in history[0]["stack"]


async def test_attempts_exhausted_fails_with_reason_and_stack(queue: Queue) -> None:
    job = await queue.add("bad", None, attempts=2)

    async def handler(j: Job) -> None:
        raise ValueError("no such user")

    await Worker(queue, handler).run(burst=True)
    with pytest.raises(JobFailed, match="no such user"):
        await job.result(timeout=5)
    failed = await queue.get_job(job.id)
    assert failed is not None
    assert failed.state is JobState.FAILED
    assert failed.attempts_made == 2
    assert failed.stacktrace is not None and "ValueError" in failed.stacktrace


async def test_unrecoverable_error_fails_at_once(queue: Queue) -> None:
    job = await queue.add("bad", None, attempts=5)
    calls = 0

    async def handler(j: Job) -> None:
        nonlocal calls
        calls += 1
        raise UnrecoverableError("invalid payload")

    await Worker(queue, handler).run(burst=True)
    assert calls == 1
    failed = await queue.get_job(job.id)
    assert failed is not None and failed.failed_reason == "invalid payload"


async def test_exponential_backoff_delays_grow(queue: Queue) -> None:
    job = await queue.add("x", None, attempts=3, backoff=Backoff("exponential", delay=0.1))
    starts: list[float] = []

    async def handler(j: Job) -> None:
        starts.append(time.monotonic())
        if len(starts) < 3:
            raise RuntimeError("again")

    await Worker(queue, handler).run(burst=True)
    await job.result(timeout=5)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps[0] >= 0.1
    assert gaps[1] >= 0.2


async def test_custom_backoff_strategy_receives_attempt_and_error(queue: Queue) -> None:
    job = await queue.add("x", None, attempts=2, backoff=Backoff("custom", strategy="by-error"))
    seen: list[tuple[int, str]] = []

    def strategy(attempt: int, error: BaseException) -> float:
        seen.append((attempt, str(error)))
        return 0.01

    async def handler(j: Job) -> str:
        if j.attempts_made == 0:
            raise RuntimeError("429")
        return "done"

    worker = Worker(queue, handler, backoff_strategies={"by-error": strategy})
    await worker.run(burst=True)
    assert seen == [(1, "429")]
    assert await job.result(timeout=5) == "done"


async def test_unknown_custom_strategy_fails_with_a_clear_reason(queue: Queue) -> None:
    job = await queue.add("x", None, attempts=3, backoff=Backoff("custom", strategy="nope"))

    async def handler(j: Job) -> None:
        raise RuntimeError("fail")

    await Worker(queue, handler).run(burst=True)
    failed = await queue.get_job(job.id)
    assert failed is not None and failed.failed_reason is not None
    assert "not registered" in failed.failed_reason


async def test_timeout_fails_attempt_with_reason_timeout(queue: Queue) -> None:
    job = await queue.add("slow", None, timeout=0.1)

    async def handler(j: Job) -> None:
        await asyncio.sleep(10)

    await Worker(queue, handler).run(burst=True)
    failed = await queue.get_job(job.id)
    assert failed is not None
    assert failed.failed_reason == "timeout"
    assert failed.stacktrace is not None and "time limit of 0.1 s" in failed.stacktrace


async def test_non_json_return_value_fails_without_retry(queue: Queue) -> None:
    job = await queue.add("x", None, attempts=3)

    async def handler(j: Job) -> object:
        return object()

    await Worker(queue, handler).run(burst=True)
    failed = await queue.get_job(job.id)
    assert failed is not None and failed.attempts_made == 1
    assert "JSON" in (failed.failed_reason or "")


async def test_progress_and_logs_are_stored_and_published(queue: Queue) -> None:
    job = await queue.add("report", None)
    start = await queue.store.last_event_position(queue.name)

    async def handler(j: Job) -> None:
        await j.update_progress(50)
        await j.update_progress({"currentStep": "write", "overallProgress": 80})
        await j.log("half way")

    await Worker(queue, handler).run(burst=True)
    stored = await queue.get_job(job.id)
    assert stored is not None
    assert stored.progress == {"currentStep": "write", "overallProgress": 80}
    assert await queue.get_logs(job.id) == ["half way"]
    events = await queue.store.read_events(queue.name, start)
    kinds = [(e.event, e.fields.get("data") or e.fields.get("line")) for e in events]
    assert ("progress", "50") in kinds
    assert ("log", "half way") in kinds
    assert [e.event for e in events][-1] == "completed"
    with pytest.raises(ValueError, match="progress"):
        await stored.update_progress(150)


async def test_concurrency_limit_is_respected(queue: Queue) -> None:
    await queue.add_bulk([("x", None) for _ in range(20)])
    running = 0
    peak = 0

    async def handler(j: Job) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1

    await Worker(queue, handler, concurrency=4).run(burst=True)
    assert peak == 4
    assert (await queue.counts())[JobState.COMPLETED] == 20


async def test_two_workers_never_run_a_job_twice(
    queue: Queue, make_store: Callable[..., Store]
) -> None:
    other_store = make_store()
    other = Queue(queue.name, other_store)
    await queue.add_bulk([("x", {"i": i}) for i in range(300)])
    seen: list[str] = []

    async def handler(j: Job) -> None:
        seen.append(j.id)
        await asyncio.sleep(0)

    await asyncio.gather(
        Worker(queue, handler, concurrency=7).run(burst=True),
        Worker(other, handler, concurrency=5).run(burst=True),
    )
    await other_store.close()
    assert len(seen) == 300
    assert len(set(seen)) == 300


async def test_hooks_fire_and_a_failing_hook_is_isolated(queue: Queue) -> None:
    ok = await queue.add("ok", None)
    bad = await queue.add("bad", None)
    fired: list[tuple[str, str]] = []

    async def handler(j: Job) -> str:
        if j.name == "bad":
            raise RuntimeError("nope")
        return "fine"

    async def on_completed(job: Job, value: Any) -> None:
        fired.append(("completed", job.id))
        raise RuntimeError("hook bug")

    async def on_failed(job: Job, error: BaseException) -> None:
        fired.append(("failed", job.id))

    worker = Worker(queue, handler)
    worker.on("completed", on_completed)
    worker.on("failed", on_failed)
    await worker.run(burst=True)
    assert ("completed", ok.id) in fired
    assert ("failed", bad.id) in fired
    assert await ok.result(timeout=5) == "fine"
    with pytest.raises(ValueError, match="unknown hook"):
        worker.on("finished", on_failed)


async def test_cancel_active_job_stops_it(queue: Queue) -> None:
    job = await queue.add("long", None, attempts=3)
    started = asyncio.Event()
    finished_normally = False

    async def handler(j: Job) -> None:
        nonlocal finished_normally
        started.set()
        await asyncio.sleep(30)
        finished_normally = True

    worker = Worker(queue, handler, lock_duration=1.0)
    run = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 5)
    assert await queue.cancel(job.id) is JobState.ACTIVE
    with pytest.raises(JobFailed, match="cancelled"):
        await job.result(timeout=5)
    await worker.close()
    await run
    assert not finished_normally
    stored = await queue.get_job(job.id)
    assert stored is not None and stored.attempts_made == 1, "a cancel is not retried"


async def test_cancel_waiting_job(queue: Queue) -> None:
    job = await queue.add("x", None)
    assert await queue.cancel(job.id) is JobState.WAITING
    stored = await queue.get_job(job.id)
    assert stored is not None and stored.state is JobState.FAILED
    assert stored.failed_reason == "cancelled"
    assert await queue.cancel("missing-job") is None


async def test_stalled_job_is_recovered_and_completed(queue: Queue) -> None:
    job = await queue.add("x", {"v": 1})
    # A "dead worker": takes the job with a short lock and never renews or finishes.
    taken, _ = await queue.store.fetch(queue.name, "dead-worker", [], 1, 200)
    assert [j.id for j in taken] == [job.id]

    async def handler(j: Job) -> str:
        return "recovered"

    await Worker(queue, handler, **FAST).run(burst=True)
    assert await job.result(timeout=5) == "recovered"
    done = await queue.get_job(job.id)
    assert done is not None and done.stalled_count == 1
    # The dead worker's late outcome is refused: the job stays completed once.
    _, refused = await queue.store.fetch(queue.name, "dead-worker", [_complete(job.id)], 0, 1000)
    assert refused == [job.id]


async def test_job_stalled_too_often_fails(queue: Queue) -> None:
    job = await queue.add("x", None)
    for _ in range(2):
        taken, _ = await queue.store.fetch(queue.name, "dead", [], 1, 1)
        assert taken
        await asyncio.sleep(0.01)
        await queue.store.recover_stalled(queue.name, max_stalled=1)
    failed = await queue.get_job(job.id)
    assert failed is not None and failed.state is JobState.FAILED
    assert "stalled more than 1" in (failed.failed_reason or "")


async def test_lock_is_renewed_while_the_event_loop_is_blocked(queue: Queue) -> None:
    """CPU-bound code on the loop must not lose its lock (renewal runs on a thread)."""
    job = await queue.add("cpu", None)
    runs = 0

    async def handler(j: Job) -> str:
        nonlocal runs
        runs += 1
        time.sleep(1.5)  # noqa: ASYNC251 -- blocks the loop for 2.5x the lock duration
        return "ok"

    await Worker(queue, handler, lock_duration=0.6, stalled_interval=0.2).run(burst=True)
    assert runs == 1
    done = await queue.get_job(job.id)
    assert done is not None and done.stalled_count == 0
    assert done.returnvalue == "ok"


async def test_graceful_close_releases_unfinished_jobs(queue: Queue) -> None:
    quick = await queue.add("quick", None)
    slow = await queue.add("slow", None)
    started = asyncio.Event()

    async def handler(j: Job) -> str:
        if j.name == "slow":
            started.set()
            await asyncio.sleep(30)
        return j.name

    worker = Worker(queue, handler, concurrency=2)
    run = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 5)
    await worker.close(grace=0.2)
    await run
    assert await quick.result(timeout=5) == "quick"
    released = await queue.get_job(slow.id)
    assert released is not None
    assert released.state is JobState.WAITING, "released for another worker at once"
    assert released.attempts_made == 0, "a released job does not lose an attempt"

    async def finish(j: Job) -> str:
        return "done elsewhere"

    await Worker(queue, finish).run(burst=True)
    assert await slow.result(timeout=5) == "done elsewhere"


async def test_idle_worker_wakes_for_new_and_delayed_jobs(queue: Queue) -> None:
    got: asyncio.Queue[str] = asyncio.Queue()

    async def handler(j: Job) -> None:
        await got.put(j.name)

    worker = Worker(queue, handler, block_timeout=30)
    run = asyncio.create_task(worker.run())
    await asyncio.sleep(0.1)  # let it block on the store
    t0 = time.monotonic()
    await queue.add("now", None)
    assert await asyncio.wait_for(got.get(), 5) == "now"
    assert time.monotonic() - t0 < 2, "woken by the add, not by the 30 s block timeout"
    await queue.add("later", None, delay=0.3)
    assert await asyncio.wait_for(got.get(), 5) == "later"
    await worker.close()
    await run


async def test_paused_queue_is_not_taken_until_resumed(queue: Queue) -> None:
    await queue.pause()
    got: asyncio.Queue[str] = asyncio.Queue()

    async def handler(j: Job) -> None:
        await got.put(j.id)

    worker = Worker(queue, handler, block_timeout=30)
    run = asyncio.create_task(worker.run())
    job = await queue.add("x", None)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(got.get(), 0.3)
    await queue.resume()
    assert await asyncio.wait_for(got.get(), 5) == job.id
    await worker.close()
    await run


def _complete(job_id: str) -> Any:
    from workhorse.store.base import Outcome, OutcomeKind

    return Outcome(job_id, OutcomeKind.COMPLETE, b"1")
