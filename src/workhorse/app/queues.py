"""The reference application's queues and their defaults (SPEC section 4, the
original ``queue.config.ts``): one place for attempts, backoff, time limits,
concurrency, retention and each job type's payload model."""

from __future__ import annotations

from typing import Any

from workhorse.app.payloads import (
    AuditCleanupPayload,
    CalendarSyncPayload,
    EnqueueDuePayload,
    ExportPayload,
    RecurringSessionsPayload,
    ScheduledEmailPayload,
    WorkflowTaskPayload,
)
from workhorse.app.registry import QueueConfig, QueueRegistry
from workhorse.options import Backoff, Retention

EXPORTS = "exports"
EXPORT_JOB = "export"
CALENDAR_SYNC = "google-calendar-sync"
CALENDAR_SYNC_JOB = "sync"
SCHEDULED_EMAILS = "scheduled-emails"
SEND_EMAIL_JOB = "send"
ENQUEUE_DUE_EMAILS_JOB = "enqueue-due"
WORKFLOW_TASKS = "workflow-tasks"
RUN_TASK_JOB = "run"
RECURRING_SESSIONS = "recurring-sessions"
RECURRING_SESSIONS_JOB = "generate"
AUDIT_CLEANUP = "audit-cleanup"
AUDIT_CLEANUP_JOB = "cleanup"


#: The seed's ``queueJobOptions`` retention: completed jobs 1 h / the last 100,
#: failed ones 24 h / the last 1,000 (an export's file goes with its job).
KEEP_COMPLETED = Retention(age=3600, count=100)
KEEP_FAILED = Retention(age=86400, count=1000)


def _seeded(**fields: Any) -> QueueConfig:
    return QueueConfig(remove_on_complete=KEEP_COMPLETED, remove_on_fail=KEEP_FAILED, **fields)


def default_registry() -> QueueRegistry:
    """The six reference queues, as the seed's table and ``queueJobOptions`` set
    them.  In development every job gets one attempt, so a bug shows at once instead
    of after the retries, and completed jobs are kept 5 minutes / the last 10."""
    exp = Backoff("exponential", delay=2.0, max_delay=60.0)
    return QueueRegistry(
        {
            EXPORTS: _seeded(
                attempts=3,
                backoff=exp,
                timeout=300,
                concurrency=2,
                processes=2,  # xlsx / pdf / docx writing is CPU-bound Python
                payloads={EXPORT_JOB: ExportPayload},
            ),
            CALENDAR_SYNC: _seeded(
                attempts=5,
                backoff=Backoff("exponential", delay=5.0, max_delay=300),
                timeout=600,
                payloads={CALENDAR_SYNC_JOB: CalendarSyncPayload},
            ),
            SCHEDULED_EMAILS: _seeded(
                attempts=3,
                backoff=exp,
                timeout=60,
                concurrency=5,
                payloads={
                    SEND_EMAIL_JOB: ScheduledEmailPayload,
                    ENQUEUE_DUE_EMAILS_JOB: EnqueueDuePayload,
                },
                admin_jobs=frozenset({ENQUEUE_DUE_EMAILS_JOB}),
            ),
            WORKFLOW_TASKS: _seeded(
                attempts=3,
                backoff=exp,
                timeout=120,
                concurrency=5,
                payloads={RUN_TASK_JOB: WorkflowTaskPayload},
            ),
            RECURRING_SESSIONS: _seeded(
                attempts=2,
                backoff=exp,
                timeout=600,
                payloads={RECURRING_SESSIONS_JOB: RecurringSessionsPayload},
            ),
            AUDIT_CLEANUP: _seeded(
                attempts=2,
                backoff=exp,
                timeout=300,
                priority="low",
                admin_only=True,
                payloads={AUDIT_CLEANUP_JOB: AuditCleanupPayload},
            ),
        },
        environments={
            "development": {
                "*": {"attempts": 1, "remove_on_complete": Retention(age=300, count=10)}
            }
        },
    )
