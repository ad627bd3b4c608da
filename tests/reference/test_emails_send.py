"""The ``send`` job with a real worker, a real SMTP server and the domain database
(SQLite and PostgreSQL) on both stores: exactly once, retries, refusals."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from tests.reference.smtp import SmtpServer
from tests.reference.test_emails_claim import add_email, row
from workhorse import JobFailed, Worker
from workhorse.app import QueueService, default_registry
from workhorse.app.registry import QueueConfig, QueueRegistry
from workhorse.job import Job, JobState
from workhorse.options import Backoff
from workhorse.store.base import Store
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.types import utcnow
from workhorse_reference.emails import (
    PAYLOADS,
    QUEUE,
    SEND_JOB,
    ClaimHeld,
    ScheduledEmailsProcessor,
)
from workhorse_reference.mail import Mailer, MailSettings


def email_registry() -> QueueRegistry:
    """The seed's scheduled-emails settings, with short retry delays for the tests."""
    config = QueueConfig(
        attempts=3,
        backoff=Backoff("fixed", delay=0.05),
        timeout=60,
        concurrency=5,
        payloads=PAYLOADS,
    )
    return default_registry().with_queue(QUEUE, config)


@dataclass
class Running:
    service: QueueService
    db: Database
    smtp: SmtpServer
    worker: Worker

    async def send(self, email_id: str, user_id: str = "alice", **options: Any) -> Job:
        options.setdefault("job_id", email_id)
        options.setdefault("owner", user_id)
        data = {"emailId": email_id, "userId": user_id}
        return await self.service.add(QUEUE, SEND_JOB, data, **options)


@asynccontextmanager
async def run_emails(store: Store, db: Database, **processor: Any) -> AsyncIterator[Running]:
    """An SMTP server and a worker running the scheduled-emails processor."""
    async with SmtpServer() as smtp:
        service = QueueService(store, email_registry())
        mailer = Mailer(smtp.settings())
        handler = ScheduledEmailsProcessor(service, db=db, mailer=mailer, **processor).handle
        worker = Worker(service.queue(QUEUE), handler, concurrency=5)
        runner = asyncio.create_task(worker.run())
        try:
            yield Running(service, db, smtp, worker)
        finally:
            await worker.close(grace=5)
            await runner
            await service.close()


@pytest.fixture
async def running(store: Store, db: Database) -> AsyncIterator[Running]:
    async with run_emails(store, db) as started:
        yield started


async def test_a_due_email_is_sent_once_and_a_rerun_sends_nothing(running: Running) -> None:
    email_id = await add_email(running.db, subject="Your session", body="Thursday 9:00.")
    job = await running.send(email_id)
    expected_id = f"<{email_id}.scheduled-email@workhorse.test>"
    assert await job.result(timeout=20) == {
        "emailId": email_id,
        "sent": True,
        "alreadySent": False,
        "messageId": expected_id,
    }
    (got,) = await running.smtp.recorder.wait_for(1)
    assert (got.message_id, got.message["Subject"], got.body) == (
        expected_id,
        "Your session",
        "Thursday 9:00.\n",
    )
    stored = await row(running.db, email_id)
    assert (stored.status, stored.message_id, stored.attempts) == ("sent", expected_id, 1)
    assert stored.sent_at is not None

    # The same job taken again (as after a stall): it completes without sending.
    await running.service.queue(QUEUE).retry_job(job.id, JobState.COMPLETED)
    again = await job.result(timeout=20)
    assert again["alreadySent"] is True
    assert again["sent"] is False
    assert again["messageId"] == expected_id
    assert len(running.smtp.received) == 1


async def test_two_jobs_for_one_email_at_once_send_it_once(running: Running) -> None:
    """A second job for the same e-mail runs while the first is in the middle of the
    SMTP conversation: it finds the claim, retries later, and finds the e-mail sent."""
    recorder = running.smtp.recorder
    recorder.gate = asyncio.Event()
    email_id = await add_email(running.db)
    held: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()

    async def on_retrying(job: Job, error: BaseException) -> None:
        if job.id == f"dup-{email_id}" and not held.done():
            held.set_result(error)

    running.worker.on("retrying", on_retrying)
    first = await running.send(email_id)
    async with asyncio.timeout(15):
        await recorder.data_started.wait()
    # The duplicate's retry waits long enough for the test to release it by hand.
    second = await running.send(
        email_id, job_id=f"dup-{email_id}", backoff=Backoff("fixed", delay=600)
    )
    assert isinstance(await asyncio.wait_for(held, 15), ClaimHeld)
    recorder.gate.set()
    assert (await first.result(timeout=20))["sent"] is True
    await running.service.queue(QUEUE).promote(second.id)
    result = await second.result(timeout=20)
    assert (result["sent"], result["alreadySent"]) == (False, True)
    assert len(running.smtp.received) == 1
    assert (await row(running.db, email_id)).attempts == 1


async def test_a_temporary_refusal_is_retried_and_sends_once(running: Running) -> None:
    running.smtp.recorder.data_replies.append("451 4.3.0 mailbox busy, try later")
    email_id = await add_email(running.db)
    job = await running.send(email_id)
    assert (await job.result(timeout=20))["sent"] is True
    assert len(await running.smtp.recorder.wait_for(1)) == 1
    stored = await row(running.db, email_id)
    assert (stored.status, stored.attempts, stored.last_error) == ("sent", 2, None)
    history = await running.service.queue(QUEUE).get_history(job.id)
    assert any("451" in str(entry) for entry in history)


async def test_a_permanent_refusal_fails_for_good(running: Running) -> None:
    running.smtp.recorder.refuse["ghost@example.test"] = "550 5.1.1 no such user"
    email_id = await add_email(running.db, to_address="ghost@example.test")
    job = await running.send(email_id)
    with pytest.raises(JobFailed, match=r"550 5\.1\.1 no such user"):
        await job.result(timeout=20)
    finished = await running.service.get_job(QUEUE, job.id)
    assert finished.attempts_made == 1
    stored = await row(running.db, email_id)
    assert stored.status == "failed"
    assert stored.last_error is not None
    assert "550" in stored.last_error
    assert running.smtp.received == []


async def test_temporary_refusals_until_the_last_attempt_fail_the_email(
    running: Running,
) -> None:
    running.smtp.recorder.data_replies.extend(["451 4.3.0 busy"] * 3)
    email_id = await add_email(running.db)
    job = await running.send(email_id)
    with pytest.raises(JobFailed, match="451"):
        await job.result(timeout=20)
    stored = await row(running.db, email_id)
    assert (stored.status, stored.attempts) == ("failed", 3)
    assert stored.last_error is not None
    assert stored.last_error.startswith("gave up: SMTP 451")
    assert running.smtp.received == []


async def test_wrong_user_or_owner_fails_without_retry(running: Running) -> None:
    email_id = await add_email(running.db)
    not_hers = await running.send(email_id, user_id="bob", job_id=f"bob-{email_id}")
    with pytest.raises(JobFailed, match="of user 'bob' not found"):
        await not_hers.result(timeout=20)
    stolen = await running.send(email_id, owner="bob", job_id=f"owner-{email_id}")
    with pytest.raises(JobFailed, match="not the job's owner 'bob'"):
        await stolen.result(timeout=20)
    for job in (not_hers, stolen):
        assert (await running.service.get_job(QUEUE, job.id)).attempts_made == 1
    assert (await row(running.db, email_id)).status == "pending"
    assert running.smtp.received == []


async def test_an_email_not_yet_due_is_not_sent(running: Running) -> None:
    send_at = utcnow() + dt.timedelta(hours=2)
    email_id = await add_email(running.db, send_at=send_at)
    result = await (await running.send(email_id)).result(timeout=20)
    assert result["sent"] is False
    assert dt.datetime.fromisoformat(result["notDueUntil"]) == send_at
    assert (await row(running.db, email_id)).status == "pending"
    assert running.smtp.received == []


async def test_without_payload_models_in_the_registry_bad_data_names_the_field(
    store: Store, db: Database
) -> None:
    """A registry that knows the queue but not its payload models (the processor
    then validates the data itself)."""
    registry = default_registry().with_queue(QUEUE, QueueConfig(attempts=3))
    service = QueueService(store, registry)
    processor = ScheduledEmailsProcessor(service, db=db, mailer=Mailer(MailSettings()))
    try:
        bad = await service.add(QUEUE, SEND_JOB, {"emailId": "e1"})
        unknown = await service.add(QUEUE, "shout", {})
        await Worker(service.queue(QUEUE), processor.handle).run(burst=True)
        failed = {j.id: j for j in await service.queue(QUEUE).list_jobs(JobState.FAILED)}
        assert "data.userId: Field required" in str(failed[bad.id].failed_reason)
        assert "name: unknown job 'shout'" in str(failed[unknown.id].failed_reason)
        assert {failed[bad.id].attempts_made, failed[unknown.id].attempts_made} == {1}
    finally:
        await service.close()
