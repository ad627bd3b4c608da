"""The dashboard's login session and its CSRF token.

A session is a signed cookie (an HS256 JWT with the API's secret and an audience of
its own, so neither an API token nor a session can stand in for the other), HttpOnly
and SameSite=Strict, scoped to ``/admin/queues``.  It carries a random CSRF token
that every page embeds in its forms; an action must send it back (form field
``csrf`` or header ``X-CSRF-Token``).  The login form, which has no session yet, uses
a double-submit cookie instead.

A user from the settings is looked up again on every request, so removing them or
changing their role takes effect at once; logging out deletes the cookie, and "sign
out everywhere" voids every session of a user issued until then (:class:`SignOuts`).

Sessions are issued and checked by the dashboard's clock (the store's, which a test
can move), so :func:`read` checks the expiry itself rather than letting PyJWT read
the system time; the issue time keeps its milliseconds, so a sign-out and a login
moments apart are never confused.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Literal

import jwt
from starlette.responses import Response

from workhorse.background import stop
from workhorse.clock import now_ms
from workhorse.dashboard.users import ROLES, DashboardUser, Role, find_user
from workhorse.errors import StoreUnavailable
from workhorse.store.base import Store

BASE = "/admin/queues"
COOKIE = "wh_dashboard"
LOGIN_CSRF_COOKIE = "wh_dashboard_login"
FLASH_COOKIE = "wh_dashboard_flash"
AUDIENCE = "workhorse-dashboard"
ALGORITHM = "HS256"
log = logging.getLogger("workhorse.dashboard")
#: How the user proved who they are: a password from the settings, or an API token.
Via = Literal["password", "token"]


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    role: Role
    csrf: str
    via: Via
    #: When it was issued (ms since the epoch, by the dashboard's clock).
    issued_ms: int

    @property
    def can_act(self) -> bool:
        return self.role == "admin"


def issue(
    secret: str, user: str, role: Role, via: Via, ttl: float, at: int | None = None
) -> tuple[str, Session]:
    """A new session (with a new CSRF token) issued ``at`` (ms; default now) and its
    cookie value."""
    issued = now_ms() if at is None else at
    session = Session(user, role, secrets.token_urlsafe(24), via, issued)
    claims = {
        "sub": user,
        "role": role,
        "csrf": session.csrf,
        "via": via,
        "aud": AUDIENCE,
        "iat": issued / 1000,
        "exp": issued // 1000 + int(ttl),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM), session


def read(secret: str, cookie: str | None, users: list[DashboardUser], now: int) -> Session | None:
    """The session of a cookie at ``now`` (ms), or None (absent, forged, expired, or
    its user gone)."""
    if not cookie:
        return None
    try:
        claims = jwt.decode(
            cookie,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={
                "require": ["sub", "iat", "exp", "aud"],
                "verify_exp": False,  # checked below, by the dashboard's clock
                "verify_iat": False,
            },
        )
    except jwt.InvalidTokenError:
        return None
    user, role, via, csrf = (claims.get(k) for k in ("sub", "role", "via", "csrf"))
    iat, exp = claims["iat"], claims["exp"]
    if not isinstance(iat, int | float) or not isinstance(exp, int | float) or exp * 1000 <= now:
        return None
    if not isinstance(csrf, str) or role not in ROLES or via not in ("password", "token"):
        return None
    if via == "password":
        current = find_user(users, str(user))
        if current is None:
            return None
        role = current.role
    return Session(str(user), role, csrf, via, round(iat * 1000))


class SignOuts:
    """ "Sign out everywhere": per user, the time up to which their sessions are void.

    Nobody keeps a list of sessions (they are signed cookies), so ending them means
    refusing, from then on, every session of the user issued until then.  The times
    are kept in the store (:meth:`workhorse.store.base.Store.put_value`, for as long
    as a session lasts), so every API process of the deployment, and one restarted,
    knows them: each process reads them at start and again every ``refresh`` seconds
    -- a sign-out made in another process takes effect here within that, one made in
    this process at once.
    """

    PREFIX = "dashboard:signout:"

    def __init__(self, store: Store, refresh: float = 2.0) -> None:
        self.store = store
        self.refresh_interval = refresh
        # user -> (void up to, forget at): the store's view plus this process's own.
        self._void: dict[str, tuple[int, int]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Read the sign-outs now (a restarted process refuses voided sessions from
        its first request), then keep reading them."""
        await self.refresh()
        self._task = asyncio.create_task(self._keep_reading(), name="wh-dashboard-signouts")

    async def close(self) -> None:
        await stop(self._task)
        self._task = None

    async def refresh(self) -> None:
        found = await self.store.values(self.PREFIX)
        void: dict[str, tuple[int, int]] = {}
        for key, value in found.items():
            at, _, forget = value.decode().partition(":")
            void[key[len(self.PREFIX) :]] = (int(at), int(forget))
        # Keep this process's own sign-outs that a read begun before them missed.
        now = self.store.clock()
        for user, entry in self._void.items():
            if entry[1] > now and entry[0] > void.get(user, (-1, 0))[0]:
                void[user] = entry
        self._void = void

    async def _keep_reading(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_interval)
            try:
                await self.refresh()
            except StoreUnavailable as exc:  # keep the last known sign-outs meanwhile
                log.warning("dashboard: cannot read the sign-outs: %s", exc)

    async def sign_out(self, user: str, now: int, ttl_ms: int) -> None:
        """Void every session of ``user`` issued up to ``now`` (ms); ``ttl_ms``: how
        long a session lasts (the sign-out is kept that long: no session it voids
        outlives it)."""
        entry = (max(now, self._void.get(user, (now, 0))[0]), now + ttl_ms)
        await self.store.put_value(self.PREFIX + user, f"{entry[0]}:{entry[1]}".encode(), ttl_ms)
        self._void[user] = entry

    def issue_time(self, user: str, now: int) -> int:
        """When a new session of ``user`` counts as issued: ``now``, but always after
        their last sign-out, even within its millisecond."""
        entry = self._void.get(user)
        return now if entry is None else max(now, entry[0] + 1)

    def void(self, session: Session) -> bool:
        entry = self._void.get(session.user)
        return entry is not None and session.issued_ms <= entry[0]


def same_token(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def set_cookie(
    response: Response, name: str, value: str, max_age: int | None, secure: bool
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=BASE,
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def clear_cookie(response: Response, name: str, secure: bool) -> None:
    response.delete_cookie(name, path=BASE, secure=secure, httponly=True, samesite="strict")
