"""Workflow tasks with a real worker, a real SMTP server and the domain database
(SQLite and PostgreSQL) on both stores: each kind's real effect, once; dependents
queued once all their dependencies are done."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.reference.smtp import SmtpServer
from workhorse import JobFailed, Worker
from workhorse.app import QueueService, default_registry
from workhorse.app.registry import QueueConfig, QueueRegistry
from workhorse.job import Job, JobState
from workhorse.options import Backoff
from workhorse.store.base import Store
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import (
    Invoice,
    Quote,
    ScheduledEmail,
    Session,
    TaskDependency,
    User,
    WorkflowTask,
)
from workhorse_reference.domain.types import utcnow
from workhorse_reference.mail import Mailer
from workhorse_reference.workflow import PAYLOADS, QUEUE, RUN_JOB, WorkflowTasksProcessor

NOW = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)


def workflow_registry() -> QueueRegistry:
    """The seed's workflow-tasks settings, with short retry delays for the tests."""
    config = QueueConfig(
        attempts=3, backoff=Backoff("fixed", delay=0.05), timeout=120, payloads=PAYLOADS
    )
    return default_registry().with_queue(QUEUE, config)


async def add_users(db: Database) -> None:
    async with db.session() as s:
        s.add(User(id="alice", email="alice@example.test", name="Alice", timezone="Europe/Paris"))
        s.add(User(id="bob", email="bob@example.test", name="Bob"))


async def add_task(
    db: Database,
    kind: str,
    params: dict[str, Any],
    *,
    user_id: str = "alice",
    depends_on: Sequence[str] = (),
    status: str = "pending",
    due_at: dt.datetime | None = None,
) -> str:
    async with db.session() as s:
        task = WorkflowTask(
            user_id=user_id, kind=kind, title=kind, params=params, status=status, due_at=due_at
        )
        s.add(task)
        await s.flush()
        for other in depends_on:
            s.add(TaskDependency(task_id=task.id, depends_on_id=other))
        return task.id


async def add_quote(db: Database, user_id: str = "alice", status: str = "draft") -> int:
    async with db.session() as s:
        quote = Quote(
            user_id=user_id,
            number=f"Q-{user_id}-{utcnow().timestamp()}",
            title="Coaching",
            amount_cents=120_000,
            status=status,
            issued_on=NOW,
        )
        s.add(quote)
        await s.flush()
        return quote.id


async def get(db: Database, model: Any, key: Any) -> Any:
    async with db.session() as s:
        found = await s.get(model, key)
    assert found is not None
    return found


@dataclass
class Running:
    service: QueueService
    db: Database
    smtp: SmtpServer
    processor: WorkflowTasksProcessor
    completions: list[str] = field(default_factory=list)
    completed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def run(self, task_id: str, user_id: str = "alice", **options: Any) -> Job:
        options.setdefault("job_id", task_id)
        options.setdefault("owner", user_id)
        data = {"taskId": task_id, "userId": user_id}
        return await self.service.add(QUEUE, RUN_JOB, data, **options)

    async def result(self, task_id: str) -> Any:
        return await (await self.service.get_job(QUEUE, task_id)).result(timeout=20)

    async def rerun(self, task_id: str) -> Any:
        """The task's finished job taken again, as after a stall or a redrive."""
        await self.service.queue(QUEUE).retry_job(task_id, JobState.COMPLETED)
        return await self.result(task_id)

    async def until_completed(self, job_id: str, times: int = 1) -> None:
        """Until job ``job_id`` has completed ``times`` times in all."""
        async with asyncio.timeout(20), self.completed:
            await self.completed.wait_for(lambda: self.completions.count(job_id) >= times)


@asynccontextmanager
async def run_workflow(store: Store, db: Database, worker: bool = True) -> AsyncIterator[Running]:
    """An SMTP server, the processor, and (``worker``) a worker running it."""
    async with SmtpServer() as smtp:
        service = QueueService(store, workflow_registry())
        processor = WorkflowTasksProcessor(service, db=db, mailer=Mailer(smtp.settings()))
        running = Running(service, db, smtp, processor)
        w = Worker(service.queue(QUEUE), processor.handle, concurrency=5)

        async def completed(job: Job, _value: Any) -> None:
            async with running.completed:
                running.completions.append(job.id)
                running.completed.notify_all()

        w.on("completed", completed)
        runner = asyncio.create_task(w.run()) if worker else None
        try:
            yield running
        finally:
            if runner is not None:
                await w.close(grace=5)
                await runner
            await service.close()


@pytest.fixture
async def running(store: Store, db: Database) -> AsyncIterator[Running]:
    await add_users(db)
    async with run_workflow(store, db) as started:
        yield started


async def test_set_status_changes_the_quote_once(running: Running) -> None:
    db = running.db
    quote_id = await add_quote(db)
    task_id = await add_task(
        db, "set_status", {"entity": "quote", "id": quote_id, "status": "sent"}
    )
    result = await (await running.run(task_id)).result(timeout=20)
    change = {"entity": "quote", "id": quote_id, "from": "draft", "to": "sent"}
    assert result == {
        "taskId": task_id,
        "kind": "set_status",
        "status": "done",
        "alreadyDone": False,
        "result": change,
        "queued": [],
    }
    assert (await get(db, Quote, quote_id)).status == "sent"
    task = await get(db, WorkflowTask, task_id)
    assert (task.status, task.result) == ("done", change)
    assert task.done_at is not None

    # Someone moves the quote on; running the task again must not undo that.
    async with db.session() as s:
        (await s.get(Quote, quote_id)).status = "accepted"
    again = await running.rerun(task_id)
    assert (again["alreadyDone"], again["result"]) == (True, change)
    assert (await get(db, Quote, quote_id)).status == "accepted"


async def test_set_status_pays_an_invoice(running: Running) -> None:
    async with running.db.session() as s:
        invoice = Invoice(
            user_id="alice", number="F-1", amount_cents=9_900, issued_on=NOW, due_on=NOW
        )
        s.add(invoice)
        await s.flush()
        invoice_id = invoice.id
    params = {"entity": "invoice", "id": invoice_id, "status": "paid"}
    task_id = await add_task(running.db, "set_status", params)
    await (await running.run(task_id)).result(timeout=20)
    paid = await get(running.db, Invoice, invoice_id)
    assert paid.status == "paid"
    assert paid.paid_at is not None


async def test_bad_targets_and_params_fail_the_task_without_retry(running: Running) -> None:
    db = running.db
    bobs = await add_quote(db, user_id="bob")
    cases = {
        await add_task(
            db, "set_status", {"entity": "quote", "id": bobs, "status": "sent"}
        ): f"params.id: quote {bobs} of user 'alice' not found",
        await add_task(
            db, "set_status", {"entity": "quote", "id": bobs, "status": "paid"}
        ): "status 'paid' is not one of a quote's",
        await add_task(db, "send_reminder", {"to": "x@example.test"}): "give subject and body",
        await add_task(
            db, "create_follow_up", {"title": "Call", "kind": "set_status", "params": {}}
        ): "params do not fit kind 'set_status': params.entity: Field required",
        await add_task(db, "dance", {}): "kind: unknown kind 'dance'",
    }
    for task_id, message in cases.items():
        job = await running.run(task_id)
        with pytest.raises(JobFailed, match=message):
            await job.result(timeout=20)
        assert (await running.service.get_job(QUEUE, job.id)).attempts_made == 1
        task = await get(db, WorkflowTask, task_id)
        assert task.status == "failed"
        assert message in task.result["error"]
    assert (await get(db, Quote, bobs)).status == "draft"


async def test_wrong_user_or_unknown_task_fails_without_retry(running: Running) -> None:
    task_id = await add_task(running.db, "send_reminder", {"subject": "s", "body": "b"})
    for job in (
        await running.run(task_id, user_id="bob", job_id=f"bob-{task_id}"),
        await running.run("no-such-task"),
    ):
        with pytest.raises(JobFailed, match=r"of user '(bob|alice)' not found"):
            await job.result(timeout=20)
    assert (await get(running.db, WorkflowTask, task_id)).status == "pending"
    assert running.smtp.received == []


async def test_create_follow_up_makes_one_task_queued_for_its_due_time(
    running: Running,
) -> None:
    db = running.db
    quote_id = await add_quote(db, status="sent")
    later = {"entity": "quote", "id": quote_id, "status": "expired"}
    params = {"title": "Quote expires", "dueInDays": 3, "kind": "set_status", "params": later}
    task_id = await add_task(db, "create_follow_up", params)
    result = await (await running.run(task_id)).result(timeout=20)
    follow_up_id = result["result"]["followUpId"]
    assert result["queued"] == [follow_up_id]
    follow_up = await get(db, WorkflowTask, follow_up_id)
    assert (follow_up.kind, follow_up.title, follow_up.params, follow_up.status) == (
        "set_status",
        "Quote expires",
        later,
        "queued",
    )
    assert follow_up.due_at is not None
    assert follow_up.due_at - utcnow() > dt.timedelta(days=2, hours=23)
    job = await running.service.get_job(QUEUE, follow_up_id)
    assert (job.state, job.owner, job.data) == (
        JobState.DELAYED,
        "alice",
        {"taskId": follow_up_id, "userId": "alice"},
    )
    assert job.due_at is not None
    assert job.due_at / 1000 >= (follow_up.due_at - dt.timedelta(seconds=5)).timestamp()

    again = await running.rerun(task_id)
    assert again["alreadyDone"] is True
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(WorkflowTask)) == 2


async def test_send_reminder_sends_one_email(running: Running) -> None:
    params = {"to": "client@example.test", "subject": "Tomorrow", "body": "See you at 9."}
    task_id = await add_task(running.db, "send_reminder", params)
    result = (await (await running.run(task_id)).result(timeout=20))["result"]
    (got,) = await running.smtp.recorder.wait_for(1)
    assert (got.recipients, got.message["Subject"], got.body) == (
        ["client@example.test"],
        "Tomorrow",
        "See you at 9.\n",
    )
    assert got.message_id == result["messageId"]
    assert got.message_id == f"<{result['emailId']}.scheduled-email@workhorse.test>"
    email = await get(running.db, ScheduledEmail, result["emailId"])
    assert (email.status, email.user_id) == ("sent", "alice")

    again = await running.rerun(task_id)
    assert again["alreadyDone"] is True
    assert len(running.smtp.received) == 1


async def test_a_reminder_about_a_session_is_written_from_it(running: Running) -> None:
    async with running.db.session() as s:
        session = Session(
            user_id="alice",
            title="Leadership coaching",
            location="Room 4",
            starts_at=dt.datetime(2026, 7, 2, 7, 30, tzinfo=dt.UTC),
            ends_at=dt.datetime(2026, 7, 2, 8, 30, tzinfo=dt.UTC),
        )
        s.add(session)
        await s.flush()
        session_id = session.id
    task_id = await add_task(running.db, "send_reminder", {"sessionId": session_id})
    await (await running.run(task_id)).result(timeout=20)
    (got,) = await running.smtp.recorder.wait_for(1)
    assert got.recipients == ["alice@example.test"]  # the user's own address
    assert got.message["Subject"] == "Reminder: Leadership coaching"
    # 07:30 UTC is 09:30 in Paris in July.
    assert 'your session "Leadership coaching" on Thursday 02 July 2026 at 09:30' in got.body
    assert "Room 4" in got.body


async def test_a_reminder_deferred_once_is_retried_and_sent_once(running: Running) -> None:
    running.smtp.recorder.data_replies.append("451 4.3.0 try later")
    task_id = await add_task(running.db, "send_reminder", {"subject": "s", "body": "b"})
    result = await (await running.run(task_id)).result(timeout=20)
    assert result["status"] == "done"
    assert len(await running.smtp.recorder.wait_for(1)) == 1
    history = await running.service.queue(QUEUE).get_history(task_id)
    assert any("451" in str(entry) for entry in history)
    email = await get(running.db, ScheduledEmail, result["result"]["emailId"])
    assert (email.status, email.attempts) == ("sent", 2)
