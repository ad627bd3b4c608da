"""Typed submitters: one method per job type of the reference queues (the original
``QueueService.addExportJob(...)`` and its siblings), each returning the new job's id.

Arguments are the payload's fields with Python names (``user_id``, not ``userId``),
so a misspelt one is a ``TypeError`` at the call; values are checked by the queue's
payload model, so a bad one is a :class:`~workhorse.app.errors.PayloadInvalid` naming
the field, and nothing is stored.  Keyword ``options`` are job options overriding the
queue's defaults (``delay=``, ``priority="high"``, ``job_id=``, ``tags=`` ...; see
:class:`workhorse.options.JobOptions`).  A job about one user is owned by that user
unless ``owner=`` says otherwise.  Jobs about a stored row (an e-mail, a workflow
task) take the row's id as job id, so queueing the same row twice stores one job.

    jobs = JobSubmitter(service)
    job_id = await jobs.add_export_job(entity="invoices", format="excel", user_id="u-1")
"""

from __future__ import annotations

from typing import Any

from workhorse.app.payloads import ExportEntity, ExportFormat
from workhorse.app.queues import (
    AUDIT_CLEANUP,
    AUDIT_CLEANUP_JOB,
    CALENDAR_SYNC,
    CALENDAR_SYNC_JOB,
    ENQUEUE_DUE_EMAILS_JOB,
    EXPORT_JOB,
    EXPORTS,
    RECURRING_SESSIONS,
    RECURRING_SESSIONS_JOB,
    RUN_TASK_JOB,
    SCHEDULED_EMAILS,
    SEND_EMAIL_JOB,
    WORKFLOW_TASKS,
)
from workhorse.app.service import QueueService


class JobSubmitter:
    """The typed ``add_*_job`` methods over a :class:`QueueService` whose registry
    holds the reference queues (:func:`workhorse.app.queues.default_registry`)."""

    def __init__(self, service: QueueService) -> None:
        self.service = service

    async def add_export_job(
        self,
        *,
        entity: ExportEntity,
        format: ExportFormat,
        user_id: str,
        notify: bool = False,
        **options: Any,
    ) -> str:
        """Export ``user_id``'s rows of ``entity`` as a ``format`` file; ``notify``:
        also e-mail them the download link when it is ready."""
        data: dict[str, Any] = {"entity": entity, "format": format, "userId": user_id}
        if notify:
            data["notify"] = True
        return await self._add(EXPORTS, EXPORT_JOB, data, user_id, options)

    async def add_calendar_sync_job(self, *, user_id: str, **options: Any) -> str:
        """Sync ``user_id``'s sessions with their Google Calendar, both ways."""
        return await self._add(
            CALENDAR_SYNC, CALENDAR_SYNC_JOB, {"userId": user_id}, user_id, options
        )

    async def add_scheduled_email_job(self, *, email_id: str, user_id: str, **options: Any) -> str:
        """Send the scheduled e-mail ``email_id`` (job id: the e-mail's id)."""
        options.setdefault("job_id", email_id)
        data = {"emailId": email_id, "userId": user_id}
        return await self._add(SCHEDULED_EMAILS, SEND_EMAIL_JOB, data, user_id, options)

    async def add_enqueue_due_emails_job(self, *, limit: int = 500, **options: Any) -> str:
        """Queue a send job for at most ``limit`` due e-mails (what the scheduler runs)."""
        data = {"limit": limit}
        return await self._add(SCHEDULED_EMAILS, ENQUEUE_DUE_EMAILS_JOB, data, None, options)

    async def add_workflow_task_job(self, *, task_id: str, user_id: str, **options: Any) -> str:
        """Run the workflow task ``task_id`` (job id: the task's id)."""
        options.setdefault("job_id", task_id)
        data = {"taskId": task_id, "userId": user_id}
        return await self._add(WORKFLOW_TASKS, RUN_TASK_JOB, data, user_id, options)

    async def add_recurring_sessions_job(
        self, *, user_id: str | None = None, horizon_days: int | None = None, **options: Any
    ) -> str:
        """Generate the coming occurrences of ``user_id``'s recurring sessions (every
        user's when None), up to ``horizon_days`` ahead (the processor's default when
        None)."""
        data: dict[str, Any] = {}
        if user_id is not None:
            data["userId"] = user_id
        if horizon_days is not None:
            data["horizonDays"] = horizon_days
        return await self._add(RECURRING_SESSIONS, RECURRING_SESSIONS_JOB, data, user_id, options)

    async def add_audit_cleanup_job(self, *, days_to_keep: int = 30, **options: Any) -> str:
        """Delete audit entries older than ``days_to_keep`` days."""
        data = {"daysToKeep": days_to_keep}
        return await self._add(AUDIT_CLEANUP, AUDIT_CLEANUP_JOB, data, None, options)

    async def _add(
        self, queue: str, name: str, data: dict[str, Any], user_id: str | None, options: Any
    ) -> str:
        owner = options.pop("owner", user_id)
        job = await self.service.add(queue, name, data, owner=owner, **options)
        return job.id
