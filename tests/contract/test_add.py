"""Adding jobs: options, validation, deduplication, ordering."""

from __future__ import annotations

import pytest

from workhorse import Backoff, JobOptions, JobState, Queue, Retention, Worker
from workhorse.job import Job


async def drain_order(queue: Queue) -> list[str]:
    seen: list[str] = []

    async def handler(job: Job) -> None:
        seen.append(job.name)

    await Worker(queue, handler, concurrency=1).run(burst=True)
    return seen


async def test_add_returns_job_with_id_and_state(queue: Queue) -> None:
    job = await queue.add("send", {"to": "a@example.com"}, tags=("mail",), owner="alice")
    stored = await queue.get_job(job.id)
    assert stored is not None
    assert stored.name == "send"
    assert stored.data == {"to": "a@example.com"}
    assert stored.state is JobState.WAITING
    assert stored.tags == ["mail"]
    assert stored.owner == "alice"
    assert stored.created_at > 0


@pytest.mark.parametrize(
    ("overrides", "option"),
    [
        ({"delay": -1}, "delay"),
        ({"attempts": 0}, "attempts"),
        ({"priority": 0}, "priority"),
        ({"priority": "urgent"}, "priority"),
        ({"timeout": 0}, "timeout"),
        ({"job_id": "123"}, "job_id"),
        ({"remove_on_complete": -2}, "remove_on_complete"),
        ({"tags": "oops"}, "tags"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_invalid_options_raise_and_store_nothing(
    queue: Queue, overrides: dict[str, object], option: str
) -> None:
    with pytest.raises(ValueError, match=option):
        await queue.add("x", {}, **overrides)
    assert sum((await queue.counts()).values()) == 0


def test_unknown_backoff_type_is_rejected() -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff("linear")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="strategy"):
        Backoff("custom")


async def test_unserialisable_data_is_rejected(queue: Queue) -> None:
    with pytest.raises(ValueError, match="data must be JSON"):
        await queue.add("x", {"when": object()})
    assert sum((await queue.counts()).values()) == 0


async def test_job_id_deduplicates(queue: Queue) -> None:
    first = await queue.add("x", {"v": 1}, job_id="email-42")
    again = await queue.add("x", {"v": 2}, job_id="email-42")
    assert first.id == again.id == "email-42"
    assert again.data == {"v": 1}, "the existing job is returned untouched"
    assert (await queue.counts())[JobState.WAITING] == 1


async def test_bulk_is_atomic_and_deduplicates(queue: Queue) -> None:
    jobs = await queue.add_bulk(
        [("a", {"i": 1}), ("b", {"i": 2}, JobOptions(job_id="fixed")), ("c", {"i": 3})]
    )
    dup = await queue.add_bulk([("d", {}, JobOptions(job_id="fixed"))])
    assert [j.name for j in jobs] == ["a", "b", "c"]
    assert dup[0].id == "fixed"
    assert (await queue.counts())[JobState.WAITING] == 3
    with pytest.raises(ValueError, match="data must be JSON"):
        await queue.add_bulk([("ok", {}), ("bad", {"x": object()})])
    assert (await queue.counts())[JobState.WAITING] == 3, "a bad item stores nothing"


async def test_fifo_order(queue: Queue) -> None:
    await queue.add_bulk([(f"j{i}", None) for i in range(5)])
    assert await drain_order(queue) == [f"j{i}" for i in range(5)]


async def test_priority_order_and_named_levels(queue: Queue) -> None:
    await queue.add("plain", None)
    await queue.add("low", None, priority="low")
    await queue.add("high", None, priority="high")
    await queue.add("p3", None, priority=3)
    await queue.add("high2", None, priority=1)
    counts = await queue.counts()
    assert counts[JobState.PRIORITIZED] == 4
    assert counts[JobState.WAITING] == 1
    assert await drain_order(queue) == ["high", "high2", "p3", "low", "plain"]


async def test_fifo_first_runs_unprioritized_first(queue: Queue) -> None:
    await queue.set_fifo_first(True)
    await queue.add("prio", None, priority=1)
    await queue.add("plain", None)
    assert await drain_order(queue) == ["plain", "prio"]


async def test_delayed_job_waits_until_due(queue: Queue) -> None:
    job = await queue.add("later", None, delay=0.3)
    now = await queue.add("now", None)
    stored = await queue.get_job(job.id)
    assert stored is not None
    assert stored.state is JobState.DELAYED
    assert stored.due_at is not None and stored.due_at - stored.created_at == 300
    assert await drain_order(queue) == ["now", "later"]
    finished = await queue.get_job(job.id)
    assert finished is not None and finished.started_at is not None
    assert finished.started_at >= stored.due_at
    assert (await queue.get_job(now.id)) is not None


async def test_retention_option_forms(queue: Queue) -> None:
    opts = queue.options(remove_on_complete=True, remove_on_fail=Retention(age=60, count=5))
    assert opts.remove_on_complete is True
    with pytest.raises(ValueError, match="retention"):
        Retention(age=-1)
