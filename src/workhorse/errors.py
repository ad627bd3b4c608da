"""Exceptions a job handler or a caller of the engine may see or raise."""

from __future__ import annotations


class WorkhorseError(Exception):
    """Base class of every error the engine raises on purpose."""


class UnrecoverableError(WorkhorseError):
    """Raise from a handler to fail the job at once, whatever attempts remain."""


class JobNotFound(WorkhorseError, LookupError):
    """No job with this id exists in the queue (never created, or removed by retention)."""

    def __init__(self, queue: str, job_id: str) -> None:
        super().__init__(f"no job {job_id!r} in queue {queue!r}")
        self.queue = queue
        self.job_id = job_id


class InvalidTransition(WorkhorseError):
    """The job is not in a state that allows the requested operation."""


class JobFailed(WorkhorseError):
    """Raised by :meth:`Job.result` when the job failed for good."""

    def __init__(self, job_id: str, reason: str) -> None:
        super().__init__(f"job {job_id} failed: {reason}")
        self.job_id = job_id
        self.reason = reason


class JobCancelled(WorkhorseError):
    """Raised inside a running handler's task when the job is cancelled by id."""


class StoreUnavailable(WorkhorseError, ConnectionError):
    """The store cannot be reached; the message says which address was tried."""


class HttpError(WorkhorseError):
    """An HTTP call made by a handler failed with ``status``.

    Raise it (or let ``httpx.HTTPStatusError`` / ``requests.HTTPError`` propagate) so
    a :class:`~workhorse.retry.RetryPolicy` can decide by status: ``retry_after`` is
    the server's ``Retry-After`` in seconds, when it sent one.
    """

    def __init__(self, status: int, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(message or f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after
