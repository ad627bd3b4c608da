"""OAuth tokens of a user's calendar link: the code exchange that creates it, access
token refresh, revocation.

Google issues short-lived access tokens (about an hour) in exchange for the
long-lived refresh token kept on the :class:`CalendarLink`.  :class:`Credentials`
hands out the stored access token while it is valid, refreshes it when it is
missing, expiring or refused by the API (401), and stores the new one.  When Google
answers ``invalid_grant`` -- the user revoked our access, or the token expired --
the link is marked revoked (``revoked_at``, ``last_error``) and the sync fails with
:class:`~workhorse_reference.calendar.errors.CredentialsRevoked`, never retried.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import update

from workhorse.retry import parse_retry_after
from workhorse_reference.calendar.errors import (
    CalendarRefused,
    CalendarRetryable,
    CalendarUnreachable,
    CredentialsRevoked,
)
from workhorse_reference.calendar.settings import CalendarSettings
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import CalendarLink
from workhorse_reference.domain.types import utcnow


@dataclass(frozen=True, slots=True)
class Grant:
    """A token endpoint's answer.  Google may rotate the refresh token; ``scopes``
    are the ones granted (the user may untick some on the consent screen)."""

    access_token: str
    expires_at: dt.datetime
    refresh_token: str | None = None
    scopes: frozenset[str] = frozenset()


class CodeRejected(Exception):
    """The token endpoint refused an authorization code (``invalid_grant``): it was
    used already, expired, or was issued for another request.  The user must go
    through the consent screen again."""


async def refresh_access_token(
    http: httpx.AsyncClient, settings: CalendarSettings, refresh_token: str
) -> Grant:
    """Exchange ``refresh_token`` for an access token (``grant_type=refresh_token``)."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    response, body = await _token_request(http, settings, form)
    grant = _grant(response, body)
    if grant is None:
        raise _token_error(response, body)
    return grant


async def exchange_code(
    http: httpx.AsyncClient,
    settings: CalendarSettings,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str,
) -> Grant:
    """Exchange the authorization code the consent screen gave for a refresh token
    and a first access token (``grant_type=authorization_code``, with the PKCE
    verifier).  :class:`CodeRejected` on ``invalid_grant``; the errors of
    :func:`refresh_access_token` otherwise."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    response, body = await _token_request(http, settings, form)
    grant = _grant(response, body)
    if grant is None:
        if body.get("error") == "invalid_grant":
            raise CodeRejected(str(body.get("error_description") or "invalid_grant"))
        raise _token_error(response, body)
    if grant.refresh_token is None:
        raise CalendarRefused(
            response.status_code,
            "no refresh token",
            "Google granted access without a refresh token (offline access not granted)",
        )
    return grant


async def revoke_token(http: httpx.AsyncClient, settings: CalendarSettings, token: str) -> None:
    """Revoke a refresh token (and the access tokens issued with it) at Google; one
    Google no longer knows (revoked or expired already) counts as revoked.
    :class:`CalendarUnreachable` / :class:`CalendarRetryable` when Google could not
    be asked, :class:`CalendarRefused` for any other refusal."""
    try:
        response = await http.post(settings.revoke_url, data={"token": token})
    except httpx.TransportError as exc:
        raise CalendarUnreachable(
            f"Google's revocation endpoint {settings.revoke_url} did not answer: {exc!r}"
        ) from exc
    if response.is_success:
        return
    body = _json(response)
    if response.status_code == 400 and body.get("error") == "invalid_token":
        return
    raise _token_error(response, body)


async def _token_request(
    http: httpx.AsyncClient, settings: CalendarSettings, form: dict[str, str]
) -> tuple[httpx.Response, dict[str, Any]]:
    client = {
        "client_id": settings.client_id,
        "client_secret": settings.client_secret.get_secret_value(),
    }
    try:
        response = await http.post(settings.token_url, data={**form, **client})
    except httpx.TransportError as exc:
        raise CalendarUnreachable(
            f"Google's token endpoint {settings.token_url} did not answer: {exc!r}"
        ) from exc
    return response, _json(response)


def _grant(response: httpx.Response, body: dict[str, Any]) -> Grant | None:
    """The grant of a successful answer; None for a refusal."""
    if response.status_code != 200 or not isinstance(body.get("access_token"), str):
        return None
    expires_in = float(body.get("expires_in", 3600))
    rotated = body.get("refresh_token")
    scope = body.get("scope")
    return Grant(
        body["access_token"],
        utcnow() + dt.timedelta(seconds=expires_in),
        rotated if isinstance(rotated, str) else None,
        frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
    )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _token_error(response: httpx.Response, body: dict[str, Any]) -> Exception:
    status = response.status_code
    error = str(body.get("error") or "")
    detail = str(body.get("error_description") or response.reason_phrase)
    if error == "invalid_grant":
        return CredentialsRevoked(
            f"Google refused the refresh token (invalid_grant: {detail}): "
            "the user must connect their Google Calendar again"
        )
    if status == 429 or status >= 500:
        wait = response.headers.get("retry-after")
        return CalendarRetryable(
            status, error or "unavailable", detail, parse_retry_after(wait) if wait else None
        )
    if error == "invalid_client":
        detail += " -- check GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET"
    return CalendarRefused(status, error or "token endpoint", detail)


class Credentials:
    """Access tokens for one link, refreshed on demand and stored on the link."""

    def __init__(
        self,
        db: Database,
        http: httpx.AsyncClient,
        settings: CalendarSettings,
        link: CalendarLink,
    ) -> None:
        self.db = db
        self.http = http
        self.settings = settings
        self.user_id = link.user_id
        self.refresh_token = link.refresh_token
        self.access_token = link.access_token
        self.expires_at = link.access_expires_at
        self.refreshed = 0

    def _valid(self) -> bool:
        margin = dt.timedelta(seconds=self.settings.expiry_margin)
        return bool(self.access_token) and (
            self.expires_at is not None and self.expires_at - margin > utcnow()
        )

    async def token(self, *, force: bool = False) -> str:
        """A usable access token; ``force``: a new one even if the stored one looks
        valid (the API just refused it)."""
        if force or not self._valid():
            await self._refresh()
        assert self.access_token is not None
        return self.access_token

    async def _refresh(self) -> None:
        try:
            grant = await refresh_access_token(self.http, self.settings, self.refresh_token)
        except CredentialsRevoked as exc:
            await mark_revoked(self.db, self.user_id, self.refresh_token, str(exc))
            raise
        self.access_token, self.expires_at = grant.access_token, grant.expires_at
        values: dict[str, Any] = {
            "access_token": grant.access_token,
            "access_expires_at": grant.expires_at,
        }
        if grant.refresh_token:
            self.refresh_token = values["refresh_token"] = grant.refresh_token
        async with self.db.session() as s:
            await s.execute(
                update(CalendarLink).where(CalendarLink.user_id == self.user_id).values(**values)
            )
        self.refreshed += 1


async def mark_revoked(db: Database, user_id: str, refresh_token: str, reason: str) -> None:
    """Stop syncing this link until the user reconnects; keep why.  Only while the
    link still holds ``refresh_token``: a user who reconnected in the meantime keeps
    the new link."""
    async with db.session() as s:
        await s.execute(
            update(CalendarLink)
            .where(CalendarLink.user_id == user_id, CalendarLink.refresh_token == refresh_token)
            .values(revoked_at=utcnow(), last_error=reason, access_token=None)
        )
