"""The ``scheduled-emails`` job type: send each due e-mail exactly once.

- :mod:`~workhorse_reference.emails.payloads`: queue and job names, payload models,
  the due sweep's schedule;
- :mod:`~workhorse_reference.emails.claim`: the row's states and its claim;
- :mod:`~workhorse_reference.emails.delivery`: claim, send, record -- and the window
  that remains;
- :mod:`~workhorse_reference.emails.due`: the sweep that enqueues due e-mails;
- :mod:`~workhorse_reference.emails.processor`: the queue's processor.
"""

from workhorse_reference.emails.claim import CLAIM_TTL, ClaimHeld
from workhorse_reference.emails.delivery import Outcome, deliver
from workhorse_reference.emails.due import enqueue_due
from workhorse_reference.emails.payloads import (
    ENQUEUE_DUE_JOB,
    PAYLOADS,
    QUEUE,
    SEND_JOB,
    EnqueueDuePayload,
    ScheduledEmailPayload,
)
from workhorse_reference.emails.processor import ScheduledEmailsProcessor

__all__ = [
    "CLAIM_TTL",
    "ENQUEUE_DUE_JOB",
    "PAYLOADS",
    "QUEUE",
    "SEND_JOB",
    "ClaimHeld",
    "EnqueueDuePayload",
    "Outcome",
    "ScheduledEmailPayload",
    "ScheduledEmailsProcessor",
    "deliver",
    "enqueue_due",
]
