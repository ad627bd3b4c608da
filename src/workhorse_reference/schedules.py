"""The reference application's cron schedules.  The scheduler only enqueues jobs;
the work is done by the queues' processors:

- every 5 minutes, ``enqueue-due`` on ``scheduled-emails`` (queues the due e-mails);
- nightly at 02:00, ``generate`` on ``recurring-sessions`` for every user;
- daily at 03:30, ``cleanup`` on ``audit-cleanup`` keeping 30 days.

:func:`install_schedules` upserts them under stable keys, so every process may call
it at start-up and one schedule of each results.  The scheduled jobs carry their
queue's registry defaults (attempts, backoff, time limit, retention), as jobs added
through the queue service do, and their data is checked against the queue's payload
model first (and stored as written).
"""

from __future__ import annotations

from typing import Any

from workhorse.app.service import QueueService
from workhorse.schedule import Schedule, upsert_schedule
from workhorse_reference.audit.processor import CLEANUP_JOB
from workhorse_reference.audit.processor import QUEUE as AUDIT_CLEANUP
from workhorse_reference.emails.payloads import DUE_SCHEDULE_KEY, ENQUEUE_DUE_JOB
from workhorse_reference.emails.payloads import QUEUE as SCHEDULED_EMAILS
from workhorse_reference.recurring.processor import GENERATE_JOB
from workhorse_reference.recurring.processor import QUEUE as RECURRING_SESSIONS

#: Keys ``<queue>:<job>``; the e-mails' is the one their package documents.
DUE_EMAILS_KEY = DUE_SCHEDULE_KEY
RECURRING_SESSIONS_KEY = f"{RECURRING_SESSIONS}:{GENERATE_JOB}"
AUDIT_CLEANUP_KEY = f"{AUDIT_CLEANUP}:{CLEANUP_JOB}"


def reference_schedules(service: QueueService, tz: str = "UTC") -> list[Schedule]:
    """The three schedules, with each queue's default job options from the registry;
    cron patterns read in time zone ``tz``."""
    plan: tuple[tuple[str, str, str, dict[str, Any], str], ...] = (
        (DUE_EMAILS_KEY, SCHEDULED_EMAILS, ENQUEUE_DUE_JOB, {}, "*/5 * * * *"),
        (RECURRING_SESSIONS_KEY, RECURRING_SESSIONS, GENERATE_JOB, {}, "0 2 * * *"),
        (AUDIT_CLEANUP_KEY, AUDIT_CLEANUP, CLEANUP_JOB, {"daysToKeep": 30}, "30 3 * * *"),
    )
    schedules = []
    for key, queue, name, data, cron in plan:
        service.validate(queue, name, data)  # a definition the queue would refuse fails here
        options = service.registry[queue].job_options()
        schedules.append(Schedule(key, queue, name, data, cron=cron, tz=tz, options=options))
    return schedules


async def install_schedules(service: QueueService, tz: str = "UTC") -> dict[str, bool]:
    """Upsert the schedules on the service's store; returns, by key, whether each was
    created or changed (False: already there as defined)."""
    return {
        schedule.key: await upsert_schedule(service.store, schedule)
        for schedule in reference_schedules(service, tz)
    }
