"""Flows: parents that wait for their children, across queues of one store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from tests.clocks import FakeClock
from workhorse import JobState, Queue, RedisStore, Worker
from workhorse.flow import FlowJob, add_flow
from workhorse.job import Job
from workhorse.options import JobOptions
from workhorse.store.base import FlowNode, NewJob, Store

BURST_TIMEOUT = 15.0
WC = JobState.WAITING_CHILDREN


async def handler(job: Job) -> Any:
    if job.name == "bad":
        raise RuntimeError(f"bad part {job.data}")
    if job.name == "merge":
        return {"values": await job.children_values(), "failed": await job.children_failures()}
    return job.data * 10


async def run(store: Store, *queues: str) -> None:
    """Run each queue's jobs in burst mode, in this order (children first)."""
    for name in queues:
        await asyncio.wait_for(Worker(Queue(name, store), handler).run(burst=True), BURST_TIMEOUT)


async def test_parent_waits_for_children_in_another_queue_and_reads_them(
    store: Store,
) -> None:
    reports, exports = Queue("reports", store), Queue("exports", store)
    tree = await add_flow(
        store,
        FlowJob(
            "reports",
            "merge",
            {"title": "t"},
            children=[FlowJob("exports", "part", 1), FlowJob("exports", "part", 2)],
        ),
    )
    parent = tree.job
    assert parent.state is WC
    stored = await reports.get_job(parent.id)
    assert stored is not None and stored.state is WC
    assert (await reports.counts())[WC] == 1
    assert [j.id for j in await reports.list_jobs(WC)] == [parent.id]

    await run(store, "reports")  # nothing to run yet: the parent waits
    assert await reports.get_state(parent.id) is WC

    await run(store, "exports", "reports")
    ids = [c.job.id for c in tree.children]
    result = await reports.get_job(parent.id)
    assert result is not None and result.state is JobState.COMPLETED
    assert result.returnvalue == {
        "values": {f"exports:{ids[0]}": 10, f"exports:{ids[1]}": 20},
        "failed": {},
    }
    assert (await exports.counts())[JobState.COMPLETED] == 2


async def test_failing_child_fails_the_parent_by_default(store: Store) -> None:
    reports = Queue("reports", store)
    tree = await add_flow(
        store,
        FlowJob(
            "reports",
            "merge",
            children=[FlowJob("exports", "bad", 1), FlowJob("exports", "part", 2)],
        ),
    )
    await run(store, "exports")
    parent = await reports.get_job(tree.job.id)
    assert parent is not None
    assert parent.state is JobState.FAILED
    bad_ref = f"exports:{tree.children[0].job.id}"
    assert parent.failed_reason == f"child {bad_ref} failed: bad part 1"
    # The other child still ran; the parent never did.
    assert await Queue("exports", store).get_state(tree.children[1].job.id) is (JobState.COMPLETED)
    assert parent.started_at is None


async def test_child_may_fail_without_failing_the_parent(store: Store) -> None:
    reports = Queue("reports", store)
    tree = await add_flow(
        store,
        FlowJob(
            "reports",
            "merge",
            children=[
                FlowJob("exports", "bad", 1, fail_parent_on_failure=False),
                FlowJob("exports", "part", 2),
            ],
        ),
    )
    await run(store, "exports", "reports")
    bad, good = (f"exports:{c.job.id}" for c in tree.children)
    parent = await reports.get_job(tree.job.id)
    assert parent is not None and parent.state is JobState.COMPLETED
    assert parent.returnvalue == {"values": {good: 20}, "failed": {bad: "bad part 1"}}


async def test_cancelled_child_fails_the_parent(store: Store) -> None:
    reports, exports = Queue("reports", store), Queue("exports", store)
    tree = await add_flow(
        store, FlowJob("reports", "merge", children=[FlowJob("exports", "part", 1)])
    )
    assert await exports.cancel(tree.children[0].job.id) is JobState.WAITING
    parent = await reports.get_job(tree.job.id)
    assert parent is not None and parent.state is JobState.FAILED
    assert parent.failed_reason is not None and parent.failed_reason.endswith("cancelled")


async def test_removed_or_drained_children_never_leave_the_parent_waiting(
    store: Store,
) -> None:
    reports, exports = Queue("reports", store), Queue("exports", store)
    strict = await add_flow(
        store, FlowJob("reports", "merge", children=[FlowJob("exports", "part", 1)])
    )
    assert await exports.remove(strict.children[0].job.id) is True
    parent = await reports.get_job(strict.job.id)
    assert parent is not None and parent.state is JobState.FAILED
    assert parent.failed_reason == f"child exports:{strict.children[0].job.id} failed: removed"

    lenient = await add_flow(
        store,
        FlowJob(
            "reports",
            "merge",
            children=[FlowJob("exports", "part", i, fail_parent_on_failure=False) for i in (2, 3)],
        ),
    )
    assert await exports.drain() == 2
    await run(store, "reports")
    done = await reports.get_job(lenient.job.id)
    assert done is not None and done.state is JobState.COMPLETED
    refs = [f"exports:{c.job.id}" for c in lenient.children]
    assert done.returnvalue == {"values": {}, "failed": dict.fromkeys(refs, "removed")}


async def test_nested_flow_over_three_queues(store: Store) -> None:
    tree = await add_flow(
        store,
        FlowJob(
            "reports",
            "merge",
            children=[
                FlowJob("middle", "merge", children=[FlowJob("exports", "part", 3)]),
                FlowJob("exports", "part", 4),
            ],
        ),
    )
    middle = tree.children[0]
    assert middle.job.state is WC
    await run(store, "exports", "middle", "reports")
    root = await Queue("reports", store).get_job(tree.job.id)
    assert root is not None and root.state is JobState.COMPLETED
    inner_ref = f"exports:{middle.children[0].job.id}"
    assert root.returnvalue["values"] == {
        f"middle:{middle.job.id}": {"values": {inner_ref: 30}, "failed": {}},
        f"exports:{tree.children[1].job.id}": 40,
    }


async def test_nested_failure_propagates_to_the_root(store: Store) -> None:
    tree = await add_flow(
        store,
        FlowJob(
            "reports",
            "merge",
            children=[FlowJob("middle", "merge", children=[FlowJob("exports", "bad", 5)])],
        ),
    )
    await run(store, "exports")
    middle = await Queue("middle", store).get_job(tree.children[0].job.id)
    root = await Queue("reports", store).get_job(tree.job.id)
    assert middle is not None and middle.state is JobState.FAILED
    assert root is not None and root.state is JobState.FAILED
    assert root.failed_reason == (
        f"child middle:{middle.id} failed: child exports:{tree.children[0].children[0].job.id} "
        "failed: bad part 5"
    )


async def test_add_flow_again_completes_a_partly_added_flow_and_adds_nothing_twice(
    store: Store,
) -> None:
    reports, exports = Queue("reports", store), Queue("exports", store)
    # A producer that died after the parent's step: the parent waits for "r1.0".
    await store.add_flow(
        [
            FlowNode(
                "reports",
                NewJob("merge", b"null", b"{}", job_id="r1"),
                children=("exports:r1.0",),
            )
        ]
    )
    flow = FlowJob(
        "reports",
        "merge",
        options=JobOptions(job_id="r1"),
        children=[FlowJob("exports", "part", 7)],
    )
    again = await add_flow(store, flow)
    assert again.created is False
    assert again.children[0].job.id == "r1.0"
    assert again.children[0].created is True
    third = await add_flow(store, flow)
    assert third.created is False and third.children[0].created is False
    assert sum((await exports.counts()).values()) == 1

    await run(store, "exports", "reports")
    parent = await reports.get_job("r1")
    assert parent is not None and parent.state is JobState.COMPLETED
    assert parent.returnvalue == {"values": {"exports:r1.0": 70}, "failed": {}}


async def test_invalid_flow_stores_nothing(store: Store) -> None:
    bad_children: list[Any] = [FlowJob("exports", "part", 1), "not a flow job"]
    with pytest.raises(ValueError, match="children must be FlowJob"):
        await add_flow(store, FlowJob("reports", "merge", children=bad_children))
    with pytest.raises(ValueError, match="data must be JSON-serialisable"):
        await add_flow(
            store, FlowJob("reports", "merge", children=[FlowJob("exports", "p", {1, 2})])
        )
    with pytest.raises(ValueError, match="queue name"):
        await add_flow(store, FlowJob("reports", "merge", children=[FlowJob("a b", "p")]))
    for name in ("reports", "exports"):
        assert sum((await Queue(name, store).counts()).values()) == 0


async def test_notice_left_by_a_crash_is_delivered_once_by_the_stalled_check(
    store: Store,
) -> None:
    if not isinstance(store, RedisStore):
        pytest.skip("the embedded store updates the parent in the child's own transaction")
    reports = Queue("reports", store)
    tree = await add_flow(
        store, FlowJob("reports", "merge", children=[FlowJob("exports", "part", 1)])
    )
    child_id = tree.children[0].job.id
    taken, _ = await store.fetch("exports", "tok", [], 1, 60_000)
    assert [j.id for j in taken] == [child_id]
    # The finishing step alone, as if the process died before delivering its notice.
    _taken, _refused, notices = await store._run(
        "fetch", "exports", "tok", store.clock() + 60_000, 0, 1, child_id, "c", b"10", "", 0
    )
    assert notices == 1
    assert await reports.get_state(tree.job.id) is WC
    outbox = store.keys("exports").outbox
    (entry,) = await store.redis.lrange(outbox, 0, -1)

    await store.recover_stalled("exports", max_stalled=1)
    assert await reports.get_state(tree.job.id) is JobState.WAITING
    assert await store.redis.llen(outbox) == 0

    # Delivered again (a crash after the parent's step, before the notice was
    # deleted): nothing changes.
    await store.redis.rpush(outbox, entry)
    await store.recover_stalled("exports", max_stalled=1)
    parent = await reports.get_job(tree.job.id)
    assert parent is not None and parent.state is JobState.WAITING
    assert await parent.children_values() == {f"exports:{child_id}": 10}
    assert (await reports.counts())[JobState.WAITING] == 1


async def test_a_child_names_its_parent_and_the_parent_lists_what_it_waits_for(
    store: Store,
) -> None:
    tree = await add_flow(
        store,
        FlowJob(
            "reports",
            "merge",
            None,
            children=[FlowJob("exports", "part", 1), FlowJob("mail", "part", 2)],
        ),
    )
    parent = tree.job
    first, second = (c.job for c in tree.children)
    refs = sorted([f"exports:{first.id}", f"mail:{second.id}"])
    assert await store.pending_children("reports", parent.id) == refs
    child = await Queue("exports", store).get_job(first.id)
    assert child is not None and child.parent == f"reports:{parent.id}"
    top = await Queue("reports", store).get_job(parent.id)
    assert top is not None and top.parent is None

    await run(store, "exports")
    assert await store.pending_children("reports", parent.id) == [f"mail:{second.id}"]
    await run(store, "mail", "reports")
    assert await store.pending_children("reports", parent.id) == []


async def test_a_flow_appears_all_at_once(store: Store) -> None:
    """Another client never sees a parent without all of its children."""
    size = 300
    root = FlowJob(
        "reports",
        "merge",
        None,
        options=JobOptions(job_id="atomic-flow"),
        children=[FlowJob("parts", "part", i) for i in range(size)],
    )
    reports, parts = Queue("reports", store), Queue("parts", store)
    done = asyncio.Event()
    sightings: list[int] = []

    async def observe() -> None:
        while not done.is_set():
            if await reports.get_job("atomic-flow") is not None:
                sightings.append(sum((await parts.counts()).values()))
            await asyncio.sleep(0)

    watcher = asyncio.create_task(observe())
    await asyncio.sleep(0)
    await add_flow(store, root)
    done.set()
    await watcher
    assert set(sightings) <= {size}
    assert sum((await parts.counts()).values()) == size


async def test_a_parents_delay_runs_from_when_its_children_are_done(
    make_store: Callable[..., Store], store: Store
) -> None:
    clock = FakeClock()
    timed = make_store(clock=clock)
    try:
        tree = await add_flow(
            timed,
            FlowJob(
                "reports",
                "merge",
                None,
                options=JobOptions(delay=60),
                children=[FlowJob("exports", "part", 1)],
            ),
        )
        parent = tree.job
        reports = Queue("reports", timed)
        clock.advance(120)  # longer than the delay: it counts from the children
        await run(timed, "exports")
        waiting = await reports.get_job(parent.id)
        assert waiting is not None and waiting.state is JobState.DELAYED
        assert waiting.due_at == clock() + 60_000
        clock.advance(60)
        await run(timed, "reports")
        done = await reports.get_job(parent.id)
        assert done is not None and done.state is JobState.COMPLETED
        names = [e.event for e in await timed.read_events("reports", "0")]
        assert names.index("delayed") < names.index("active")
    finally:
        await timed.close()
