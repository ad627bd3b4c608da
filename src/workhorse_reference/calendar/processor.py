"""The ``google-calendar-sync`` processor: one job syncs one user's sessions with
their Google Calendar (see :mod:`workhorse_reference.calendar.sync` for the
algorithm and the conflict rule).

Steps reported as progress: ``refresh token``, ``pull``, ``push``.  The result is
``{pulled: {created, updated, deleted}, pushed: {inserted, patched, deleted},
fullResync}``.  A job whose owner is not its ``userId`` is refused: a user syncs
only their own calendar (jobs without an owner, e.g. from the scheduler, may sync
anyone's).

Run its worker with :func:`~workhorse_reference.calendar.errors.retry_policy`
(:attr:`CalendarSyncProcessor.retry_policy`) so rate-limit answers wait as long as
Google asks.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from workhorse.app.payloads import CalendarSyncPayload
from workhorse.app.processor import Processor
from workhorse.app.queues import CALENDAR_SYNC as QUEUE
from workhorse.app.service import QueueService
from workhorse.errors import UnrecoverableError
from workhorse.job import Job
from workhorse.retry import RetryPolicy
from workhorse_reference.calendar.client import CalendarApi
from workhorse_reference.calendar.errors import (
    CalendarRefused,
    CredentialsRevoked,
)
from workhorse_reference.calendar.errors import retry_policy as calendar_retry_policy
from workhorse_reference.calendar.oauth import Credentials
from workhorse_reference.calendar.settings import CalendarSettings
from workhorse_reference.calendar.sync import CalendarSync
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import CalendarLink
from workhorse_reference.domain.types import utcnow

STEPS = ("refresh token", "pull", "push")


class CalendarSyncProcessor(Processor[CalendarSyncPayload]):
    queue = QUEUE
    retry_policy: ClassVar[RetryPolicy] = calendar_retry_policy()

    def __init__(self, service: QueueService, *, db: Database, settings: CalendarSettings) -> None:
        super().__init__(service)
        settings.check()
        self.db = db
        self.settings = settings

    async def process(self, job: Job, payload: CalendarSyncPayload) -> Any:
        user_id = payload.user_id
        if job.owner is not None and job.owner != user_id:
            raise UnrecoverableError(
                f"data.userId: {user_id!r} is not the job's owner {job.owner!r}; "
                "a user can only sync their own calendar"
            )
        link = await self._link(user_id)
        steps = self.steps(job, STEPS)
        async with httpx.AsyncClient(timeout=self.settings.timeout) as http:
            credentials = Credentials(self.db, http, self.settings, link)
            api = CalendarApi(http, self.settings.api_url, credentials, link.calendar_id)
            sync = CalendarSync(self.db, api, user_id, self.settings.page_size, steps.update)
            try:
                await steps.start("refresh token")
                await credentials.token()
                await steps.update(
                    100, "access token refreshed" if credentials.refreshed else "access token valid"
                )
                await steps.start("pull")
                await sync.pull(link.sync_token)
                await steps.start("push")
                await sync.push()
            except CalendarRefused as exc:
                await self._failed(user_id, str(exc))
                raise
        await self._done(user_id)
        await steps.finish("calendar in sync")
        return sync.result.as_json()

    async def _link(self, user_id: str) -> CalendarLink:
        async with self.db.session() as s:
            link = await s.get(CalendarLink, user_id)
        if link is None:
            raise UnrecoverableError(
                f"user {user_id!r} has no Google Calendar link: connect the calendar first"
            )
        if link.revoked_at is not None:
            raise CredentialsRevoked(
                f"user {user_id!r}'s Google Calendar access was revoked on "
                f"{link.revoked_at.isoformat()} ({link.last_error}): connect the calendar again"
            )
        return link

    async def _failed(self, user_id: str, reason: str) -> None:
        async with self.db.session() as s:
            link = await s.get(CalendarLink, user_id)
            if link is not None:
                link.last_error = reason

    async def _done(self, user_id: str) -> None:
        async with self.db.session() as s:
            link = await s.get(CalendarLink, user_id)
            if link is not None:
                link.last_synced_at = utcnow()
                link.last_error = None
