"""The dashboard's login session and its CSRF token.

A session is a signed cookie (an HS256 JWT with the API's secret and an audience of
its own, so neither an API token nor a session can stand in for the other), HttpOnly
and SameSite=Strict, scoped to ``/admin/queues``.  It carries a random CSRF token
that every page embeds in its forms; an action must send it back (form field
``csrf`` or header ``X-CSRF-Token``).  The login form, which has no session yet, uses
a double-submit cookie instead.

A user from the settings is looked up again on every request, so removing them or
changing their role takes effect at once; logging out deletes the cookie.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Literal

import jwt
from starlette.responses import Response

from workhorse.dashboard.users import ROLES, DashboardUser, Role, find_user

BASE = "/admin/queues"
COOKIE = "wh_dashboard"
LOGIN_CSRF_COOKIE = "wh_dashboard_login"
FLASH_COOKIE = "wh_dashboard_flash"
AUDIENCE = "workhorse-dashboard"
ALGORITHM = "HS256"
#: How the user proved who they are: a password from the settings, or an API token.
Via = Literal["password", "token"]


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    role: Role
    csrf: str
    via: Via

    @property
    def can_act(self) -> bool:
        return self.role == "admin"


def issue(secret: str, user: str, role: Role, via: Via, ttl: float) -> tuple[str, Session]:
    """A new session (with a new CSRF token) and its cookie value."""
    session = Session(user, role, secrets.token_urlsafe(24), via)
    now = int(time.time())
    claims = {
        "sub": user,
        "role": role,
        "csrf": session.csrf,
        "via": via,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + int(ttl),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM), session


def read(secret: str, cookie: str | None, users: list[DashboardUser]) -> Session | None:
    """The session of a cookie, or None (absent, forged, expired, or its user gone)."""
    if not cookie:
        return None
    try:
        claims = jwt.decode(
            cookie,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["sub", "exp", "aud"]},
        )
    except jwt.InvalidTokenError:
        return None
    user, role, via, csrf = (claims.get(k) for k in ("sub", "role", "via", "csrf"))
    if not isinstance(csrf, str) or role not in ROLES or via not in ("password", "token"):
        return None
    if via == "password":
        current = find_user(users, str(user))
        if current is None:
            return None
        role = current.role
    return Session(str(user), role, csrf, via)


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
