"""Connecting a Google Calendar through the OAuth consent flow, end to end: the real
HTTP API (the reference app's connect routes), a real worker running the first
sync, the domain database on SQLite and PostgreSQL, and the local Google server
(tests/reference/calendar_server.py) playing the consent screen, the token and
revocation endpoints and the Calendar API."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import html
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import select

from tests.api.conftest import SECRET, Api, serve
from tests.http_server import free_socket
from tests.reference.calendar_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    CalendarServer,
    ConsentError,
    event_time,
)
from tests.reference.calendar_world import ALICE, at, calendar_registry, calendar_settings
from workhorse.api.extension import ProcessorFactory
from workhorse.job import Job, JobState
from workhorse.store.base import Store
from workhorse.store.sqlite import SqliteStore
from workhorse_reference.calendar import QUEUE, CalendarSyncProcessor
from workhorse_reference.calendar.extension import CalendarConnect
from workhorse_reference.calendar.settings import SCOPE
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import CalendarLink, Session, User

BOB = "bob@example.test"
CONNECT = "/api/calendar/connect"
CALLBACK = "/api/calendar/callback"
LINK = "/api/calendar/link"
NO_TOKEN = "Token has been expired or revoked."


class Clock:
    """Epoch seconds that a test moves by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Flow:
    """The running API with the connect routes and a worker for the calendar queue,
    an HTTP client playing both the application's front end and the browser, the
    local Google and the domain database."""

    api: Api
    http: httpx.AsyncClient
    google: CalendarServer
    db: Database
    clock: Clock

    async def consent_url(self, user: str = "alice") -> str:
        r = await self.http.get(CONNECT, headers=self.api.headers(user))
        assert r.status_code == 200, r.text
        assert list(r.json()) == ["url"]
        url: str = r.json()["url"]
        return url

    async def back(self, redirect: str) -> httpx.Response:
        """The browser follows Google's redirect to the callback (no bearer token)."""
        assert redirect.startswith(f"{self.api.url}{CALLBACK}?")
        return await self.http.get(redirect)

    async def connect(self, user: str = "alice", email: str = ALICE) -> httpx.Response:
        """The whole consent flow for ``user``, who signs in to Google as ``email``."""
        return await self.back(self.google.consent(await self.consent_url(user), email))

    async def sync_jobs(self, user: str = "alice") -> list[Job]:
        return await self.api.service.find_jobs(user, queues=[QUEUE])

    async def finished(self, job: Job) -> Job:
        async with asyncio.timeout(30):  # a hang fails the test; no timing is asserted
            return await self.api.service.queue(QUEUE).wait_finished(job.id)

    async def link(self, user: str = "alice") -> CalendarLink | None:
        async with self.db.session() as s:
            return await s.get(CalendarLink, user)

    async def status(self, user: str = "alice") -> dict[str, Any]:
        r = await self.http.get(LINK, headers=self.api.headers(user))
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def oauth_calls(self, path: str, grant_type: str | None = None) -> list[dict[str, Any]]:
        return [
            r.body
            for r in self.google.requests
            if r.path == path and (grant_type is None or r.body.get("grant_type") == grant_type)
        ]


@contextlib.asynccontextmanager
async def running(
    store: Store,
    tmp_path: Path,
    db: Database,
    google: CalendarServer,
    *,
    sync: bool = True,
    **overrides: Any,
) -> AsyncIterator[Flow]:
    """The API with :class:`CalendarConnect` for ``db`` and the local Google
    (``overrides``: other calendar settings); ``sync``: run the calendar worker."""
    fields = {"auth_url": google.auth_url, "revoke_url": google.revoke_url, **overrides}
    settings = calendar_settings(google, **fields)
    clock = Clock()
    connect = CalendarConnect(db, settings, SECRET, clock=clock)
    processors: list[ProcessorFactory] = []
    if sync:
        processors.append(partial(CalendarSyncProcessor, db=db, settings=settings))
    servers = serve(store, tmp_path, processors, extensions=[connect], registry=calendar_registry())
    async with contextlib.aclosing(cast(AsyncGenerator[Api, None], servers)) as apis:
        async for api in apis:
            async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
                yield Flow(api, http, google, db, clock)


@pytest.fixture
async def users(db: Database) -> Database:
    """``db`` with the users alice and bob."""
    async with db.session() as s:
        s.add_all(
            [
                User(id="alice", email=ALICE, name="Alice"),
                User(id="bob", email=BOB, name="Bob"),
            ]
        )
    return db


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[Store]:
    """The job store where its kind does not matter."""
    store = SqliteStore(tmp_path / "jobs.db")
    yield store
    await store.close()


@pytest.fixture
async def flow(
    embedded: Store, tmp_path: Path, users: Database, google: CalendarServer
) -> AsyncIterator[Flow]:
    async with running(embedded, tmp_path, users, google) as running_flow:
        yield running_flow


def query(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


def with_query(url: str, **changes: str) -> str:
    return url.split("?", 1)[0] + "?" + urlencode({**query(url), **changes})


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def assert_page(r: httpx.Response, status: int, *phrases: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"
    for phrase in phrases:
        assert phrase in html.unescape(r.text)


# ---- the whole flow ------------------------------------------------------------------
async def test_connect_consent_callback_then_the_first_sync_runs(
    store: Store, tmp_path: Path, users: Database, google: CalendarServer
) -> None:
    async with users.session() as s:
        s.add(Session(user_id="alice", title="Coaching", starts_at=at(0), ends_at=at(1)))
    google.account(ALICE)
    booked = google.add_event(ALICE, "Booked in Google", at(4), at(5))

    async with running(store, tmp_path, users, google) as flow:
        url = await flow.consent_url()
        assert url.split("?", 1)[0] == google.auth_url
        params = query(url)
        assert params.pop("state")
        challenge = params.pop("code_challenge")
        assert len(challenge) == 43  # base64url of a SHA-256, without padding
        assert params == {
            "client_id": CLIENT_ID,
            "redirect_uri": f"{flow.api.url}{CALLBACK}",
            "response_type": "code",
            "scope": SCOPE,
            "access_type": "offline",
            "prompt": "consent",
            "code_challenge_method": "S256",
        }

        r = await flow.back(google.consent(url, ALICE))
        assert_page(r, 200, "Google Calendar connected")

        [job] = await flow.sync_jobs()
        assert (job.owner, job.data) == ("alice", {"userId": "alice"})
        done = await flow.finished(job)
        assert done.state is JobState.COMPLETED, done.failed_reason
        status = await flow.status()

    [exchange] = flow.oauth_calls("/token", "authorization_code")
    assert exchange["redirect_uri"] == params["redirect_uri"]
    assert (exchange["client_id"], exchange["client_secret"]) == (CLIENT_ID, CLIENT_SECRET)
    assert exchange["code_verifier"]

    link = await flow.link()
    assert link is not None
    assert not google.is_revoked(link.refresh_token)
    assert link.access_token is not None
    assert link.access_expires_at is not None
    assert (link.calendar_id, link.revoked_at, link.last_error) == ("primary", None, None)
    assert link.last_synced_at is not None
    assert link.sync_token is not None  # stored by the first (full) sync

    assert done.returnvalue["fullResync"] is True
    events = {e["summary"]: e for e in google.events(ALICE).values()}
    assert set(events) == {"Coaching", "Booked in Google"}
    assert events["Coaching"]["start"] == event_time(at(0))
    async with users.session() as s:
        rows = {r.title: r for r in await s.scalars(select(Session))}
    assert set(rows) == {"Coaching", "Booked in Google"}
    assert rows["Booked in Google"].google_event_id == booked
    assert rows["Coaching"].google_event_id == events["Coaching"]["id"]

    assert status == {
        "connected": True,
        "calendarId": "primary",
        "lastSyncedAt": status["lastSyncedAt"],
        "revokedAt": None,
        "lastError": None,
    }
    assert status["lastSyncedAt"] is not None
    for secret in (link.refresh_token, link.access_token, link.sync_token):
        assert secret not in json.dumps(status)


async def test_a_success_url_is_where_the_browser_goes(
    embedded: Store, tmp_path: Path, users: Database, google: CalendarServer
) -> None:
    success = "https://app.example.test/settings/calendar?connected=1"
    async with running(embedded, tmp_path, users, google, success_url=success) as flow:
        r = await flow.connect()
        [job] = await flow.sync_jobs()
        await flow.finished(job)
    assert r.status_code == 303
    assert r.headers["location"] == success
    assert await flow.link() is not None


# ---- refusals: nothing stored --------------------------------------------------------
async def test_a_tampered_state_is_refused_before_the_code_is_used(flow: Flow) -> None:
    url = await flow.consent_url("bob")
    back = flow.google.consent(url, BOB)
    state = query(back)["state"]
    payload, signature = state.split(".")

    bad_signature = f"{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    claims = json.loads(b64decode(payload))
    as_alice = f"{b64encode(json.dumps({**claims, 'u': 'alice'}).encode())}.{signature}"
    for forged in (bad_signature, as_alice, "garbage", f"{payload}.é"):
        r = await flow.back(with_query(back, state=forged))
        assert_page(r, 400, "This connection link is invalid (bad signature): connect again")

    assert flow.oauth_calls("/token") == []  # the code was never presented
    assert await flow.link("alice") is None
    assert await flow.link("bob") is None
    assert await flow.sync_jobs("alice") == await flow.sync_jobs("bob") == []

    # The genuine state still works with the same code.
    assert_page(await flow.back(back), 200, "Google Calendar connected")
    [job] = await flow.sync_jobs("bob")
    await flow.finished(job)
    assert await flow.link("bob") is not None
    assert await flow.link("alice") is None


async def test_an_expired_state_is_refused(flow: Flow) -> None:
    back = flow.google.consent(await flow.consent_url(), ALICE)
    flow.clock.advance(601)
    r = await flow.back(back)
    assert_page(r, 400, "This connection link has expired", "10 minutes", "connect again")
    assert flow.oauth_calls("/token") == []
    assert await flow.link() is None
    assert await flow.sync_jobs() == []


async def test_a_used_or_expired_code_asks_to_connect_again(flow: Flow) -> None:
    back = flow.google.consent(await flow.consent_url(), ALICE)
    assert_page(await flow.back(back), 200, "Google Calendar connected")
    first = await flow.link()
    assert first is not None
    [job] = await flow.sync_jobs()
    await flow.finished(job)

    again = await flow.back(back)  # a reload of the page, or a replay
    assert_page(again, 400, "The authorization expired or was already used", "connect again")
    late = flow.google.consent(await flow.consent_url(), ALICE)
    flow.google.expire_codes()
    assert_page(await flow.back(late), 400, "The authorization expired or was already used")

    after = await flow.link()
    assert after is not None
    assert after.refresh_token == first.refresh_token  # the link was left as it was
    assert after.sync_token is not None
    assert len(await flow.sync_jobs()) == 1


async def test_refusing_on_the_consent_screen_connects_nothing(flow: Flow) -> None:
    r = await flow.back(flow.google.deny(await flow.consent_url()))
    assert_page(r, 400, "You did not allow access to your Google Calendar", "nothing was")
    state = query(await flow.consent_url())["state"]
    r = await flow.http.get(CALLBACK, params={"error": "invalid_scope", "state": state})
    assert_page(r, 400, "Google did not grant access (invalid_scope)")
    incomplete = await flow.http.get(CALLBACK)
    assert_page(incomplete, 400, "this link is incomplete")
    assert flow.oauth_calls("/token") == []
    assert await flow.link() is None
    assert await flow.sync_jobs() == []


async def test_unticking_the_calendar_permission_connects_nothing(flow: Flow) -> None:
    readonly = ("https://www.googleapis.com/auth/calendar.readonly",)
    r = await flow.back(flow.google.consent(await flow.consent_url(), ALICE, scopes=readonly))
    assert_page(r, 400, "Access to your calendar's events was not allowed")
    # The tokens Google issued anyway are given back.
    [revoked] = flow.oauth_calls("/revoke")
    assert flow.google.is_revoked(revoked["token"])
    assert await flow.link() is None
    assert await flow.sync_jobs() == []


async def test_a_state_only_connects_the_user_it_names(flow: Flow) -> None:
    alices_url, bobs_url = await flow.consent_url("alice"), await flow.consent_url("bob")
    alices_code = query(flow.google.consent(alices_url, ALICE))["code"]
    bobs_back = flow.google.consent(bobs_url, BOB)

    # Bob presents Alice's code with his own state: the PKCE verifier derived from
    # his state does not answer the challenge in Alice's URL, so Google refuses.
    r = await flow.back(with_query(bobs_back, code=alices_code))
    assert_page(r, 400, "The authorization expired or was already used")
    [refused] = flow.oauth_calls("/token", "authorization_code")
    assert refused["code"] == alices_code
    assert await flow.link("alice") is None
    assert await flow.link("bob") is None

    # Bob's own consent links Bob, never Alice.
    assert_page(await flow.back(bobs_back), 200, "Google Calendar connected")
    [job] = await flow.sync_jobs("bob")
    await flow.finished(job)
    assert await flow.link("bob") is not None
    assert await flow.link("alice") is None
    assert (await flow.status("alice"))["connected"] is False


# ---- Google failing ------------------------------------------------------------------
async def test_google_failing_is_a_502_and_trying_again_works(flow: Flow) -> None:
    back = flow.google.consent(await flow.consent_url(), ALICE)
    flow.google.fail_next_oauth(503)
    r = await flow.back(back)
    assert_page(r, 502, "Google could not complete the connection", "Try again")
    assert await flow.link() is None
    assert_page(await flow.back(back), 200, "Google Calendar connected")  # same code
    [job] = await flow.sync_jobs()
    await flow.finished(job)

    flow.google.fail_next_oauth(503)
    r = await flow.http.delete(LINK, headers=flow.api.headers("alice"))
    assert r.status_code == 502
    assert "still connected" in r.json()["detail"]
    assert await flow.link() is not None
    r = await flow.http.delete(LINK, headers=flow.api.headers("alice"))
    assert r.status_code == 204


async def test_a_grant_without_a_refresh_token_is_a_502(flow: Flow) -> None:
    """Google only omits it when offline access was not asked for: the consent URL
    always asks, so this is a broken Google, not the user's doing."""
    params = query(await flow.consent_url())
    code = flow.google.authorize(
        ALICE,
        params["redirect_uri"],
        scope=params["scope"],
        code_challenge=params["code_challenge"],
        code_challenge_method="S256",
        offline=False,
    )
    r = await flow.back(with_query(params["redirect_uri"], code=code, state=params["state"]))
    assert_page(r, 502, "without a refresh token")
    assert await flow.link() is None
    assert await flow.sync_jobs() == []


async def test_an_unreachable_google_is_a_502(
    embedded: Store, tmp_path: Path, users: Database, google: CalendarServer
) -> None:
    closed = free_socket()  # bound, never listening: connections are refused
    nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}"
    try:
        dead = running(
            embedded,
            tmp_path,
            users,
            google,
            token_url=f"{nowhere}/token",
            revoke_url=f"{nowhere}/revoke",
        )
        async with dead as flow:
            r = await flow.connect()
            assert_page(r, 502, "Google could not complete the connection", "did not answer")
            assert await flow.link() is None
            async with users.session() as s:
                s.add(CalendarLink(user_id="alice", refresh_token=google.grant(ALICE)))
            r = await flow.http.delete(LINK, headers=flow.api.headers("alice"))
            assert r.status_code == 502
            assert await flow.link() is not None
    finally:
        closed.close()


# ---- status and disconnect -----------------------------------------------------------
async def test_disconnect_revokes_at_google_and_deletes_the_link(flow: Flow) -> None:
    assert_page(await flow.connect(), 200, "Google Calendar connected")
    [job] = await flow.sync_jobs()
    await flow.finished(job)
    link = await flow.link()
    assert link is not None

    r = await flow.http.delete(LINK, headers=flow.api.headers("alice"))
    assert r.status_code == 204
    assert [c["token"] for c in flow.oauth_calls("/revoke")] == [link.refresh_token]
    assert flow.google.is_revoked(link.refresh_token)
    async with httpx.AsyncClient(timeout=10) as plain:
        refresh = await plain.post(
            flow.google.token_url,
            data={
                "grant_type": "refresh_token",
                "refresh_token": link.refresh_token,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
        )
    assert refresh.status_code == 400
    assert refresh.json() == {"error": "invalid_grant", "error_description": NO_TOKEN}
    assert await flow.link() is None
    assert await flow.status() == {
        "connected": False,
        "calendarId": None,
        "lastSyncedAt": None,
        "revokedAt": None,
        "lastError": None,
    }
    again = await flow.http.delete(LINK, headers=flow.api.headers("alice"))
    assert again.status_code == 404
    assert again.json() == {"detail": "no Google Calendar is connected"}


async def test_disconnecting_a_link_google_already_revoked(flow: Flow) -> None:
    refresh = flow.google.grant(ALICE)
    async with flow.db.session() as s:
        s.add(CalendarLink(user_id="alice", refresh_token=refresh))
    flow.google.revoke(refresh)  # Google answers the revocation with invalid_token
    r = await flow.http.delete(LINK, headers=flow.api.headers("alice"))
    assert r.status_code == 204
    assert [c["token"] for c in flow.oauth_calls("/revoke")] == [refresh]
    assert await flow.link() is None


async def test_a_revoked_link_shows_why_and_reconnecting_restores_it(flow: Flow) -> None:
    assert_page(await flow.connect(), 200, "Google Calendar connected")
    [first] = await flow.sync_jobs()
    await flow.finished(first)
    old = await flow.link()
    assert old is not None
    assert old.sync_token is not None

    flow.google.revoke(old.refresh_token)  # the user removed our access at Google
    flow.google.expire_access_tokens()
    r = await flow.http.post(
        f"/api/queues/{QUEUE}/jobs",
        json={"name": "sync", "data": {}},
        headers=flow.api.headers("alice"),
    )
    assert r.status_code == 202
    failed = await flow.finished(await flow.api.service.get_job(QUEUE, r.json()["jobId"]))
    assert failed.state is JobState.FAILED
    status = await flow.status()
    assert status["connected"] is False
    assert status["revokedAt"] is not None
    assert "invalid_grant" in status["lastError"]
    assert old.refresh_token not in json.dumps(status)

    assert_page(await flow.connect(), 200, "Google Calendar connected")
    new = await flow.link()
    assert new is not None
    assert new.refresh_token != old.refresh_token
    assert (new.revoked_at, new.last_error) == (None, None)
    third = next(j for j in await flow.sync_jobs() if j.id not in (first.id, failed.id))
    done = await flow.finished(third)
    assert done.state is JobState.COMPLETED, done.failed_reason
    assert done.returnvalue["fullResync"] is True  # the old sync token was dropped
    assert (await flow.status())["connected"] is True


async def test_the_routes_need_a_bearer_token_except_the_callback(flow: Flow) -> None:
    for method, path in (("GET", CONNECT), ("GET", LINK), ("DELETE", LINK)):
        r = await flow.http.request(method, path)
        assert r.status_code == 401, (method, path)
        assert r.headers["www-authenticate"] == "Bearer"
        bad = await flow.http.request(method, path, headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401, (method, path)
    assert (await flow.http.get(CALLBACK)).status_code == 400  # no bearer needed


async def test_connect_needs_a_configured_client_and_a_known_user(
    embedded: Store, tmp_path: Path, users: Database, google: CalendarServer
) -> None:
    async with running(embedded, tmp_path, users, google) as flow:
        r = await flow.http.get(CONNECT, headers=flow.api.headers("admin"))
        assert r.status_code == 404
        assert r.json()["detail"] == "user 'admin' does not exist in the application"
    async with running(embedded, tmp_path, users, google, sync=False, client_id="") as flow:
        r = await flow.http.get(CONNECT, headers=flow.api.headers("alice"))
        assert r.status_code == 503
        assert "GOOGLE_CLIENT_ID" in r.json()["detail"]


# ---- the local Google itself ---------------------------------------------------------
async def test_the_local_google_binds_codes_as_google_does(google: CalendarServer) -> None:
    redirect = "https://app.example.test/cb"
    verifier = "v" * 43
    challenge = b64encode(hashlib.sha256(verifier.encode()).digest())

    async def redeem(code: str, **changes: str) -> httpx.Response:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "code_verifier": verifier,
            **changes,
        }
        return await http.post(google.token_url, data=form)

    def issue(**options: Any) -> str:
        options.setdefault("code_challenge", challenge)
        return google.authorize(ALICE, redirect, code_challenge_method="S256", **options)

    def error(r: httpx.Response) -> tuple[int, str, str]:
        return r.status_code, r.json()["error"], r.json()["error_description"]

    async with httpx.AsyncClient(timeout=10) as http:
        code = issue()
        mismatch = await redeem(code, redirect_uri="https://elsewhere.example.test/cb")
        assert error(mismatch) == (400, "redirect_uri_mismatch", "Bad Request")
        assert error(await redeem(code)) == (400, "invalid_grant", "Bad Request")  # used
        assert error(await redeem("4/0Anope")) == (400, "invalid_grant", "Malformed auth code.")
        no_verifier = await redeem(issue(), code_verifier="")
        assert error(no_verifier) == (400, "invalid_grant", "Missing code verifier.")
        wrong = await redeem(issue(), code_verifier="w" * 43)
        assert error(wrong) == (400, "invalid_grant", "Invalid code verifier.")
        late = issue()
        google.expire_codes()
        assert error(await redeem(late)) == (400, "invalid_grant", "Bad Request")

        granted = (await redeem(issue())).json()
        assert set(granted) == {
            "access_token",
            "expires_in",
            "refresh_token",
            "scope",
            "token_type",
        }
        # A repeated consent returns a refresh token only when the screen was shown.
        assert "refresh_token" not in (await redeem(issue(prompt_consent=False))).json()
        assert "refresh_token" not in (await redeem(issue(offline=False))).json()

        # Revoking an access token revokes the refresh token it came with.
        revoked = await http.post(google.revoke_url, data={"token": granted["access_token"]})
        assert revoked.status_code == 200
        assert google.is_revoked(granted["refresh_token"])
        again = await http.post(google.revoke_url, data={"token": granted["refresh_token"]})
        assert error(again) == (400, "invalid_token", "Token expired or revoked")

    assert google.deny(f"{google.auth_url}?client_id={CLIENT_ID}&redirect_uri={redirect}") == (
        f"{redirect}?error=access_denied"
    )
    with pytest.raises(ConsentError, match="invalid_client"):
        google.consent(f"{google.auth_url}?client_id=other&redirect_uri={redirect}", ALICE)
    refused = google.consent(
        f"{google.auth_url}?client_id={CLIENT_ID}&redirect_uri={redirect}&response_type=token"
        "&scope=x&state=s",
        ALICE,
    )
    assert refused == f"{redirect}?state=s&error=unsupported_response_type"
