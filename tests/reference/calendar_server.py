"""A local stand-in for Google's OAuth token endpoint and Calendar API v3, served
over real HTTP (Starlette under uvicorn, on a free port in the test's event loop).

It implements, with Google's JSON shapes and status codes, the part the calendar
sync and the connect flow use:

- the consent screen, played by :meth:`CalendarServer.consent` (the user allows
  access, possibly unticking scopes) and :meth:`CalendarServer.deny` (they refuse):
  each takes the authorization URL the application built, checks it as Google
  does (client, ``redirect_uri``, ``response_type``, ``scope``, PKCE method) and
  returns the address Google would send the browser back to (``code`` or
  ``error=access_denied``, with the ``state``).  :meth:`CalendarServer.authorize`
  issues a code directly.  Codes are single use, expire after ``code_ttl`` seconds
  (or at once with :meth:`CalendarServer.expire_codes`) and are bound to their
  client, ``redirect_uri`` and PKCE challenge (``S256`` or ``plain``).  A refresh
  token comes with a code only for ``access_type=offline``, and on a repeated
  consent only with ``prompt=consent``, as Google does.
- ``POST /token``: the ``authorization_code`` grant (a used, expired, unknown or
  foreign code, or a wrong PKCE verifier, answers 400 ``invalid_grant``; another
  ``redirect_uri`` 400 ``redirect_uri_mismatch``) and the ``refresh_token`` grant
  (a revoked or unknown refresh token answers 400 ``invalid_grant``); form-encoded,
  client id and secret checked (401 ``invalid_client``).  Access tokens expire
  after ``access_ttl`` seconds (or at once with
  :meth:`CalendarServer.expire_access_tokens`).
- ``POST /revoke`` (``token`` in the form or the query): revokes the grant a
  refresh or access token belongs to, i.e. the refresh token and every access
  token issued with it (200); an unknown or already revoked token answers 400
  ``invalid_token``.
  :meth:`CalendarServer.fail_next_oauth` makes the next calls of either answer an
  error (a 503 outage by default).
- ``/calendar/v3/calendars/{calendarId}/events``: ``list`` (``maxResults``,
  ``pageToken`` / ``nextPageToken``, ``showDeleted``, ``singleEvents``,
  ``syncToken`` / ``nextSyncToken``; an unknown or invalidated sync token answers
  410 ``fullSyncRequired``), ``insert`` (client-chosen base32hex ids, 409
  ``duplicate``), ``get``, ``patch`` and ``delete`` (``If-Match`` -> 412
  ``conditionNotMet``; a deleted event answers 410 ``deleted``).  Bearer tokens are
  checked on every call (401 ``authError``).  Every write gives the event a new
  ``etag`` and ``updated``; a deletion keeps the event as ``status: cancelled``,
  which a sync (or ``showDeleted``) lists with only ``kind``, ``etag``, ``id`` and
  ``status``, as Google does.
- Event times as Google keeps them: ``start`` / ``end`` hold either ``dateTime``
  (an offset, or none with a ``timeZone`` that says where the wall-clock time is)
  or ``date`` (all-day, the end date exclusive), and an optional ``timeZone`` (an
  IANA name) kept and returned as given.  ``dateTime`` is answered in the calendar's
  time zone (``UTC`` unless :meth:`CalendarServer.set_time_zone` says otherwise; the
  list's ``timeZone`` names it), as Google does without a ``timeZone`` parameter.
  An unknown zone answers 400 ``invalid`` "Invalid time zone definition for start
  time.", a ``dateTime`` with neither offset nor zone 400 ``required``, start and end
  of different kinds 400 ``invalid``, an end before the start 400
  ``timeRangeEmpty``.  A patch merges ``start`` / ``end`` into the event's (a
  ``null`` removes a field, e.g. ``"dateTime": null`` to make an event all-day), as
  Google's patch semantics do; the owner's edits (:meth:`edit_event`) replace them.

Not implemented: recurring events (``singleEvents`` is accepted and every event is
single), the ``timeZone`` parameter of list and get, time-range filters, ACLs, the
consent screen as a web page, the list of redirect URIs registered for the client
(any absolute http(s) URL is accepted), scope enforcement on API calls.  A zone is
known when this machine's tz database knows it (Google's list is close, not equal).

Tests play the calendar's owner through :meth:`add_event`, :meth:`edit_event` and
:meth:`delete_event`, queue failures with :meth:`fail_next`, and read every request
the server received in :attr:`requests`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.http_server import serving

UTC = dt.UTC
CLIENT_ID = "workhorse-test-client.apps.googleusercontent.com"
CLIENT_SECRET = "test-client-secret"
CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar"
_EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RATE_REASONS = {429: "rateLimitExceeded", 403: "rateLimitExceeded", 503: "backendError"}
_SYNC_FORBIDDEN = ("iCalUID", "orderBy", "q", "timeMin", "timeMax", "updatedMin")
_WRITABLE = ("summary", "description", "location", "start", "end", "status", "colorId")
Handler = Callable[[Request], Awaitable[Response]]


def rfc3339(when: dt.datetime) -> str:
    """A timestamp as Google writes ``updated`` / ``created`` (UTC, milliseconds)."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_time(when: dt.datetime, time_zone: str = "UTC") -> dict[str, str]:
    """An event's ``start`` / ``end`` in ``time_zone`` as this server answers it
    on a calendar in that zone: ``dateTime`` to the second with the zone's offset
    (``Z`` for UTC), and ``timeZone``."""
    return {"dateTime": _shown(when, time_zone), "timeZone": time_zone}


def _shown(when: dt.datetime, time_zone: str) -> str:
    return when.astimezone(ZoneInfo(time_zone)).isoformat("T", "seconds").replace("+00:00", "Z")


class GoogleError(Exception):
    """Answered as Google's error body ``{"error": {"errors", "code", "message"}}``."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        domain: str = "global",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message
        self.domain = domain
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body = {
            "error": {
                "errors": [{"domain": self.domain, "reason": self.reason, "message": self.message}],
                "code": self.status,
                "message": self.message,
            }
        }
        return JSONResponse(body, status_code=self.status, headers=self.headers)


@dataclass
class Failure:
    """An answer :meth:`CalendarServer.fail_next` queued for a coming API call."""

    status: int
    reason: str
    retry_after: str | None = None

    def error(self) -> GoogleError:
        headers = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
        domain = "usageLimits" if "imit" in self.reason or "uota" in self.reason else "global"
        message = {
            "rateLimitExceeded": "Rate Limit Exceeded",
            "userRateLimitExceeded": "User Rate Limit Exceeded",
            "quotaExceeded": "Calendar usage limits exceeded.",
            "backendError": "Backend Error",
        }.get(self.reason, self.reason)
        return GoogleError(self.status, self.reason, message, domain, headers)


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: Any = None


@dataclass
class Event:
    id: str
    seq: int
    etag: str
    created: dt.datetime
    updated: dt.datetime
    fields: dict[str, Any]
    status: str = "confirmed"
    sequence: int = 0

    def resource(self, cal: Calendar) -> dict[str, Any]:
        if self.status == "cancelled":
            return {
                "kind": "calendar#event",
                "etag": self.etag,
                "id": self.id,
                "status": "cancelled",
            }
        return {
            "kind": "calendar#event",
            "etag": self.etag,
            "id": self.id,
            "status": self.status,
            "htmlLink": f"https://www.google.com/calendar/event?eid={self.id}",
            "created": rfc3339(self.created),
            "updated": rfc3339(self.updated),
            "creator": {"email": cal.id, "self": True},
            "organizer": {"email": cal.id, "self": True},
            "iCalUID": f"{self.id}@google.com",
            "sequence": self.sequence,
            "reminders": {"useDefault": True},
            "eventType": "default",
            **self.fields,
            **{part: _answered(self.fields[part], cal.time_zone) for part in ("start", "end")},
        }


@dataclass
class Calendar:
    id: str
    events: dict[str, Event] = field(default_factory=dict)
    time_zone: str = "UTC"
    # Sync tokens at or below this change number answer 410 (see expire_sync_tokens).
    oldest_sync: int = 0


@dataclass
class Account:
    """One Google user and their calendars."""

    email: str
    calendars: dict[str, Calendar]


@dataclass
class Authorization:
    """Access a user gave one client: a refresh token and the access tokens issued
    with it, revoked together."""

    account: Account
    refresh_token: str
    scope: str
    revoked: bool = False


@dataclass
class Code:
    """An authorization code from the consent screen."""

    account: Account
    client_id: str
    redirect_uri: str
    scope: str
    with_refresh_token: bool
    challenge: str | None
    challenge_method: str
    expires: dt.datetime
    used: bool = False


class ConsentError(Exception):
    """What Google shows on its own error page instead of redirecting back (an
    unknown client, a missing or bad ``redirect_uri``)."""


class CalendarServer:
    def __init__(self, access_ttl: int = 3599, code_ttl: int = 300) -> None:
        self.access_ttl = access_ttl
        self.code_ttl = code_ttl
        self.accounts: dict[str, Account] = {}  # by e-mail
        self.authorizations: dict[str, Authorization] = {}  # by refresh token
        self.access: dict[str, tuple[Authorization, dt.datetime]] = {}
        self.codes: dict[str, Code] = {}
        self.consented: set[tuple[str, str]] = set()  # (e-mail, client id)
        self.requests: list[Seen] = []
        self.failures: list[Failure] = []
        self.oauth_failures: list[tuple[int, str]] = []
        self.hooks: list[tuple[str, Callable[[], object]]] = []
        self.url = ""
        self.last_change = 0  # every write and sync-token invalidation takes a number
        self.app = Starlette(
            routes=[
                Route("/token", self._token, methods=["POST"]),
                Route("/revoke", self._revoke, methods=["POST"]),
                Route("/calendar/v3/calendars/{cal}/events", self._events, methods=["GET", "POST"]),
                Route(
                    "/calendar/v3/calendars/{cal}/events/{eid}",
                    self._event,
                    methods=["GET", "PATCH", "DELETE"],
                ),
            ]
        )

    # ---- what tests configure and inspect -------------------------------------------
    @property
    def api_url(self) -> str:
        return f"{self.url}/calendar/v3"

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    @property
    def auth_url(self) -> str:
        """The consent screen's address (played by :meth:`consent`, not served)."""
        return f"{self.url}/o/oauth2/v2/auth"

    @property
    def revoke_url(self) -> str:
        return f"{self.url}/revoke"

    def account(self, email: str, calendars: tuple[str, ...] = ()) -> Account:
        """The Google account of ``email`` (created with its primary calendar the
        first time), with ``calendars`` too."""
        found = self.accounts.setdefault(email, Account(email, {email: Calendar(email)}))
        for cid in calendars:
            found.calendars.setdefault(cid, Calendar(cid))
        return found

    def grant(self, email: str, calendars: tuple[str, ...] = ()) -> str:
        """The user of ``email`` (an account created if needed, with a primary
        calendar and ``calendars``) allowed our client access: its refresh token."""
        return self._authorization(self.account(email, calendars), CALENDAR_SCOPE).refresh_token

    def revoke(self, refresh_token: str) -> None:
        """The user removed our access in their Google account."""
        self.authorizations[refresh_token].revoked = True

    def is_revoked(self, refresh_token: str) -> bool:
        return self.authorizations[refresh_token].revoked

    def authorize(
        self,
        email: str,
        redirect_uri: str,
        *,
        client_id: str = CLIENT_ID,
        scope: str = CALENDAR_SCOPE,
        code_challenge: str | None = None,
        code_challenge_method: str = "plain",
        offline: bool = True,
        prompt_consent: bool = True,
    ) -> str:
        """The user of ``email`` allowed ``client_id`` ``scope`` on the consent
        screen: the authorization code Google sends back to ``redirect_uri``."""
        account = self.account(email)
        first_time = (email, client_id) not in self.consented
        self.consented.add((email, client_id))
        code = "4/0A" + secrets.token_urlsafe(32)
        self.codes[code] = Code(
            account,
            client_id,
            redirect_uri,
            scope,
            offline and (prompt_consent or first_time),
            code_challenge,
            code_challenge_method,
            _now() + dt.timedelta(seconds=self.code_ttl),
        )
        return code

    def consent(self, url: str, email: str, *, scopes: tuple[str, ...] | None = None) -> str:
        """The user of ``email`` opens the authorization ``url`` and allows access
        (to ``scopes`` only, when given: they unticked the others).  The address
        Google redirects their browser to: ``redirect_uri?state=..&code=..&scope=..``,
        or ``?error=..`` for a request Google refuses after checking the client.
        :class:`ConsentError` when Google would not redirect at all."""
        params, redirect_uri = self._authorization_request(url)
        back = {"state": params["state"]} if "state" in params else {}
        problem = _consent_problem(params)
        if problem is not None:
            return _with_query(redirect_uri, {**back, "error": problem})
        granted = " ".join(scopes) if scopes is not None else params["scope"]
        code = self.authorize(
            email,
            redirect_uri,
            client_id=params["client_id"],
            scope=granted,
            code_challenge=params.get("code_challenge"),
            code_challenge_method=params.get("code_challenge_method", "plain"),
            offline=params.get("access_type") == "offline",
            prompt_consent="consent" in params.get("prompt", "").split(),
        )
        return _with_query(redirect_uri, {**back, "code": code, "scope": granted})

    def deny(self, url: str) -> str:
        """The user opens the authorization ``url`` and refuses: where Google sends
        them back (``redirect_uri?error=access_denied&state=..``)."""
        params, redirect_uri = self._authorization_request(url)
        back = {"state": params["state"]} if "state" in params else {}
        return _with_query(redirect_uri, {"error": "access_denied", **back})

    def expire_codes(self) -> None:
        for code in self.codes.values():
            code.expires = _now()

    def expire_access_tokens(self) -> None:
        self.access.clear()

    def expire_sync_tokens(self, email: str, calendar_id: str = "primary") -> None:
        """Invalidate every sync token issued so far for this calendar (Google does so
        at will; the client must then list everything again)."""
        self._calendar_of(self._account(email), calendar_id).oldest_sync = self._bump()

    def set_time_zone(self, email: str, time_zone: str, calendar_id: str = "primary") -> None:
        """The owner sets the calendar's time zone (in Google Calendar's settings):
        ``dateTime`` is answered in it, and events they create are in it."""
        self._calendar_of(self._account(email), calendar_id).time_zone = time_zone

    def fail_next(
        self,
        status: int,
        reason: str | None = None,
        *,
        retry_after: str | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` Calendar API calls answer ``status`` with Google's body
        for ``reason`` (default: ``rateLimitExceeded`` for 429/403, ``backendError``
        for 503) and a ``Retry-After`` header when given."""
        why = reason or _RATE_REASONS.get(status, "backendError")
        self.failures.extend(Failure(status, why, retry_after) for _ in range(times))

    def fail_next_oauth(
        self, status: int = 503, error: str = "internal_failure", *, times: int = 1
    ) -> None:
        """The next ``times`` calls of ``/token`` or ``/revoke`` answer ``status`` with
        OAuth's error body for ``error``, doing nothing else."""
        self.oauth_failures.extend((status, error) for _ in range(times))

    def after_next(self, method: str, action: Callable[[], object]) -> None:
        """Run ``action`` once the next Calendar API ``method`` call is answered
        (another client's write slipping in between two of ours)."""
        self.hooks.append((method, action))

    def calls(self, method: str, path_part: str = "") -> list[Seen]:
        """Calendar API requests received with this method (and path fragment)."""
        return [
            r
            for r in self.requests
            if r.method == method and r.path.startswith("/calendar/") and path_part in r.path
        ]

    def events(self, email: str, calendar_id: str = "primary") -> dict[str, dict[str, Any]]:
        """The calendar's live (not cancelled) events, as the API shows them."""
        cal = self._calendar_of(self._account(email), calendar_id)
        return {e.id: e.resource(cal) for e in cal.events.values() if e.status != "cancelled"}

    def event(self, email: str, event_id: str, calendar_id: str = "primary") -> Event:
        return self._calendar_of(self._account(email), calendar_id).events[event_id]

    def add_event(
        self,
        email: str,
        summary: str,
        start: dt.datetime | dict[str, str],
        end: dt.datetime | dict[str, str],
        calendar_id: str = "primary",
        **fields: Any,
    ) -> str:
        """The owner creates an event in Google Calendar; its id.  ``start`` / ``end``:
        a datetime (in the calendar's time zone), or the API's object
        (``{"date": "2031-05-05"}`` for all-day)."""
        cal = self._calendar_of(self._account(email), calendar_id)
        zone = cal.time_zone
        body = {"summary": summary, "start": _when(start, zone), "end": _when(end, zone), **fields}
        return self._insert(cal, body, at=None).id

    def edit_event(
        self,
        email: str,
        event_id: str,
        *,
        at: dt.datetime | None = None,
        calendar_id: str = "primary",
        **fields: Any,
    ) -> None:
        """The owner edits an event (``at``: when, for conflict tests; default now).
        ``start`` / ``end`` replace the event's, and may be given as datetimes."""
        cal = self._calendar_of(self._account(email), calendar_id)
        body = {k: _when(v, cal.time_zone) for k, v in fields.items()}
        self._touch(cal, cal.events[event_id], body, at, merge=False)

    def delete_event(self, email: str, event_id: str, calendar_id: str = "primary") -> None:
        cal = self._calendar_of(self._account(email), calendar_id)
        self._touch(cal, cal.events[event_id], {"status": "cancelled"}, None, merge=False)

    def forget_event(self, email: str, event_id: str, calendar_id: str = "primary") -> None:
        """Drop an event without a trace, as Google does with events deleted long
        ago (a sync token from before then is no longer valid either)."""
        cal = self._calendar_of(self._account(email), calendar_id)
        del cal.events[event_id]
        cal.oldest_sync = self._bump()

    # ---- running --------------------------------------------------------------------
    @asynccontextmanager
    async def running(self) -> AsyncIterator[CalendarServer]:
        async with serving(self.app, lifespan="off") as url:
            self.url = url
            yield self

    # ---- OAuth ----------------------------------------------------------------------
    def _authorization_request(self, url: str) -> tuple[dict[str, str], str]:
        """The query of an authorization URL and its checked ``redirect_uri``."""
        parts = urlsplit(url)
        if url.split("?", 1)[0] != self.auth_url:
            raise ConsentError(f"{url} is not this server's consent screen {self.auth_url}")
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if params.get("client_id") != CLIENT_ID:
            raise ConsentError("Error 401: invalid_client (The OAuth client was not found.)")
        redirect_uri = params.get("redirect_uri", "")
        target = urlsplit(redirect_uri)
        if target.scheme not in ("http", "https") or not target.netloc or target.fragment:
            raise ConsentError(f"Error 400: redirect_uri_mismatch ({redirect_uri!r})")
        return params, redirect_uri

    async def _token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self._record(request, form)
        if self.oauth_failures:
            return _oauth_error(*self.oauth_failures.pop(0), "Backend Error")
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return _oauth_error(401, "invalid_client", "Unauthorized")
        grant = form.get("grant_type")
        if grant == "refresh_token":
            found = self.authorizations.get(form.get("refresh_token", ""))
            if found is None or found.revoked:
                return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
            return self._tokens(found, with_refresh_token=False)
        if grant == "authorization_code":
            return self._redeem(form)
        return _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant}")

    def _redeem(self, form: dict[str, str]) -> Response:
        """The ``authorization_code`` grant: a code is good once, before it expires,
        for the client, redirect URI and PKCE challenge it was issued with."""
        code = self.codes.get(form.get("code", ""))
        if code is None:
            return _oauth_error(400, "invalid_grant", "Malformed auth code.")
        used, code.used = code.used, True
        if used or code.expires <= _now() or code.client_id != form["client_id"]:
            return _oauth_error(400, "invalid_grant", "Bad Request")
        if form.get("redirect_uri") != code.redirect_uri:
            return _oauth_error(400, "redirect_uri_mismatch", "Bad Request")
        if code.challenge is not None:
            verifier = form.get("code_verifier")
            if not verifier:
                return _oauth_error(400, "invalid_grant", "Missing code verifier.")
            if _pkce(verifier, code.challenge_method) != code.challenge:
                return _oauth_error(400, "invalid_grant", "Invalid code verifier.")
        found = self._authorization(code.account, code.scope)
        return self._tokens(found, with_refresh_token=code.with_refresh_token)

    def _authorization(self, account: Account, scope: str) -> Authorization:
        found = Authorization(account, "1//" + secrets.token_urlsafe(24), scope)
        self.authorizations[found.refresh_token] = found
        return found

    def _tokens(self, found: Authorization, *, with_refresh_token: bool) -> Response:
        token = "ya29." + secrets.token_urlsafe(32)
        self.access[token] = (found, _now() + dt.timedelta(seconds=self.access_ttl))
        body: dict[str, Any] = {
            "access_token": token,
            "expires_in": self.access_ttl,
            "scope": found.scope,
            "token_type": "Bearer",
        }
        if with_refresh_token:
            body["refresh_token"] = found.refresh_token
        return JSONResponse(body)

    async def _revoke(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self._record(request, form)
        if self.oauth_failures:
            return _oauth_error(*self.oauth_failures.pop(0), "Backend Error")
        token = form.get("token") or request.query_params.get("token", "")
        found = self.authorizations.get(token)
        if found is None and token in self.access:
            found = self.access[token][0]
        if found is None or found.revoked:
            return _oauth_error(400, "invalid_token", "Token expired or revoked")
        found.revoked = True
        return Response(status_code=200)

    # ---- Calendar API ---------------------------------------------------------------
    async def _events(self, request: Request) -> Response:
        if request.method == "GET":
            return await self._api(request, self._list)
        return await self._api(request, self._insert_call)

    async def _event(self, request: Request) -> Response:
        handler = {"GET": self._get, "PATCH": self._patch, "DELETE": self._delete}
        return await self._api(request, handler[request.method])

    async def _api(
        self, request: Request, handler: Callable[[Request, Calendar], Response]
    ) -> Response:
        raw = await request.body()
        self._record(request, json.loads(raw) if raw else None)
        try:
            account = self._authorize(request)
            if self.failures:
                raise self.failures.pop(0).error()
            cal = self._calendar_of(account, request.path_params["cal"])
            response = handler(request, cal)
        except GoogleError as exc:
            return exc.response()
        for hook in [h for h in self.hooks if h[0] == request.method][:1]:
            self.hooks.remove(hook)
            hook[1]()
        return response

    def _authorize(self, request: Request) -> Account:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        found = self.access.get(token) if scheme == "Bearer" else None
        if found is None or found[1] <= _now() or found[0].revoked:
            raise GoogleError(401, "authError", "Invalid Credentials")
        return found[0].account

    def _list(self, request: Request, cal: Calendar) -> Response:
        q = request.query_params
        page = _decode(q["pageToken"], "pageToken") if "pageToken" in q else None
        if page is None:
            since = self._since(q, cal)
            page = {"since": since, "upto": self.last_change, "after": "", "inc": since is not None}
        since, upto, after = page["since"] or 0, page["upto"], page["after"]
        show_deleted = page["inc"] or q.get("showDeleted") == "true"
        limit = min(_int(q.get("maxResults", "250"), "maxResults"), 2500)
        chosen = sorted(
            (
                e
                for e in cal.events.values()
                if since < e.seq <= upto
                and e.id > after
                and (show_deleted or e.status != "cancelled")
            ),
            key=lambda e: e.id,
        )
        items, more = chosen[:limit], len(chosen) > limit
        body: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": f'"{upto}"',
            "summary": cal.id,
            "updated": rfc3339(_now()),
            "timeZone": cal.time_zone,
            "accessRole": "owner",
            "defaultReminders": [],
            "items": [e.resource(cal) for e in items],
        }
        if more:
            body["nextPageToken"] = _encode({**page, "after": items[-1].id})
        else:
            body["nextSyncToken"] = _encode({"cal": cal.id, "seq": upto})
        return JSONResponse(body)

    def _since(self, q: Any, cal: Calendar) -> int | None:
        """The change number a sync token stands for (None: a full listing)."""
        if "syncToken" not in q:
            return None
        bad = [name for name in _SYNC_FORBIDDEN if name in q]
        if bad or q.get("showDeleted") == "false":
            what = bad[0] if bad else "showDeleted=false"
            raise GoogleError(400, "invalid", f"Sync token cannot be combined with {what}.")
        token = _decode(q["syncToken"], "syncToken", gone=True)
        if token.get("cal") != cal.id or token["seq"] < cal.oldest_sync:
            raise _full_sync_required()
        return int(token["seq"])

    def _insert_call(self, request: Request, cal: Calendar) -> Response:
        body = self.requests[-1].body
        if not isinstance(body, dict):
            raise GoogleError(400, "parseError", "Parse Error")
        for part in ("start", "end"):
            when = body.get(part)
            if not isinstance(when, dict) or not ("dateTime" in when or "date" in when):
                raise GoogleError(400, "required", f"Missing {part} time.")
        event_id = body.get("id")
        if event_id is not None:
            if not isinstance(event_id, str) or not _EVENT_ID.match(event_id):
                raise GoogleError(400, "invalid", "Invalid resource id value.")
            if event_id in cal.events:
                raise GoogleError(409, "duplicate", "The requested identifier already exists.")
        return JSONResponse(self._insert(cal, body, at=None).resource(cal))

    def _get(self, request: Request, cal: Calendar) -> Response:
        return JSONResponse(self._find(cal, request).resource(cal))

    def _patch(self, request: Request, cal: Calendar) -> Response:
        event = self._live(cal, request)
        body = self.requests[-1].body
        if not isinstance(body, dict):
            raise GoogleError(400, "parseError", "Parse Error")
        changes = {k: v for k, v in body.items() if k in _WRITABLE}
        self._touch(cal, event, changes, None, merge=True)
        return JSONResponse(event.resource(cal))

    def _delete(self, request: Request, cal: Calendar) -> Response:
        event = self._live(cal, request)
        self._touch(cal, event, {"status": "cancelled"}, None, merge=False)
        return Response(status_code=204)

    # ---- the calendar's data --------------------------------------------------------
    def _find(self, cal: Calendar, request: Request) -> Event:
        event = cal.events.get(request.path_params["eid"])
        if event is None:
            raise GoogleError(404, "notFound", "Not Found")
        return event

    def _live(self, cal: Calendar, request: Request) -> Event:
        """The event to change: not deleted, and matching ``If-Match`` when given."""
        event = self._find(cal, request)
        if event.status == "cancelled":
            raise GoogleError(410, "deleted", "Resource has been deleted")
        expected = request.headers.get("if-match")
        if expected is not None and expected not in ("*", event.etag):
            raise GoogleError(412, "conditionNotMet", "Precondition Failed")
        return event

    def _insert(self, cal: Calendar, body: dict[str, Any], at: dt.datetime | None) -> Event:
        event_id = body.get("id") or base64.b32hexencode(secrets.token_bytes(15)).decode().lower()
        now = at or _now()
        seq = self._bump()
        given = {k: v for k, v in body.items() if k in _WRITABLE and k != "status"}
        fields = _changed({}, given, merge=False)
        event = Event(event_id, seq, _etag(seq), now, now, fields)
        cal.events[event_id] = event
        return event

    def _touch(
        self,
        cal: Calendar,
        event: Event,
        changes: dict[str, Any],
        at: dt.datetime | None,
        *,
        merge: bool,
    ) -> None:
        """Apply a write (``merge``: a patch's ``start`` / ``end`` are merged into
        the event's; otherwise they replace them)."""
        changes = dict(changes)
        if "status" in changes:
            event.status = changes.pop("status")
        fields = _changed(event.fields, changes, merge=merge)
        if fields["start"] != event.fields["start"] or fields["end"] != event.fields["end"]:
            event.sequence += 1
        event.fields = fields
        event.seq = self._bump()
        event.etag = _etag(event.seq)
        event.updated = at or _now()

    def _bump(self) -> int:
        self.last_change += 1
        return self.last_change

    def _account(self, email: str) -> Account:
        return self.accounts[email]

    @staticmethod
    def _calendar_of(account: Account, calendar_id: str) -> Calendar:
        cal = account.calendars.get(account.email if calendar_id == "primary" else calendar_id)
        if cal is None:
            raise GoogleError(404, "notFound", "Not Found")
        return cal

    def _record(self, request: Request, body: Any) -> None:
        headers = {k: v for k, v in request.headers.items() if k in ("authorization", "if-match")}
        self.requests.append(
            Seen(request.method, request.url.path, dict(request.query_params), headers, body)
        )


def _now() -> dt.datetime:
    return dt.datetime.now(UTC)


def _when(value: Any, time_zone: str) -> Any:
    return event_time(value, time_zone) if isinstance(value, dt.datetime) else value


def _changed(fields: dict[str, Any], changes: dict[str, Any], *, merge: bool) -> dict[str, Any]:
    """An event's fields after a write, its ``start`` / ``end`` checked as Google
    checks them and kept as :func:`_event_time` stores them (``merge``: patch
    semantics, a ``null`` removing a field)."""
    out = {**fields, **{k: v for k, v in changes.items() if k not in ("start", "end")}}
    for part in ("start", "end"):
        if part not in changes:
            continue
        given = changes[part]
        if not isinstance(given, dict):
            raise GoogleError(400, "invalid", f"Invalid {part} time.")
        merged = {**fields.get(part, {}), **given} if merge else given
        out[part] = _event_time({k: v for k, v in merged.items() if v is not None}, part)
    start, end = out["start"], out["end"]
    if ("date" in start) != ("date" in end):
        raise GoogleError(
            400, "invalid", "Start and end times must either both be date or both be dateTime."
        )
    if _instant(end) < _instant(start):
        raise GoogleError(400, "timeRangeEmpty", "The specified time range is empty.")
    return out


def _event_time(when: dict[str, Any], part: str) -> dict[str, str]:
    """One ``start`` / ``end`` as kept: ``date``, or ``dateTime`` as a UTC instant;
    ``timeZone`` as given."""
    zone = when.get("timeZone")
    if zone is not None and not _known_zone(zone):
        raise GoogleError(400, "invalid", f"Invalid time zone definition for {part} time.")
    kept = {} if zone is None else {"timeZone": zone}
    if "date" not in when and "dateTime" not in when:
        raise GoogleError(400, "required", f"Missing {part} time.")
    if "date" in when and "dateTime" in when:
        raise GoogleError(400, "invalid", f"Invalid {part} time.")
    if "date" in when:
        raw = when["date"]
        try:
            day = dt.date.fromisoformat(raw) if _DATE.match(str(raw)) else None
        except ValueError:
            day = None
        if day is None:
            raise GoogleError(400, "invalid", f"Invalid {part} time.")
        return {"date": day.isoformat(), **kept}
    try:
        parsed = dt.datetime.fromisoformat(when["dateTime"])
    except (TypeError, ValueError):
        raise GoogleError(400, "invalid", f"Invalid {part} time.") from None
    if parsed.tzinfo is None:
        if zone is None:
            raise GoogleError(400, "required", f"Missing time zone definition for {part} time.")
        parsed = parsed.replace(tzinfo=ZoneInfo(zone))
    return {"dateTime": _shown(parsed, "UTC"), **kept}


def _known_zone(name: Any) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return False
    return True


def _instant(when: dict[str, str]) -> str:
    """Ordered as text within one kind: an ISO date, or a ``dateTime`` as kept (UTC,
    to the second)."""
    return when.get("date") or when["dateTime"]


def _answered(when: dict[str, str], time_zone: str) -> dict[str, str]:
    """A kept ``start`` / ``end`` as answered on a calendar in ``time_zone``."""
    if "dateTime" not in when:
        return when
    return {**when, "dateTime": _shown(dt.datetime.fromisoformat(when["dateTime"]), time_zone)}


def _etag(seq: int) -> str:
    return f'"{3_400_000_000_000_000 + seq * 1000}"'


def _int(raw: str, name: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise GoogleError(400, "invalid", f"Invalid value for: {name}") from None
    if value < 1:
        raise GoogleError(400, "invalid", f"Invalid value for: {name}")
    return value


def _encode(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode()


def _decode(raw: str, name: str, gone: bool = False) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except ValueError:
        if gone:
            raise _full_sync_required() from None
        raise GoogleError(400, "invalid", f"Invalid {name} value.") from None
    if not isinstance(value, dict):
        raise GoogleError(400, "invalid", f"Invalid {name} value.")
    return value


def _full_sync_required() -> GoogleError:
    return GoogleError(
        410, "fullSyncRequired", "Sync token is no longer valid, a full sync is required."
    )


def _pkce(verifier: str, method: str) -> str:
    """The challenge ``verifier`` answers (RFC 7636)."""
    if method != "S256":
        return verifier
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _consent_problem(params: dict[str, str]) -> str | None:
    """The ``error`` Google redirects back with for a bad authorization request."""
    if params.get("response_type") != "code":
        return "unsupported_response_type"
    if not params.get("scope"):
        return "invalid_scope"
    if "code_challenge" in params and params.get("code_challenge_method", "plain") not in (
        "S256",
        "plain",
    ):
        return "invalid_request"
    return None


def _with_query(url: str, params: dict[str, str]) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)
