"""The OAuth consent flow that connects a user's Google Calendar, and the
:class:`CalendarLink` it creates, shows and removes (the HTTP side is
:mod:`workhorse_reference.calendar.routes`).

1. :meth:`CalendarConnector.consent_url`: Google's consent screen for the user,
   asking for :data:`~workhorse_reference.calendar.settings.SCOPE` with
   ``access_type=offline`` and ``prompt=consent`` -- Google returns a refresh token
   only for offline access, and on a repeated consent only when the screen was
   shown again, so a user reconnecting after a revocation still gets one.  The
   signed ``state`` names the user; PKCE (``S256``) binds the code to that state
   (:mod:`workhorse_reference.calendar.state`).
2. :meth:`CalendarConnector.complete`: where Google sends the browser back.  The
   state is checked, the code exchanged for tokens, the link created or replaced
   (see :func:`store_link`) and a first ``google-calendar-sync`` job queued.
3. :meth:`CalendarConnector.disconnect`: revoke the refresh token at Google, then
   forget the link.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from workhorse.app.queues import CALENDAR_SYNC as QUEUE
from workhorse.app.queues import CALENDAR_SYNC_JOB as JOB
from workhorse.app.service import QueueService
from workhorse.job import Job
from workhorse_reference.calendar.errors import (
    CalendarRefused,
    CalendarRetryable,
    CalendarUnreachable,
)
from workhorse_reference.calendar.oauth import CodeRejected, Grant, exchange_code, revoke_token
from workhorse_reference.calendar.settings import SCOPE, CalendarSettings
from workhorse_reference.calendar.state import StateSigner, code_challenge
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import CalendarLink, User

log = logging.getLogger("workhorse_reference.calendar")
#: Granted scopes that let the sync work: the one asked for, or all of Calendar.
SUFFICIENT_SCOPES = frozenset({SCOPE, "https://www.googleapis.com/auth/calendar"})
#: Google failed us (no answer, 5xx, or a refusal of our client): not the user's doing.
GOOGLE_FAILURES = (CalendarUnreachable, CalendarRetryable, CalendarRefused)


class NotConfigured(Exception):
    """No OAuth client is configured (``GOOGLE_CLIENT_ID`` / ``_SECRET``)."""


class UnknownUser(Exception):
    """The user has no row in the domain database, so no link can be attached."""


class ConsentFailed(Exception):
    """Nothing was connected, and connecting again is the way out: the code was used
    or expired, the calendar permission was unticked, or the user is gone."""


class GoogleUnavailable(Exception):
    """Google could not be reached, failed, or refused our client."""


class CalendarConnector:
    """The flow for one API process.  :meth:`open` before use, :meth:`close` after."""

    def __init__(
        self,
        db: Database,
        settings: CalendarSettings,
        secret: str,
        clock: Callable[[], float],
    ) -> None:
        self.db = db
        self.settings = settings
        self.signer = StateSigner(secret, settings.state_ttl)
        self.clock = clock
        self._http: httpx.AsyncClient | None = None
        self._service: QueueService | None = None

    def open(self, service: QueueService) -> None:
        self._service = service
        self._http = httpx.AsyncClient(timeout=self.settings.timeout)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            raise RuntimeError("CalendarConnector used before open()")
        return self._http

    @property
    def service(self) -> QueueService:
        if self._service is None:
            raise RuntimeError("CalendarConnector used before open()")
        return self._service

    def _check_configured(self) -> None:
        try:
            self.settings.check()
        except ValueError as exc:
            raise NotConfigured(str(exc)) from None

    async def consent_url(self, user_id: str, redirect_uri: str) -> str:
        """Google's consent screen for ``user_id``, returning to ``redirect_uri``."""
        self._check_configured()
        if not await user_exists(self.db, user_id):
            raise UnknownUser(f"user {user_id!r} does not exist in the application")
        state = self.signer.issue(user_id, self.clock())
        params = {
            "client_id": self.settings.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": SCOPE,
            "access_type": "offline",
            "prompt": "consent",
            "state": state,
            "code_challenge": code_challenge(self.signer.code_verifier(state)),
            "code_challenge_method": "S256",
        }
        separator = "&" if "?" in self.settings.auth_url else "?"
        return f"{self.settings.auth_url}{separator}{urlencode(params)}"

    async def complete(self, code: str, state: str, redirect_uri: str) -> Job:
        """Connect the user ``state`` names with the tokens ``code`` stands for; the
        first sync job.  ``redirect_uri`` must be the one the consent URL carried."""
        consent = self.signer.verify(state, self.clock())
        self._check_configured()
        user_id = consent.user_id
        if not await user_exists(self.db, user_id):
            raise ConsentFailed(f"user {user_id!r} no longer exists in the application")
        try:
            grant = await exchange_code(
                self.http,
                self.settings,
                code=code,
                redirect_uri=redirect_uri,
                code_verifier=self.signer.code_verifier(state),
            )
        except CodeRejected as exc:
            raise ConsentFailed(
                f"the authorization expired or was already used ({exc}): connect again"
            ) from None
        except GOOGLE_FAILURES as exc:
            log.warning("calendar connect of user %s: code exchange failed: %s", user_id, exc)
            raise GoogleUnavailable(str(exc)) from None
        if not grants_calendar(grant):
            await self._forget(grant)
            raise ConsentFailed(
                "access to your calendar's events was not allowed on Google's consent "
                "screen: connect again and leave it ticked"
            )
        await store_link(self.db, user_id, grant)
        job = await self.service.add(QUEUE, JOB, {"userId": user_id}, owner=user_id)
        log.info("user %s connected their Google Calendar; first sync is job %s", user_id, job.id)
        return job

    async def disconnect(self, user_id: str) -> bool:
        """Revoke the user's access at Google and delete their link; False when they
        had none.  :class:`GoogleUnavailable` (the link kept) when Google could not
        confirm the revocation."""
        link = await find_link(self.db, user_id)
        if link is None:
            return False
        try:
            await revoke_token(self.http, self.settings, link.refresh_token)
        except GOOGLE_FAILURES as exc:
            log.warning("calendar disconnect of user %s: revocation failed: %s", user_id, exc)
            raise GoogleUnavailable(str(exc)) from None
        await delete_link(self.db, user_id)
        log.info("user %s disconnected their Google Calendar", user_id)
        return True

    async def _forget(self, grant: Grant) -> None:
        """Give back tokens we will not keep; a failure only leaves them to expire."""
        assert grant.refresh_token is not None  # exchange_code guarantees one
        try:
            await revoke_token(self.http, self.settings, grant.refresh_token)
        except GOOGLE_FAILURES as exc:
            log.warning("could not revoke an unused calendar grant: %s", exc)


def grants_calendar(grant: Grant) -> bool:
    """Whether the user left the calendar permission ticked on the consent screen
    (Google's granular consent lets them untick it).  An answer without ``scope``
    is taken as granting what was asked."""
    return not grant.scopes or bool(grant.scopes & SUFFICIENT_SCOPES)


async def user_exists(db: Database, user_id: str) -> bool:
    async with db.session() as s:
        return await s.get(User, user_id) is not None


async def find_link(db: Database, user_id: str) -> CalendarLink | None:
    async with db.session() as s:
        return await s.get(CalendarLink, user_id)


async def store_link(db: Database, user_id: str, grant: Grant) -> None:
    """Create the user's link, or replace the credentials of the one they had: the
    new tokens, not revoked, no error, and no sync token, so the next sync lists
    the whole calendar again.  One ``INSERT .. ON CONFLICT DO UPDATE``, so two
    callbacks racing for the same user leave one link, the last one's."""
    values: dict[str, Any] = {
        "refresh_token": grant.refresh_token,
        "access_token": grant.access_token,
        "access_expires_at": grant.expires_at,
        "revoked_at": None,
        "last_error": None,
        "sync_token": None,
    }
    insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
    statement = (
        insert(CalendarLink)
        .values(user_id=user_id, **values)
        .on_conflict_do_update(index_elements=[CalendarLink.user_id], set_=values)
    )
    async with db.session() as s:
        await s.execute(statement)


async def delete_link(db: Database, user_id: str) -> None:
    async with db.session() as s:
        await s.execute(delete(CalendarLink).where(CalendarLink.user_id == user_id))
