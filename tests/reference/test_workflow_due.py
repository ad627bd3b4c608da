"""Workflow due dates: a task that becomes ready before its ``due_at`` is queued as a
job delayed until then (job id = task id), one already due runs at once; on both
stores (with a clock the test moves) and both domain databases."""

from __future__ import annotations

import datetime as dt

from tests.clocks import FakeClock
from tests.reference.test_workflow import add_quote, add_task, add_users, get, run_workflow
from workhorse.job import JobState
from workhorse.store.base import Store
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import Quote, WorkflowTask
from workhorse_reference.domain.types import utcnow
from workhorse_reference.workflow import QUEUE


async def test_a_dependent_due_later_waits_in_a_delayed_job_until_then(
    clocked_store: tuple[Store, FakeClock], db: Database
) -> None:
    store, clock = clocked_store
    await add_users(db)
    quote_id = await add_quote(db)
    to_sent = {"entity": "quote", "id": quote_id, "status": "sent"}
    a = await add_task(db, "set_status", to_sent)
    due = utcnow() + dt.timedelta(hours=2)
    later = await add_task(
        db, "set_status", {**to_sent, "status": "accepted"}, depends_on=[a], due_at=due
    )
    overdue = utcnow() - dt.timedelta(days=1)
    now = await add_task(
        db, "send_reminder", {"subject": "s", "body": "b"}, depends_on=[a], due_at=overdue
    )
    async with run_workflow(store, db) as running:
        first = await (await running.run(a)).result(timeout=20)
        assert first["queued"] == sorted([later, now])
        await running.result(now)  # due already: queued to run at once
        assert (await get(db, WorkflowTask, now)).status == "done"

        job = await running.service.get_job(QUEUE, later)
        assert (job.state, job.owner, job.data) == (
            JobState.DELAYED,
            "alice",
            {"taskId": later, "userId": "alice"},
        )
        # Due at the task's due time on the store's clock (which started at the real
        # time, a moment before the delay was worked out from the real time).
        assert job.due_at is not None
        due_ms = due.timestamp() * 1000
        assert due_ms - 60_000 <= job.due_at <= due_ms
        assert (await get(db, WorkflowTask, later)).status == "queued"
        assert (await get(db, Quote, quote_id)).status == "sent"

        clock.advance(2 * 3600 + 60)
        await store.wake(QUEUE)
        done = await running.result(later)
    assert done["status"] == "done"
    assert (await get(db, WorkflowTask, later)).status == "done"
    assert (await get(db, Quote, quote_id)).status == "accepted"


async def test_a_task_run_before_it_was_ready_is_still_queued_for_its_due_time(
    store: Store, db: Database
) -> None:
    """Its job, finished ("waiting"), would run at once if revived: it is replaced by
    a delayed one, which runs when promoted."""
    await add_users(db)
    a = await add_task(db, "send_reminder", {"subject": "First", "body": "."})
    due = utcnow() + dt.timedelta(days=3)
    later = await add_task(
        db, "send_reminder", {"subject": "Later", "body": "."}, depends_on=[a], due_at=due
    )
    async with run_workflow(store, db) as running:
        early = await (await running.run(later)).result(timeout=20)
        assert early == {"taskId": later, "status": "waiting", "waitingFor": [a]}
        assert (await (await running.run(a)).result(timeout=20))["queued"] == [later]
        queue = running.service.queue(QUEUE)
        job = await queue.get_job(later)
        assert job is not None
        assert job.state is JobState.DELAYED
        assert (await get(db, WorkflowTask, later)).status == "queued"

        await queue.promote(later)  # e.g. "run now" from the dashboard
        await running.until_completed(later, times=2)
    assert (await get(db, WorkflowTask, later)).status == "done"
    assert sorted(r.message["Subject"] for r in running.smtp.received) == ["First", "Later"]
