"""A local stand-in for Google's OAuth token endpoint and Calendar API v3, served
over real HTTP (Starlette under uvicorn, on a free port in the test's event loop).

It implements, with Google's JSON shapes and status codes, the part the calendar
sync uses:

- ``POST /token``: the ``refresh_token`` grant (form-encoded, client id and secret
  checked).  A revoked or unknown refresh token answers 400 ``invalid_grant``; a
  wrong client 401 ``invalid_client``.  Access tokens expire after
  ``access_ttl`` seconds (or at once with :meth:`CalendarServer.expire_access_tokens`).
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

Not implemented: recurring events (``singleEvents`` is accepted and every event is
single), time zones other than the offsets in ``dateTime``, time-range filters,
ACLs.

Tests play the calendar's owner through :meth:`add_event`, :meth:`edit_event` and
:meth:`delete_event`, queue failures with :meth:`fail_next`, and read every request
the server received in :attr:`requests`.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.api.conftest import free_socket

UTC = dt.UTC
CLIENT_ID = "workhorse-test-client.apps.googleusercontent.com"
CLIENT_SECRET = "test-client-secret"
_EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
_RATE_REASONS = {429: "rateLimitExceeded", 403: "rateLimitExceeded", 503: "backendError"}
_SYNC_FORBIDDEN = ("iCalUID", "orderBy", "q", "timeMin", "timeMax", "updatedMin")
_WRITABLE = ("summary", "description", "location", "start", "end", "status", "colorId")
Handler = Callable[[Request], Awaitable[Response]]


def rfc3339(when: dt.datetime) -> str:
    """A timestamp as Google writes ``updated`` / ``created`` (UTC, milliseconds)."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_time(when: dt.datetime) -> dict[str, str]:
    """An event's ``start`` / ``end`` as this server answers it: in the calendar's
    time zone (UTC here), to the second."""
    return {"dateTime": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


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

    def resource(self, calendar_id: str) -> dict[str, Any]:
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
            "creator": {"email": calendar_id, "self": True},
            "organizer": {"email": calendar_id, "self": True},
            "iCalUID": f"{self.id}@google.com",
            "sequence": self.sequence,
            "reminders": {"useDefault": True},
            "eventType": "default",
            **self.fields,
        }


@dataclass
class Calendar:
    id: str
    events: dict[str, Event] = field(default_factory=dict)
    # Sync tokens at or below this change number answer 410 (see expire_sync_tokens).
    oldest_sync: int = 0


@dataclass
class Account:
    """One Google user: their refresh token, calendars and access tokens."""

    email: str
    refresh_token: str
    calendars: dict[str, Calendar]
    revoked: bool = False


class CalendarServer:
    def __init__(self, access_ttl: int = 3599) -> None:
        self.access_ttl = access_ttl
        self.accounts: dict[str, Account] = {}  # by refresh token
        self.access: dict[str, tuple[Account, dt.datetime]] = {}
        self.requests: list[Seen] = []
        self.failures: list[Failure] = []
        self.hooks: list[tuple[str, Callable[[], object]]] = []
        self.url = ""
        self.last_change = 0  # every write and sync-token invalidation takes a number
        self.app = Starlette(
            routes=[
                Route("/token", self._token, methods=["POST"]),
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

    def grant(self, email: str, calendars: tuple[str, ...] = ()) -> str:
        """A new account with a primary calendar (and ``calendars``); its refresh token."""
        token = "1//" + secrets.token_urlsafe(24)
        cals = {cid: Calendar(cid) for cid in (email, *calendars)}
        self.accounts[token] = Account(email, token, cals)
        return token

    def revoke(self, refresh_token: str) -> None:
        """The user removed our access in their Google account."""
        self.accounts[refresh_token].revoked = True

    def expire_access_tokens(self) -> None:
        self.access.clear()

    def expire_sync_tokens(self, email: str, calendar_id: str = "primary") -> None:
        """Invalidate every sync token issued so far for this calendar (Google does so
        at will; the client must then list everything again)."""
        self._calendar_of(self._account(email), calendar_id).oldest_sync = self._bump()

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
        return {e.id: e.resource(cal.id) for e in cal.events.values() if e.status != "cancelled"}

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
        a datetime, or the API's object (``{"date": "2031-05-05"}`` for all-day)."""
        cal = self._calendar_of(self._account(email), calendar_id)
        body = {"summary": summary, "start": _when(start), "end": _when(end), **fields}
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
        ``start`` / ``end`` may be given as datetimes."""
        cal = self._calendar_of(self._account(email), calendar_id)
        body = {k: _when(v) for k, v in fields.items()}
        self._touch(cal, cal.events[event_id], body, at)

    def delete_event(self, email: str, event_id: str, calendar_id: str = "primary") -> None:
        cal = self._calendar_of(self._account(email), calendar_id)
        self._touch(cal, cal.events[event_id], {"status": "cancelled"}, None)

    def forget_event(self, email: str, event_id: str, calendar_id: str = "primary") -> None:
        """Drop an event without a trace, as Google does with events deleted long
        ago (a sync token from before then is no longer valid either)."""
        cal = self._calendar_of(self._account(email), calendar_id)
        del cal.events[event_id]
        cal.oldest_sync = self._bump()

    # ---- running --------------------------------------------------------------------
    @asynccontextmanager
    async def running(self) -> AsyncIterator[CalendarServer]:
        sock = free_socket()
        server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="off"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        async with asyncio.timeout(20):
            while not server.started:  # uvicorn offers no event for "listening"
                if task.done():
                    task.result()
                await asyncio.sleep(0.005)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        try:
            yield self
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 20)
            sock.close()

    # ---- OAuth ----------------------------------------------------------------------
    async def _token(self, request: Request) -> Response:
        form = dict(await request.form())
        self._record(request, form)
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return _oauth_error(401, "invalid_client", "Unauthorized")
        if form.get("grant_type") != "refresh_token":
            grant = form.get("grant_type")
            return _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant}")
        account = self.accounts.get(str(form.get("refresh_token", "")))
        if account is None or account.revoked:
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        token = "ya29." + secrets.token_urlsafe(32)
        expires = _now() + dt.timedelta(seconds=self.access_ttl)
        self.access[token] = (account, expires)
        return JSONResponse(
            {
                "access_token": token,
                "expires_in": self.access_ttl,
                "scope": "https://www.googleapis.com/auth/calendar",
                "token_type": "Bearer",
            }
        )

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
        return found[0]

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
            "timeZone": "UTC",
            "accessRole": "owner",
            "defaultReminders": [],
            "items": [e.resource(cal.id) for e in items],
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
        return JSONResponse(self._insert(cal, body, at=None).resource(cal.id))

    def _get(self, request: Request, cal: Calendar) -> Response:
        return JSONResponse(self._find(cal, request).resource(cal.id))

    def _patch(self, request: Request, cal: Calendar) -> Response:
        event = self._live(cal, request)
        body = self.requests[-1].body
        if not isinstance(body, dict):
            raise GoogleError(400, "parseError", "Parse Error")
        changes = {k: v for k, v in body.items() if k in _WRITABLE}
        self._touch(cal, event, changes, None)
        return JSONResponse(event.resource(cal.id))

    def _delete(self, request: Request, cal: Calendar) -> Response:
        event = self._live(cal, request)
        self._touch(cal, event, {"status": "cancelled"}, None)
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
        fields = {k: v for k, v in _normalized(body).items() if k in _WRITABLE and k != "status"}
        event = Event(event_id, seq, _etag(seq), now, now, fields)
        cal.events[event_id] = event
        return event

    def _touch(
        self, cal: Calendar, event: Event, changes: dict[str, Any], at: dt.datetime | None
    ) -> None:
        if "start" in changes or "end" in changes:
            event.sequence += 1
        if "status" in changes:
            event.status = changes.pop("status")
        event.fields.update(_normalized(changes))
        event.seq = self._bump()
        event.etag = _etag(event.seq)
        event.updated = at or _now()

    def _bump(self) -> int:
        self.last_change += 1
        return self.last_change

    def _account(self, email: str) -> Account:
        return next(a for a in self.accounts.values() if a.email == email)

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


def _when(value: Any) -> Any:
    return event_time(value) if isinstance(value, dt.datetime) else value


def _normalized(body: dict[str, Any]) -> dict[str, Any]:
    """``start`` / ``end`` checked and rewritten as Google answers them."""
    out = dict(body)
    for part in ("start", "end"):
        when = body.get(part)
        if when is None or "dateTime" not in when:
            continue
        try:
            parsed = dt.datetime.fromisoformat(when["dateTime"])
        except (TypeError, ValueError):
            raise GoogleError(400, "invalid", f"Invalid {part} time.") from None
        if parsed.tzinfo is None:
            raise GoogleError(400, "required", f"Missing time zone definition for {part} time.")
        out[part] = {**when, **event_time(parsed)}
    return out


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


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)
