"""The reference application's queues and their defaults (SPEC section 4, the
original ``queue.config.ts``): one place for attempts, backoff, time limits,
concurrency, retention and each job type's payload model."""

from __future__ import annotations

from workhorse.app.payloads import (
    AuditCleanupPayload,
    CalendarSyncPayload,
    ExportPayload,
    RecurringSessionsPayload,
)
from workhorse.app.registry import QueueConfig, QueueRegistry
from workhorse.options import Backoff

EXPORTS = "exports"
EXPORT_JOB = "export"
CALENDAR_SYNC = "google-calendar-sync"
CALENDAR_SYNC_JOB = "sync"
SCHEDULED_EMAILS = "scheduled-emails"
WORKFLOW_TASKS = "workflow-tasks"
RECURRING_SESSIONS = "recurring-sessions"
RECURRING_SESSIONS_JOB = "generate"
AUDIT_CLEANUP = "audit-cleanup"
AUDIT_CLEANUP_JOB = "cleanup"


def default_registry() -> QueueRegistry:
    """The six reference queues.  In development every job gets one attempt, so a
    bug shows at once instead of after the retries."""
    exp = Backoff("exponential", delay=2.0, max_delay=60.0)
    return QueueRegistry(
        {
            EXPORTS: QueueConfig(
                attempts=3,
                backoff=exp,
                timeout=300,
                concurrency=2,
                payloads={EXPORT_JOB: ExportPayload},
            ),
            CALENDAR_SYNC: QueueConfig(
                attempts=5,
                backoff=Backoff("exponential", delay=5.0, max_delay=300),
                timeout=600,
                payloads={CALENDAR_SYNC_JOB: CalendarSyncPayload},
            ),
            SCHEDULED_EMAILS: QueueConfig(attempts=3, backoff=exp, timeout=60, concurrency=5),
            WORKFLOW_TASKS: QueueConfig(attempts=3, backoff=exp, timeout=120, concurrency=5),
            RECURRING_SESSIONS: QueueConfig(
                attempts=2,
                backoff=exp,
                timeout=600,
                payloads={RECURRING_SESSIONS_JOB: RecurringSessionsPayload},
            ),
            AUDIT_CLEANUP: QueueConfig(
                attempts=2,
                backoff=exp,
                timeout=300,
                priority="low",
                admin_only=True,
                payloads={AUDIT_CLEANUP_JOB: AuditCleanupPayload},
            ),
        },
        environments={"development": {"*": {"attempts": 1}}},
    )
