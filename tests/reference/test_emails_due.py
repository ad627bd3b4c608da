"""The due sweep (``enqueue-due``): one send job per due e-mail, with the e-mail id
as job id, however often it runs; abandoned claims swept up again."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest

from tests.reference.test_emails_claim import add_email, row
from tests.reference.test_emails_send import Running, email_registry, run_emails
from workhorse.app import QueueService
from workhorse.app.queues import default_registry
from workhorse.job import JobState
from workhorse.schedule import trigger_schedule, upsert_schedule
from workhorse.store.base import Store
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.types import utcnow
from workhorse_reference.emails import ENQUEUE_DUE_JOB, QUEUE, SEND_JOB, enqueue_due
from workhorse_reference.emails.payloads import DUE_SCHEDULE_KEY
from workhorse_reference.schedules import reference_schedules

PAST = dt.timedelta(minutes=5)


async def add_mix(db: Database) -> list[str]:
    """Three due e-mails (returned, oldest first) and three that are not due."""
    now = utcnow()
    due = [
        await add_email(db, send_at=now - PAST * 3),
        await add_email(db, user_id="bob", send_at=now - PAST * 2),
        await add_email(db, send_at=now - PAST),
    ]
    await add_email(db, send_at=now + PAST)
    await add_email(db, send_at=now - PAST, status="sent")
    await add_email(db, send_at=now - PAST, status="cancelled")
    return due


@pytest.fixture
async def service(store: Store) -> AsyncIterator[QueueService]:
    svc = QueueService(store, email_registry())
    yield svc
    await svc.close()


async def test_running_the_sweep_twice_enqueues_each_due_email_once(
    service: QueueService, db: Database
) -> None:
    due = await add_mix(db)
    first = await enqueue_due(service, db)
    assert first == {"due": 3, "added": 3, "present": 0, "revived": 0}
    second = await enqueue_due(service, db)
    assert second == {"due": 3, "added": 0, "present": 3, "revived": 0}
    queue = service.queue(QUEUE)
    assert (await queue.counts())[JobState.WAITING] == 3
    jobs = await queue.list_jobs(JobState.WAITING, 0, -1, desc=False)
    assert [j.id for j in jobs] == due
    owners = {j.id: j.owner for j in jobs}
    assert owners[due[1]] == "bob"
    assert jobs[1].data == {"emailId": due[1], "userId": "bob"}
    assert {j.name for j in jobs} == {SEND_JOB}


async def test_the_sweep_job_gets_every_due_email_sent_once(store: Store, db: Database) -> None:
    due = await add_mix(db)
    async with run_emails(store, db) as running:
        queue = running.service.queue(QUEUE)
        sweep = await running.service.add(QUEUE, ENQUEUE_DUE_JOB, {}, job_id="sweep-1")
        assert await sweep.result(timeout=20) == {
            "due": 3,
            "added": 3,
            "present": 0,
            "revived": 0,
        }
        again = await running.service.add(QUEUE, ENQUEUE_DUE_JOB, {"limit": 10}, job_id="sweep-2")
        counts = await again.result(timeout=20)
        assert counts["added"] == counts["revived"] == 0
        for email_id in due:
            job = await queue.get_job(email_id)
            assert job is not None
            assert (await job.result(timeout=20))["sent"] is True
        received = await running.smtp.recorder.wait_for(3)
        assert sorted(r.message_id for r in received) == sorted(
            f"<{e}.scheduled-email@workhorse.test>" for e in due
        )
        assert len(running.smtp.received) == 3
        sweep_job = await queue.get_job("sweep-1")
        assert sweep_job is not None
        assert sweep_job.progress["overallProgress"] == 100


async def test_an_abandoned_claim_is_swept_up_and_sent_once(store: Store, db: Database) -> None:
    """An attempt died while sending (the row stays ``sending``) and its job failed:
    once the claim is older than the ttl the sweep revives the job, which sends."""
    email_id = await add_email(
        db, status="sending", claim_token="dead", claimed_at=utcnow() - dt.timedelta(minutes=10)
    )
    async with run_emails(store, db, claim_ttl=300) as running:
        await _fail_job_of(running, email_id)
        sweep = await running.service.add(QUEUE, ENQUEUE_DUE_JOB, {})
        assert await sweep.result(timeout=20) == {
            "due": 1,
            "added": 0,
            "present": 0,
            "revived": 1,
        }
        job = await running.service.get_job(QUEUE, email_id)
        assert (await job.result(timeout=20))["sent"] is True
        assert len(await running.smtp.recorder.wait_for(1)) == 1
    stored = await row(db, email_id)
    assert (stored.status, stored.attempts) == ("sent", 1)
    assert stored.claim_token != "dead"


async def _fail_job_of(running: Running, email_id: str) -> None:
    """Leave a failed job with the e-mail's id, as one that ran out of attempts."""
    job = await running.send(email_id, delay=600)
    await running.service.queue(QUEUE).cancel(job.id)
    assert (await running.service.get_job(QUEUE, job.id)).state is JobState.FAILED


async def test_a_claim_younger_than_the_ttl_is_not_swept(
    service: QueueService, db: Database
) -> None:
    await add_email(db, status="sending", claim_token="live", claimed_at=utcnow())
    assert (await enqueue_due(service, db))["due"] == 0


async def test_the_schedule_enqueues_the_sweep(store: Store, db: Database) -> None:
    email_id = await add_email(db)
    async with run_emails(store, db) as running:
        plan = reference_schedules(QueueService(store, default_registry()))
        (schedule,) = [s for s in plan if s.key == DUE_SCHEDULE_KEY]
        assert await upsert_schedule(store, schedule) is True
        tick = await trigger_schedule(store, DUE_SCHEDULE_KEY)
        assert tick is not None
        sweep = await running.service.get_job(QUEUE, tick)
        assert sweep.name == ENQUEUE_DUE_JOB
        assert (await sweep.result(timeout=20))["added"] == 1
        (got,) = await running.smtp.recorder.wait_for(1)
        assert got.message_id == f"<{email_id}.scheduled-email@workhorse.test>"
