"""The typed submitters: one method per reference job type, returning the job id;
the job is stored with its queue's defaults, the payload by alias, its owner and
the options given, and bad values are refused naming the field, storing nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from workhorse import JobState
from workhorse.app import JobSubmitter, PayloadInvalid, QueueService, default_registry
from workhorse.app.queues import (
    AUDIT_CLEANUP,
    CALENDAR_SYNC,
    EXPORTS,
    RECURRING_SESSIONS,
    SCHEDULED_EMAILS,
    WORKFLOW_TASKS,
)
from workhorse.store.base import Store


@pytest.fixture
async def service(store: Store) -> AsyncIterator[QueueService]:
    svc = QueueService(store, default_registry())
    yield svc
    await svc.close()


async def stored(service: QueueService, queue: str, job_id: str) -> tuple[str, object, str | None]:
    job = await service.get_job(queue, job_id)
    return job.name, job.data, job.owner


async def test_each_job_type_has_its_method(service: QueueService) -> None:
    jobs = JobSubmitter(service)
    export = await jobs.add_export_job(entity="invoices", format="excel", user_id="u-1")
    assert await stored(service, EXPORTS, export) == (
        "export",
        {"entity": "invoices", "format": "excel", "userId": "u-1"},
        "u-1",
    )
    notify = await jobs.add_export_job(entity="all", format="csv", user_id="u-1", notify=True)
    assert (await service.get_job(EXPORTS, notify)).data["notify"] is True

    sync = await jobs.add_calendar_sync_job(user_id="u-2")
    assert await stored(service, CALENDAR_SYNC, sync) == ("sync", {"userId": "u-2"}, "u-2")

    email = await jobs.add_scheduled_email_job(email_id="em-7", user_id="u-3")
    assert email == "em-7"
    assert await stored(service, SCHEDULED_EMAILS, email) == (
        "send",
        {"emailId": "em-7", "userId": "u-3"},
        "u-3",
    )
    due = await jobs.add_enqueue_due_emails_job(limit=20)
    assert await stored(service, SCHEDULED_EMAILS, due) == ("enqueue-due", {"limit": 20}, None)

    task = await jobs.add_workflow_task_job(task_id="t-9", user_id="u-4")
    assert task == "t-9"
    assert await stored(service, WORKFLOW_TASKS, task) == (
        "run",
        {"taskId": "t-9", "userId": "u-4"},
        "u-4",
    )

    everyone = await jobs.add_recurring_sessions_job()
    assert await stored(service, RECURRING_SESSIONS, everyone) == (
        "generate",
        {"userId": None, "horizonDays": None},
        None,
    )
    one = await jobs.add_recurring_sessions_job(user_id="u-5", horizon_days=30)
    assert await stored(service, RECURRING_SESSIONS, one) == (
        "generate",
        {"userId": "u-5", "horizonDays": 30},
        "u-5",
    )

    cleanup = await jobs.add_audit_cleanup_job(days_to_keep=7)
    assert await stored(service, AUDIT_CLEANUP, cleanup) == ("cleanup", {"daysToKeep": 7}, None)


async def test_options_override_the_queue_defaults(service: QueueService) -> None:
    jobs = JobSubmitter(service)
    job_id = await jobs.add_export_job(
        entity="quotes", format="pdf", user_id="u-1", delay=60, priority="high", owner="ops"
    )
    job = await service.get_job(EXPORTS, job_id)
    assert job.state is JobState.DELAYED
    assert job.priority == 1  # "high" is the highest
    assert job.owner == "ops"
    assert job.options["attempts"] == 3  # the exports queue's default
    # The same row queued twice is one job.
    assert await jobs.add_workflow_task_job(task_id="t-1", user_id="u-1") == "t-1"
    assert await jobs.add_workflow_task_job(task_id="t-1", user_id="u-1") == "t-1"
    assert (await service.queue(WORKFLOW_TASKS).counts())[JobState.WAITING] == 1


async def test_bad_values_name_the_field_and_store_nothing(service: QueueService) -> None:
    jobs = JobSubmitter(service)
    with pytest.raises(PayloadInvalid) as bad:
        await jobs.add_export_job(entity="invoices", format="gif", user_id="u-1")  # type: ignore[arg-type]
    assert [e["field"] for e in bad.value.errors] == ["data.format"]
    with pytest.raises(PayloadInvalid, match=r"data\.daysToKeep"):
        await jobs.add_audit_cleanup_job(days_to_keep=0)
    with pytest.raises(ValueError, match="unknown job option"):
        await jobs.add_calendar_sync_job(user_id="u-1", retries=3)
    for queue in (EXPORTS, AUDIT_CLEANUP, CALENDAR_SYNC):
        assert sum((await service.queue(queue).counts()).values()) == 0
