"""How a calendar sync fails, sorted by what the queue should do about it.

- :class:`CalendarRetryable` (an :class:`~workhorse.errors.HttpError`): Google asked
  us to slow down (429; 403 ``rateLimitExceeded`` / ``userRateLimitExceeded`` /
  ``quotaExceeded``), was unavailable (5xx), or an event changed between our pull
  and our push (412).  The job is retried with backoff; :func:`retry_policy` makes a
  worker wait the server's ``Retry-After`` when it sent one.
- :class:`CalendarUnreachable`: the network failed; retried with the job's backoff.
- :class:`CredentialsRevoked`, :class:`CalendarRefused` (both
  :class:`~workhorse.errors.UnrecoverableError`): the user revoked our access, the
  calendar does not exist, or Google refused the request for a reason retrying
  cannot change.  The job fails at once.
"""

from __future__ import annotations

from workhorse.errors import HttpError, UnrecoverableError, WorkhorseError
from workhorse.retry import RetryPolicy, RetryRule


class CalendarRetryable(HttpError):
    """A temporary refusal: retry later (after ``retry_after`` seconds when given)."""

    def __init__(
        self, status: int, reason: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(status, f"Google Calendar: {status} {reason}: {message}", retry_after)
        self.reason = reason


class CalendarUnreachable(WorkhorseError):
    """The HTTP call did not get an answer (connection refused, timeout...)."""


class CredentialsRevoked(UnrecoverableError):
    """Google refused the user's refresh token: they must connect their calendar
    again.  The link is marked revoked before this is raised."""


class CalendarRefused(UnrecoverableError):
    """Google refused the request for good (forbidden, calendar not found, bad
    request): retrying cannot help."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"Google Calendar refused the request: {status} {reason}: {message}")
        self.status = status
        self.reason = reason


def retry_policy() -> RetryPolicy:
    """The policy for the worker of the ``google-calendar-sync`` queue: temporary
    refusals wait ``Retry-After`` when Google sent it, else the job's own backoff."""
    return RetryPolicy(RetryRule(errors=CalendarRetryable, retry_after=True))
