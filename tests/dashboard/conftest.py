"""A real API server with the dashboard, dashboard users, and logged-in HTTP
clients that act like a browser (cookies, the CSRF token of the pages)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher

from tests.api.conftest import SECRET, Api, serve
from workhorse.app.audit import LoggingAuditLog
from workhorse.clock import Clock, now_ms
from workhorse.dashboard.session import COOKIE, issue
from workhorse.dashboard.users import DashboardUser, Role, hash_password
from workhorse.store.base import Store
from workhorse.store.sqlite import SqliteStore

BASE = "/admin/queues"
PASSWORDS = {"ops": "ops-secret-1", "watcher": "watch-secret-2"}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def make_users(hasher: Callable[[str], str] = hash_password) -> list[DashboardUser]:
    """``ops`` (admin) and ``watcher`` (viewer), their PASSWORDS hashed by ``hasher``."""
    roles: dict[str, Role] = {"ops": "admin", "watcher": "viewer"}
    return [
        DashboardUser(user=user, password_hash=hasher(PASSWORDS[user]), role=role)
        for user, role in roles.items()
    ]


def cheap_hash(password: str) -> str:
    """An argon2id hash with the lowest costs, for tests that log in many times: the
    check is the same, only its costs (read from the hash) differ."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(password)


@pytest.fixture(scope="session")
def users() -> list[DashboardUser]:
    return make_users()


@dataclass
class Dash:
    api: Api
    audit: LoggingAuditLog

    @property
    def url(self) -> str:
        return self.api.url

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.api.url, timeout=10)

    async def login(self, who: str) -> Browser:
        """A client logged in as ``who`` (a settings user, or ``admin-token``)."""
        client = self.client()
        form = await client.get(f"{BASE}/login")
        fields = {"csrf": csrf_of(form.text), "next": BASE}
        if who == "admin-token":
            fields["token"] = self.api.tokens["admin"]
        else:
            fields |= {"user": who, "password": PASSWORDS[who]}
        r = await client.post(f"{BASE}/login", data=fields)
        assert r.status_code == 303, r.text
        page = await client.get(BASE)
        assert page.status_code == 200
        return Browser(client, csrf_of(page.text))

    def session(self, user: str, role: Role = "admin") -> Browser:
        """A client with the session a login of ``user`` makes, without the login
        (whose password check costs a quarter of a second; test_auth does it)."""
        cookie, session = issue(SECRET, user, role, "password", 3600)
        client = self.client()
        client.cookies.set(COOKIE, cookie, path=BASE)
        return Browser(client, session.csrf)


@dataclass
class Browser:
    http: httpx.AsyncClient
    csrf: str

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def act(self, action: str, **fields: str) -> httpx.Response:
        data = {"csrf": self.csrf, "back": f"{BASE}/jobs", **fields}
        return await self.http.post(f"{BASE}/act/{action}", data=data)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF token in the page"
    return found.group(1)


async def dashboard(
    store: Store, tmp_path: Path, users: list[DashboardUser], **settings: object
) -> AsyncIterator[Dash]:
    audit = LoggingAuditLog()
    async for api in serve(store, tmp_path, audit=audit, dashboard_users=users, **settings):
        yield Dash(api, audit)


@pytest.fixture
async def dash(store: Store, tmp_path: Path, users: list[DashboardUser]) -> AsyncIterator[Dash]:
    async for running in dashboard(store, tmp_path, users):
        yield running


async def lite_dashboard(
    tmp_path: Path, users: list[DashboardUser], clock: Clock = now_ms, **settings: object
) -> AsyncIterator[Dash]:
    """The dashboard on the embedded store only, whose ``clock`` is the dashboard's
    too: for tests of the web layer alone."""
    store = SqliteStore(tmp_path / "dash.db", clock=clock)
    try:
        async for running in dashboard(store, tmp_path, users, **settings):
            yield running
    finally:
        await store.close()


@pytest.fixture
async def lite_dash(tmp_path: Path, users: list[DashboardUser]) -> AsyncIterator[Dash]:
    async for running in lite_dashboard(tmp_path, users):
        yield running


@pytest.fixture
async def ops(dash: Dash) -> AsyncIterator[Browser]:
    async with dash.session("ops") as browser:
        yield browser
