"""The reference application's queues and their defaults (SPEC section 4)."""

from __future__ import annotations

from workhorse.app.payloads import ExportPayload
from workhorse.app.registry import QueueConfig, QueueRegistry
from workhorse.options import Backoff

EXPORTS = "exports"
EXPORT_JOB = "export"


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
            "google-calendar-sync": QueueConfig(
                attempts=5, backoff=Backoff("exponential", delay=5.0, max_delay=300), timeout=600
            ),
            "scheduled-emails": QueueConfig(attempts=3, backoff=exp, timeout=60, concurrency=5),
            "workflow-tasks": QueueConfig(attempts=3, backoff=exp, timeout=120, concurrency=5),
            "recurring-sessions": QueueConfig(attempts=2, backoff=exp, timeout=600),
            "audit-cleanup": QueueConfig(attempts=2, backoff=exp, timeout=300, priority="low"),
        },
        environments={"development": {"*": {"attempts": 1}}},
    )
