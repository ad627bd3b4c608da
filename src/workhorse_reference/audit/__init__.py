"""The audit log in the domain database: the ``audit-cleanup`` job type, the
:class:`~workhorse.app.audit.AuditLog` the API records admin actions into, and the
recorder that writes job lifecycle events."""

from workhorse.app.payloads import AuditCleanupPayload
from workhorse_reference.audit.cleanup import delete_older_than
from workhorse_reference.audit.processor import (
    CLEANUP_JOB,
    PAYLOADS,
    QUEUE,
    AuditCleanupProcessor,
)
from workhorse_reference.audit.recorder import LIFECYCLE_ACTIONS, JobAuditRecorder
from workhorse_reference.audit.sql_log import SqlAuditLog

__all__ = [
    "CLEANUP_JOB",
    "LIFECYCLE_ACTIONS",
    "PAYLOADS",
    "QUEUE",
    "AuditCleanupPayload",
    "AuditCleanupProcessor",
    "JobAuditRecorder",
    "SqlAuditLog",
    "delete_older_than",
]
