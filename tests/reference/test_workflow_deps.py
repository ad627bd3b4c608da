"""Workflow dependencies: a task runs once every task it depends on is done, queued
by whichever dependency finishes last, with its task id as job id (never twice)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.reference.test_workflow import Running, add_quote, add_task, add_users, get, run_workflow
from workhorse.job import JobState
from workhorse.store.base import Store
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import Quote, WorkflowTask
from workhorse_reference.workflow import QUEUE


@pytest.fixture
async def running(store: Store, db: Database) -> AsyncIterator[Running]:
    await add_users(db)
    async with run_workflow(store, db) as started:
        yield started


async def test_dependents_run_once_all_their_dependencies_are_done(running: Running) -> None:
    """a, b -> c -> d: c is queued by whichever of a and b finishes last, then d."""
    db = running.db
    quote_id = await add_quote(db)
    to_sent = {"entity": "quote", "id": quote_id, "status": "sent"}
    a = await add_task(db, "send_reminder", {"subject": "Quote", "body": "Ready soon."})
    b = await add_task(db, "set_status", to_sent)
    c = await add_task(db, "set_status", {**to_sent, "status": "accepted"}, depends_on=[a, b])
    d = await add_task(db, "send_reminder", {"subject": "Thanks", "body": "."}, depends_on=[c])

    first = await (await running.run(a)).result(timeout=20)
    assert first["queued"] == []  # c still waits for b
    assert (await get(db, WorkflowTask, c)).status == "pending"
    second = await (await running.run(b)).result(timeout=20)
    assert second["queued"] == [c]
    assert (await running.result(c))["queued"] == [d]
    await running.result(d)
    for task_id in (a, b, c, d):
        assert (await get(db, WorkflowTask, task_id)).status == "done"
    assert (await get(db, Quote, quote_id)).status == "accepted"
    assert sorted(r.message["Subject"] for r in running.smtp.received) == ["Quote", "Thanks"]
    # b's job taken again queues nothing: c is no longer pending.
    assert (await running.rerun(b))["queued"] == []


async def test_a_task_run_too_early_waits_and_runs_when_ready(running: Running) -> None:
    db = running.db
    quote_id = await add_quote(db)
    a = await add_task(db, "set_status", {"entity": "quote", "id": quote_id, "status": "sent"})
    c = await add_task(
        db, "set_status", {"entity": "quote", "id": quote_id, "status": "accepted"}, depends_on=[a]
    )
    early = await (await running.run(c)).result(timeout=20)
    assert early == {"taskId": c, "status": "waiting", "waitingFor": [a]}
    assert (await get(db, WorkflowTask, c)).status == "pending"
    await (await running.run(a)).result(timeout=20)
    await running.until_completed(c, times=2)  # c's finished job was revived and ran
    assert (await get(db, WorkflowTask, c)).status == "done"
    assert (await get(db, Quote, quote_id)).status == "accepted"


async def test_two_tasks_finishing_together_queue_their_dependent_once(
    store: Store, db: Database
) -> None:
    await add_users(db)
    a = await add_task(db, "set_status", {}, status="done")
    b = await add_task(db, "set_status", {}, status="done")
    c = await add_task(db, "set_status", {}, depends_on=[a, b])
    async with run_workflow(store, db, worker=False) as running:
        both = await asyncio.gather(
            running.processor.queue_dependents(a), running.processor.queue_dependents(b)
        )
        assert c in both[0] + both[1]
        queue = running.service.queue(QUEUE)
        jobs = await queue.list_jobs(JobState.WAITING, 0, -1)
        assert [j.id for j in jobs] == [c]
    assert (await get(db, WorkflowTask, c)).status == "queued"
