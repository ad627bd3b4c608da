"""The ``google-calendar-sync`` job type: two-way sync of a user's sessions with
their Google Calendar through the Calendar API v3 over HTTP.

Modules: :mod:`.settings` (where Google is, which OAuth client), :mod:`.oauth`
(code exchange, access token refresh, revocation), :mod:`.client` (the API calls
and their errors), :mod:`.events` (session <-> event fields), :mod:`.sync` (the
algorithm and its conflict rule), :mod:`.processor` (the job), :mod:`.errors` (what
is retried).  Connecting a calendar (the OAuth consent flow, API process only):
:mod:`.connect` (the flow), :mod:`.state` (its signed state and PKCE verifier),
:mod:`.routes` (its HTTP routes), :mod:`.extension` (their place in the API).
"""

from workhorse.app.payloads import CalendarSyncPayload
from workhorse.app.queues import CALENDAR_SYNC as QUEUE
from workhorse.app.queues import CALENDAR_SYNC_JOB as JOB
from workhorse_reference.calendar.errors import (
    CalendarRefused,
    CalendarRetryable,
    CalendarUnreachable,
    CredentialsRevoked,
    retry_policy,
)
from workhorse_reference.calendar.processor import CalendarSyncProcessor
from workhorse_reference.calendar.settings import CalendarSettings

__all__ = [
    "JOB",
    "QUEUE",
    "CalendarRefused",
    "CalendarRetryable",
    "CalendarSettings",
    "CalendarSyncPayload",
    "CalendarSyncProcessor",
    "CalendarUnreachable",
    "CredentialsRevoked",
    "retry_policy",
]
