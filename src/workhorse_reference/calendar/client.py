"""The few Calendar API v3 calls the sync makes, over httpx.

Every call carries the link's access token; a 401 refreshes it once and repeats the
call.  Google's error bodies (``{"error": {"code", "message", "errors": [{"reason"}]}}``)
become the errors of :mod:`workhorse_reference.calendar.errors`: 429, 5xx, 412 and
403 for rate or quota reasons are retryable (with ``Retry-After``), anything else is
refused for good.  Answers the sync handles itself (410 on a sync token, 409 on an
insert, 404/410 on an event that is gone) come back as :class:`Gone` /
:class:`Duplicate` or ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from workhorse.retry import parse_retry_after
from workhorse_reference.calendar.errors import (
    CalendarRefused,
    CalendarRetryable,
    CalendarUnreachable,
)
from workhorse_reference.calendar.oauth import Credentials

#: 403 reasons that mean "too fast" or "too much today", not "forbidden".
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})
Event = dict[str, Any]


class Gone(Exception):
    """The sync token is no longer valid (410): list everything again."""


class Duplicate(Exception):
    """An event with the id we chose already exists (409)."""


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Event] = field(default_factory=list)
    next_page_token: str | None = None
    next_sync_token: str | None = None


class CalendarApi:
    """One calendar of one user."""

    def __init__(
        self, http: httpx.AsyncClient, base_url: str, credentials: Credentials, calendar_id: str
    ) -> None:
        self.http = http
        self.credentials = credentials
        self.events_url = f"{base_url.rstrip('/')}/calendars/{quote(calendar_id, safe='')}/events"

    async def list_events(
        self, *, sync_token: str | None, page_token: str | None, page_size: int
    ) -> Page:
        """One page of events: changes since ``sync_token``, or every event (deleted
        ones included) when it is None.  :class:`Gone` when the token expired."""
        params: dict[str, str] = {"maxResults": str(page_size), "singleEvents": "true"}
        if sync_token is not None:
            params["syncToken"] = sync_token
        else:
            params["showDeleted"] = "true"
        if page_token is not None:
            params["pageToken"] = page_token
        response = await self._call("GET", self.events_url, params=params, allow=(410,))
        if response.status_code == 410:
            if sync_token is None:
                raise _refusal(response, "listing events")
            raise Gone()
        body = response.json()
        return Page(
            list(body.get("items") or []), body.get("nextPageToken"), body.get("nextSyncToken")
        )

    async def get(self, event_id: str) -> Event | None:
        response = await self._call("GET", self._url(event_id), allow=(404,))
        return None if response.status_code == 404 else _event(response)

    async def insert(self, body: Event) -> Event:
        """Create an event; :class:`Duplicate` when ``body["id"]`` is taken."""
        response = await self._call("POST", self.events_url, json=body, allow=(409,))
        if response.status_code == 409:
            raise Duplicate(body.get("id"))
        return _event(response)

    async def patch(self, event_id: str, body: Event, etag: str | None) -> Event | None:
        """Change an event's fields; None when it no longer exists.  With ``etag``,
        only if nobody changed it since (412 otherwise, retryable)."""
        headers = {"If-Match": etag} if etag else {}
        response = await self._call(
            "PATCH", self._url(event_id), json=body, headers=headers, allow=(404, 410)
        )
        return None if response.status_code in (404, 410) else _event(response)

    async def delete(self, event_id: str) -> bool:
        """Delete an event; False when it was already gone."""
        response = await self._call("DELETE", self._url(event_id), allow=(404, 410))
        return response.status_code not in (404, 410)

    def _url(self, event_id: str) -> str:
        return f"{self.events_url}/{quote(event_id, safe='')}"

    async def _call(
        self,
        method: str,
        url: str,
        *,
        allow: tuple[int, ...] = (),
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        response = await self._send(method, url, await self.credentials.token(), headers, kwargs)
        if response.status_code == 401:
            token = await self.credentials.token(force=True)
            response = await self._send(method, url, token, headers, kwargs)
        if response.is_success or response.status_code in allow:
            return response
        raise _refusal(response, f"{method} {url}")

    async def _send(
        self,
        method: str,
        url: str,
        token: str,
        headers: dict[str, str] | None,
        kwargs: dict[str, Any],
    ) -> httpx.Response:
        all_headers = {"Authorization": f"Bearer {token}", **(headers or {})}
        try:
            return await self.http.request(method, url, headers=all_headers, **kwargs)
        except httpx.TransportError as exc:
            raise CalendarUnreachable(
                f"Google Calendar API at {url} did not answer: {exc!r}"
            ) from exc


def _event(response: httpx.Response) -> Event:
    body = response.json()
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise CalendarRefused(response.status_code, "badResponse", "an event without an id")
    return body


def google_error(response: httpx.Response) -> tuple[str, str]:
    """``(reason, message)`` of a Google error body; the status text when it has none."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if not isinstance(error, dict):
        return response.reason_phrase or "error", response.text[:200]
    details = error.get("errors") or [{}]
    reason = details[0].get("reason") if isinstance(details[0], dict) else None
    return str(reason or error.get("status") or "error"), str(error.get("message") or "")


def _refusal(response: httpx.Response, doing: str) -> Exception:
    """The error to raise for a failed answer: retryable or refused for good."""
    status = response.status_code
    reason, message = google_error(response)
    temporary = status in (412, 429) or status >= 500 or (status == 403 and reason in RATE_REASONS)
    if temporary:
        if status == 412:
            message += " (the event changed since it was read; the next attempt pulls it first)"
        wait = response.headers.get("retry-after")
        return CalendarRetryable(status, reason, message, parse_retry_after(wait) if wait else None)
    if status == 401:
        message += " (even with a freshly refreshed access token)"
    return CalendarRefused(status, reason, f"{message} ({doing})")
