"""Logging in (a user of the settings with their password, or an admin bearer token
of the API) and out.

Failed logins are throttled (:mod:`workhorse.dashboard.throttle`) per client address
and, for a password, per user name: with ``dashboard_login_max_failures`` failures
within ``dashboard_login_window`` seconds, further attempts get 429 and a
``Retry-After`` for the rest of the window, without any password being checked (no
hashing work to spend, nothing to learn from the answer's timing).  A successful
login clears its user's counter.  The client address is the one the ASGI server
reports: behind a reverse proxy, let uvicorn trust the proxy's ``X-Forwarded-For``
(``FORWARDED_ALLOW_IPS``), else every client shares the proxy's address.
"""

from __future__ import annotations

import asyncio
import math
import secrets

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from workhorse.api.auth import AuthError, decode_token
from workhorse.dashboard.guard import (
    dashboard_of,
    is_secure,
    safe_back,
    session_of,
    settings_of,
)
from workhorse.dashboard.session import (
    BASE,
    COOKIE,
    LOGIN_CSRF_COOKIE,
    Session,
    Via,
    clear_cookie,
    issue,
    same_token,
    set_cookie,
)
from workhorse.dashboard.throttle import Limits
from workhorse.dashboard.users import Role, check_login

router = APIRouter(include_in_schema=False)


def _login_page(
    request: Request,
    error: str | None = None,
    status: int = 200,
    next_url: str | None = None,
    user: str = "",
) -> Response:
    token = secrets.token_urlsafe(24)
    settings = settings_of(request)
    context = {
        "csrf": token,
        "error": error,
        "next": safe_back(next_url or request.query_params.get("next")),
        "has_users": bool(settings.dashboard_users),
        "user": user,
    }
    response = dashboard_of(request).renderer.html("login.html", context, status)
    set_cookie(response, LOGIN_CSRF_COOKIE, token, 3600, is_secure(request))
    return response


@router.get(BASE + "/login")
async def login_form(request: Request) -> Response:
    if session_of(request) is not None:
        return RedirectResponse(safe_back(request.query_params.get("next")), status_code=303)
    return _login_page(request)


async def _who(request: Request, user: str, password: str, token: str) -> tuple[str, Role, Via]:
    """The identity proven by the form, or ``ValueError`` saying why not."""
    if token:
        try:
            principal = decode_token(request.app.state.secret, token)
        except AuthError as exc:
            raise ValueError(f"token: {exc}") from None
        if not principal.admin:
            raise ValueError("token: only an admin token opens the dashboard")
        return principal.user_id, "admin", "token"
    users = settings_of(request).dashboard_users
    # argon2 takes tens of milliseconds of CPU: keep it off the event loop.
    found = await asyncio.to_thread(check_login, users, user, password)
    if found is None:
        raise ValueError("user or password: not recognised")
    return found.user, found.role, "password"


def _user_key(user: str) -> str:
    return "user:" + user[:200]  # no user has a longer name (DashboardUser.user)


def _throttle_keys(request: Request, user: str, token: str) -> tuple[str, ...]:
    """What an attempt counts against: the client's address, and the user name of a
    password login (a token names its user only once it is checked)."""
    address = "ip:" + (request.client.host if request.client else "unknown")
    return (address,) if token else (address, _user_key(user))


def _locked(request: Request, wait_ms: int, target: str, user: str) -> Response:
    minutes = math.ceil(wait_ms / 60_000)
    message = f"Too many failed logins; try again in {minutes} minute{'s' if minutes > 1 else ''}"
    response = _login_page(request, message, 429, target, user)
    response.headers["Retry-After"] = str(math.ceil(wait_ms / 1000))
    return response


@router.post(BASE + "/login")
async def login(request: Request) -> Response:
    form = await request.form()
    user, token, csrf = (str(form.get(k, "")).strip() for k in ("user", "token", "csrf"))
    password = str(form.get("password", ""))
    target = safe_back(str(form.get("next", "")))
    if not same_token(request.cookies.get(LOGIN_CSRF_COOKIE, ""), csrf) or not csrf:
        message = "csrf: the form expired; please try again"
        return _login_page(request, message, 403, target, user)
    if not token and not (user and password):
        message = "user and password: both are required (or paste an admin token)"
        return _login_page(request, message, 401, target, user)
    dash, settings = dashboard_of(request), settings_of(request)
    keys = _throttle_keys(request, user, token)
    limits = Limits(
        settings.dashboard_login_max_failures, round(settings.dashboard_login_window * 1000)
    )
    wait_ms = dash.logins.attempt(keys, limits, dash.now())
    if wait_ms:
        return _locked(request, wait_ms, target, user)
    try:
        who, role, via = await _who(request, user, password, token)
    except ValueError as exc:
        return _login_page(request, str(exc), 401, target, user)
    dash.logins.succeeded(keys, _user_key(who))
    ttl = settings.dashboard_session_ttl
    issued = dash.sign_outs.issue_time(who, dash.now())
    cookie, _ = issue(request.app.state.secret, who, role, via, ttl, issued)
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, COOKIE, cookie, int(ttl), is_secure(request))
    clear_cookie(response, LOGIN_CSRF_COOKIE, is_secure(request))
    return response


@router.post(BASE + "/logout")
async def logout(request: Request) -> Response:
    session = session_of(request)
    form = await request.form()
    if session is not None and not _csrf_ok(session, str(form.get("csrf", ""))):
        return Response("csrf: missing or wrong token", status_code=403)
    response = RedirectResponse(BASE + "/login", status_code=303)
    clear_cookie(response, COOKIE, is_secure(request))
    return response


def _csrf_ok(session: Session, given: str) -> bool:
    return same_token(session.csrf, given)
