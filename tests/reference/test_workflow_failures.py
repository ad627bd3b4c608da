"""Workflow failures propagate: a task that fails for good blocks every task that
depends on it, transitively, and none of them is queued; the failed task retried
and succeeding unblocks them, and they run as usual."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from tests.reference.test_workflow import Running, add_quote, add_task, add_users, get, run_workflow
from workhorse import JobFailed
from workhorse.job import JobState
from workhorse.store.base import Store
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import Quote, WorkflowTask
from workhorse_reference.workflow import QUEUE

REMIND = {"subject": "s", "body": "b"}


@pytest.fixture
async def running(store: Store, db: Database) -> AsyncIterator[Running]:
    await add_users(db)
    async with run_workflow(store, db) as started:
        yield started


def blocked_by(task_id: str) -> str:
    return f"depends on task {task_id}, which failed: "


async def statuses(running: Running, *task_ids: str) -> list[str]:
    return [(await get(running.db, WorkflowTask, t)).status for t in task_ids]


async def test_a_task_failing_at_once_blocks_its_dependents_transitively(
    running: Running,
) -> None:
    """a -> b -> c -> e, and b + other -> d: a's bad params fail it without retry."""
    db = running.db
    a = await add_task(db, "set_status", {"entity": "quote"})
    other = await add_task(db, "send_reminder", REMIND)
    b = await add_task(db, "send_reminder", REMIND, depends_on=[a])
    c = await add_task(db, "send_reminder", REMIND, depends_on=[b])
    d = await add_task(db, "send_reminder", REMIND, depends_on=[b, other])
    e = await add_task(db, "send_reminder", REMIND, depends_on=[c])
    unrelated = await add_task(db, "send_reminder", REMIND, depends_on=[other])

    with pytest.raises(JobFailed, match=r"params\.id: Field required"):
        await (await running.run(a)).result(timeout=20)

    failed = await get(db, WorkflowTask, a)
    assert failed.status == "failed"
    for task_id in (b, c, d, e):
        task = await get(db, WorkflowTask, task_id)
        assert task.status == "blocked"
        assert task.result == {"blockedBy": a, "reason": blocked_by(a) + failed.result["error"]}
    assert await statuses(running, other, unrelated) == ["pending", "pending"]
    queue = running.service.queue(QUEUE)
    for task_id in (b, c, d, e, other, unrelated):
        assert await queue.get_job(task_id) is None
    logs = await queue.get_logs(a)
    assert any("blocked 4 task(s)" in line for line in logs)

    # A blocked task's own job (added by hand) fails at once, saying why.
    with pytest.raises(JobFailed, match=re.escape(f"is blocked: {blocked_by(a)}")):
        await (await running.run(c)).result(timeout=20)
    assert (await get(db, WorkflowTask, c)).status == "blocked"


async def test_a_task_out_of_attempts_blocks_its_dependents(running: Running) -> None:
    running.smtp.recorder.data_replies.extend(["451 4.3.0 try later"] * 3)
    a = await add_task(running.db, "send_reminder", REMIND)
    b = await add_task(running.db, "send_reminder", REMIND, depends_on=[a])
    c = await add_task(running.db, "send_reminder", REMIND, depends_on=[b])
    with pytest.raises(JobFailed, match="451"):
        await (await running.run(a)).result(timeout=20)
    assert (await running.service.get_job(QUEUE, a)).attempts_made == 3
    assert await statuses(running, a, b, c) == ["failed", "blocked", "blocked"]
    for task_id in (b, c):
        result = (await get(running.db, WorkflowTask, task_id)).result
        assert result["blockedBy"] == a
        assert result["reason"].startswith(blocked_by(a))
        assert "451" in result["reason"]
        assert await running.service.queue(QUEUE).get_job(task_id) is None
    assert running.smtp.received == []


async def test_the_failed_task_retried_and_succeeding_unblocks_its_dependents(
    running: Running,
) -> None:
    """a -> b -> c; a + z -> d -> f.  a fails (the quote is not Alice's), then z
    (unknown kind); a retried once the quote is Alice's succeeds: b and c run, d and
    f stay blocked, now by z."""
    db = running.db
    quote_id = await add_quote(db, user_id="bob")
    a = await add_task(db, "set_status", {"entity": "quote", "id": quote_id, "status": "sent"})
    z = await add_task(db, "dance", {})
    b = await add_task(db, "send_reminder", {"subject": "B", "body": "."}, depends_on=[a])
    c = await add_task(db, "send_reminder", {"subject": "C", "body": "."}, depends_on=[b])
    d = await add_task(db, "send_reminder", REMIND, depends_on=[a, z])
    f = await add_task(db, "send_reminder", REMIND, depends_on=[d])
    for task_id in (a, z):
        with pytest.raises(JobFailed):
            await (await running.run(task_id)).result(timeout=20)
    assert await statuses(running, a, z, b, c, d, f) == ["failed", "failed"] + ["blocked"] * 4
    assert (await get(db, WorkflowTask, d)).result["blockedBy"] == a  # a failed first

    async with db.session() as s:
        (await s.get(Quote, quote_id)).user_id = "alice"
    await running.service.queue(QUEUE).retry_job(a, JobState.FAILED)  # the dashboard's retry
    again = await running.result(a)
    assert (again["status"], again["queued"]) == ("done", [b])
    assert (await running.result(b))["queued"] == [c]
    await running.result(c)

    assert await statuses(running, a, b, c) == ["done"] * 3
    assert (await get(db, Quote, quote_id)).status == "sent"
    assert sorted(r.message["Subject"] for r in running.smtp.received) == ["B", "C"]
    z_error = (await get(db, WorkflowTask, z)).result["error"]
    for task_id in (d, f):
        task = await get(db, WorkflowTask, task_id)
        assert task.status == "blocked"
        assert task.result == {"blockedBy": z, "reason": blocked_by(z) + z_error}
        assert await running.service.queue(QUEUE).get_job(task_id) is None
