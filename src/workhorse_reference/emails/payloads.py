"""The ``scheduled-emails`` queue's names and payload models (the models are the
app layer's contract, :mod:`workhorse.app.payloads`)."""

from __future__ import annotations

from pydantic import BaseModel

from workhorse.app.payloads import EnqueueDuePayload, ScheduledEmailPayload
from workhorse.app.queues import ENQUEUE_DUE_EMAILS_JOB, SCHEDULED_EMAILS, SEND_EMAIL_JOB

QUEUE = SCHEDULED_EMAILS
#: Sends one scheduled e-mail: ``{emailId, userId}``; its job id is the e-mail id.
SEND_JOB = SEND_EMAIL_JOB
#: Enqueues a send job for every due e-mail: ``{limit?}``.  The scheduler runs it.
ENQUEUE_DUE_JOB = ENQUEUE_DUE_EMAILS_JOB
#: The key of its schedule (see :mod:`workhorse_reference.schedules`).
DUE_SCHEDULE_KEY = f"{QUEUE}:{ENQUEUE_DUE_JOB}"

#: The payload model of each job name (as in the queue's registry entry).
PAYLOADS: dict[str, type[BaseModel]] = {
    SEND_JOB: ScheduledEmailPayload,
    ENQUEUE_DUE_JOB: EnqueueDuePayload,
}

__all__ = [
    "DUE_SCHEDULE_KEY",
    "ENQUEUE_DUE_JOB",
    "PAYLOADS",
    "QUEUE",
    "SEND_JOB",
    "EnqueueDuePayload",
    "ScheduledEmailPayload",
]
