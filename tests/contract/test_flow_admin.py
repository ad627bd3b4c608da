"""Admin steps on flows: removing, cancelling, retrying or redriving a parent, and
obliterating a queue that flows reach into, settle the rest of the flow."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from workhorse import JobState, Queue, RedisStore, Worker
from workhorse.flow import FlowJob, FlowTree, add_flow
from workhorse.job import Job
from workhorse.store.base import Store

BURST_TIMEOUT = 15.0
WC = JobState.WAITING_CHILDREN


class Parts:
    """A handler whose ``bad`` jobs fail while ``broken`` is set."""

    def __init__(self) -> None:
        self.broken = True

    async def handle(self, job: Job) -> Any:
        if job.name == "bad" and self.broken:
            raise RuntimeError(f"bad part {job.data}")
        if job.name == "merge":
            return {"values": await job.children_values(), "failed": await job.children_failures()}
        return job.data * 10

    async def run(self, store: Store, *queues: str) -> None:
        """Run each queue's jobs in burst mode, in this order (children first)."""
        for name in queues:
            worker = Worker(Queue(name, store), self.handle)
            await asyncio.wait_for(worker.run(burst=True), BURST_TIMEOUT)


async def report(store: Store, *children: FlowJob) -> FlowTree:
    """Add a "reports" parent that merges ``children``."""
    return await add_flow(store, FlowJob("reports", "merge", children=list(children)))


def ref(tree: FlowTree) -> str:
    return f"{tree.job.queue_name}:{tree.job.id}"


async def state(store: Store, tree: FlowTree) -> JobState | None:
    return await Queue(tree.job.queue_name, store).get_state(tree.job.id)


async def job(store: Store, tree: FlowTree) -> Job:
    found = await Queue(tree.job.queue_name, store).get_job(tree.job.id)
    assert found is not None
    return found


async def total(store: Store, queue: str) -> int:
    return sum((await Queue(queue, store).counts()).values())


async def event_names(store: Store, queue: str, job_id: str) -> list[str]:
    return [e.event for e in await store.read_events(queue, "0") if e.job_id == job_id]


async def test_removing_a_parent_removes_what_it_waits_for_down_the_tree(store: Store) -> None:
    tree = await report(
        store,
        FlowJob("exports", "part", 1),
        FlowJob("exports", "part", 2),
        FlowJob("middle", "merge", children=[FlowJob("exports", "part", 3)]),
    )
    running, waiting, middle = tree.children
    taken, _ = await store.fetch("exports", "tok", [], 1, 60_000)
    assert [j.id for j in taken] == [running.job.id]
    other = await Queue("exports", store).add("part", 9)

    assert await Queue("reports", store).remove(tree.job.id) is True

    for gone in (tree, waiting, middle, middle.children[0]):
        assert await state(store, gone) is None
    assert await total(store, "middle") == 0
    # The running child is asked to stop (its worker cancels it); unrelated jobs stay.
    assert await state(store, running) is JobState.ACTIVE
    assert "cancelling" in await event_names(store, "exports", running.job.id)
    assert await Queue("exports", store).get_state(other.id) is JobState.WAITING
    assert await total(store, "exports") == 2


async def test_cancelling_a_waiting_parent_cancels_what_it_waits_for(store: Store) -> None:
    tree = await report(
        store,
        FlowJob("exports", "part", 1),
        FlowJob("middle", "merge", children=[FlowJob("exports", "part", 2)]),
    )
    assert await Queue("reports", store).cancel(tree.job.id) is WC
    child, middle = tree.children
    for cancelled in (tree, child, middle, middle.children[0]):
        found = await job(store, cancelled)
        assert found.state is JobState.FAILED
        assert found.failed_reason == "cancelled"
    # Cancelled on purpose: no dead letters, and the parent knows each child's end.
    for queue in ("reports", "middle", "exports"):
        assert await store.dead_letter_count(queue) == 0
    assert await store.pending_children("reports", tree.job.id) == []
    assert (await (await job(store, tree)).children_failures()) == {
        ref(child): "cancelled",
        ref(middle): "cancelled",
    }


async def test_retrying_a_parent_reruns_its_failed_children_first(store: Store) -> None:
    parts = Parts()
    tree = await report(store, FlowJob("exports", "bad", 1), FlowJob("exports", "part", 2))
    bad, good = tree.children
    await parts.run(store, "exports")
    failed = await job(store, tree)
    assert failed.state is JobState.FAILED
    assert failed.failed_reason == f"child {ref(bad)} failed: bad part 1"

    parts.broken = False
    await Queue("reports", store).retry_job(tree.job.id)
    assert await state(store, tree) is WC
    assert await state(store, bad) is JobState.WAITING
    assert await store.pending_children("reports", tree.job.id) == [ref(bad)]
    assert await state(store, good) is JobState.COMPLETED  # kept, with its result

    await parts.run(store, "exports", "reports")
    done = await job(store, tree)
    assert done.state is JobState.COMPLETED
    assert done.returnvalue == {"values": {ref(bad): 10, ref(good): 20}, "failed": {}}
    assert done.attempts_made == 1


async def test_redriving_a_dead_lettered_parent_reruns_failed_children_down_the_tree(
    store: Store,
) -> None:
    parts = Parts()
    tree = await report(store, FlowJob("middle", "merge", children=[FlowJob("exports", "bad", 3)]))
    middle = tree.children[0]
    leaf = middle.children[0]
    await parts.run(store, "exports")
    assert [j.id for j in await store.dead_letters("reports")] == [tree.job.id]

    parts.broken = False
    await Queue("reports", store).redrive(tree.job.id)
    assert await store.dead_letter_count("reports") == 0
    assert await state(store, tree) is WC
    assert await state(store, middle) is WC
    assert await state(store, leaf) is JobState.WAITING

    await parts.run(store, "exports", "middle", "reports")
    done = await job(store, tree)
    assert done.state is JobState.COMPLETED
    assert done.returnvalue["values"] == {
        ref(middle): {"values": {ref(leaf): 30}, "failed": {}},
    }


async def test_retrying_a_parent_uses_what_became_of_its_failed_children(store: Store) -> None:
    """A failed child retried on its own and completed gives its result; one removed
    stays recorded as failed, and the parent runs with what it has."""
    parts = Parts()
    tree = await report(
        store,
        FlowJob("exports", "bad", 1, fail_parent_on_failure=False),
        FlowJob("exports", "bad", 2),
    )
    lenient, strict = tree.children
    await parts.run(store, "exports")
    assert await state(store, tree) is JobState.FAILED

    parts.broken = False
    exports = Queue("exports", store)
    await exports.retry_job(strict.job.id)
    await parts.run(store, "exports")
    assert await state(store, strict) is JobState.COMPLETED
    assert await state(store, tree) is JobState.FAILED  # a child's retry leaves it be
    assert await exports.remove(lenient.job.id) is True

    await Queue("reports", store).retry_job(tree.job.id)
    assert await state(store, tree) is JobState.WAITING
    await parts.run(store, "reports")
    done = await job(store, tree)
    assert done.state is JobState.COMPLETED
    assert done.returnvalue == {
        "values": {ref(strict): 20},
        "failed": {ref(lenient): "bad part 1"},
    }


async def test_retrying_a_completed_parent_runs_it_again_on_the_same_results(
    store: Store,
) -> None:
    parts = Parts()
    tree = await report(store, FlowJob("exports", "part", 4))
    await parts.run(store, "exports", "reports")
    await Queue("reports", store).retry_job(tree.job.id, JobState.COMPLETED)
    assert await state(store, tree) is JobState.WAITING
    assert await store.pending_children("reports", tree.job.id) == []
    await parts.run(store, "reports")
    done = await job(store, tree)
    assert done.returnvalue == {"values": {ref(tree.children[0]): 40}, "failed": {}}
    assert await total(store, "exports") == 1


async def test_obliterating_a_queue_settles_parents_waiting_in_other_queues(
    store: Store,
) -> None:
    parts = Parts()
    strict = await report(store, FlowJob("exports", "part", 1))
    lenient = await report(
        store,
        FlowJob("exports", "part", 2, fail_parent_on_failure=False),
        FlowJob("mail", "part", 3),
    )
    await Queue("exports", store).obliterate()

    failed = await job(store, strict)
    assert failed.state is JobState.FAILED
    assert failed.failed_reason == f"child {ref(strict.children[0])} failed: removed"
    assert await state(store, lenient) is WC
    await parts.run(store, "mail", "reports")
    done = await job(store, lenient)
    assert done.state is JobState.COMPLETED
    assert done.returnvalue == {
        "values": {ref(lenient.children[1]): 30},
        "failed": {ref(lenient.children[0]): "removed"},
    }


async def test_obliterating_a_queue_removes_the_children_its_parents_wait_for(
    store: Store,
) -> None:
    tree = await report(
        store,
        FlowJob("exports", "part", 1),
        FlowJob("middle", "merge", children=[FlowJob("exports", "part", 2)]),
    )
    mine = await Queue("exports", store).add("part", 5)
    await Queue("reports", store).obliterate()

    child, middle = tree.children
    for gone in (child, middle, middle.children[0]):
        assert await state(store, gone) is None
    assert await total(store, "middle") == 0
    assert [j.id for j in await Queue("exports", store).list_jobs(JobState.WAITING)] == [mine.id]
    assert "reports" not in await store.queues()


async def test_a_queue_name_with_a_colon_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="colons"):
        await Queue("billing:eu", store).add("x")


async def test_a_removal_left_half_done_by_a_crash_is_finished_by_the_stalled_check(
    store: Store,
) -> None:
    if not isinstance(store, RedisStore):
        pytest.skip("the embedded store removes the whole tree in one transaction")
    tree = await report(store, FlowJob("exports", "part", 1), FlowJob("exports", "part", 2))
    # The parent's step alone, as if the process died before telling the children.
    assert await store._run("remove", "reports", tree.job.id) == 1
    assert await store.redis.llen(store.keys("reports").outbox) == 2
    assert await total(store, "exports") == 2

    await store.recover_stalled("reports", max_stalled=1)
    assert await total(store, "exports") == 0
    assert await store.redis.llen(store.keys("reports").outbox) == 0
