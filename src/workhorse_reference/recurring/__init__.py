"""The ``recurring-sessions`` job type: future occurrences of recurring sessions
(RRULE series), generated up to a horizon without ever creating one twice."""

from workhorse.app.payloads import RecurringSessionsPayload
from workhorse_reference.recurring.generate import GenerationResult, UnknownUser, generate
from workhorse_reference.recurring.processor import (
    GENERATE_JOB,
    PAYLOADS,
    QUEUE,
    RecurringSessionsProcessor,
)
from workhorse_reference.recurring.rules import RuleError, occurrences

__all__ = [
    "GENERATE_JOB",
    "PAYLOADS",
    "QUEUE",
    "GenerationResult",
    "RecurringSessionsPayload",
    "RecurringSessionsProcessor",
    "RuleError",
    "UnknownUser",
    "generate",
    "occurrences",
]
