"""Signing out everywhere: ending every session of a user at once, whichever browser
holds it -- any user their own, an admin anyone's (a user of the settings, or the
user named by an admin API token).

The page ``/admin/queues/sessions`` offers it; the POST carries the page's CSRF token
and is written to the audit log before it takes effect, like every dashboard action
(:mod:`workhorse.dashboard.actions`).  What "ended" means, and how the other API
processes learn of it, is told by :class:`workhorse.dashboard.session.SignOuts`.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from workhorse.app.audit import AuditEntry, AuditLog
from workhorse.dashboard.guard import (
    dashboard_of,
    is_secure,
    session_of,
    settings_of,
    to_login,
)
from workhorse.dashboard.pages import error_page, posted_form, render
from workhorse.dashboard.session import (
    BASE,
    COOKIE,
    FLASH_COOKIE,
    clear_cookie,
    set_cookie,
)

router = APIRouter(include_in_schema=False)
log = logging.getLogger("workhorse.dashboard")
PAGE = BASE + "/sessions"
#: The name of the action in the audit log.
ACTION = "sign-out-everywhere"


@router.get(PAGE)
async def sessions_page(request: Request) -> Response:
    session = session_of(request)
    if session is None:
        return to_login(request)
    users = settings_of(request).dashboard_users if session.can_act else []
    return render(request, session, "login_sessions.html", nav="sessions", users=users)


@router.post(PAGE + "/end")
async def sign_out_everywhere(request: Request) -> Response:
    """End every session of the form's ``user`` (default: the one asking)."""
    checked = await posted_form(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    user = str(form.get("user", "")).strip() or session.user
    if len(user) > 200:
        return error_page(request, session, 400, "user: at most 200 characters")
    if user != session.user and not session.can_act:
        log.warning("dashboard: %s (viewer) tried to sign out %s", session.user, user)
        return error_page(
            request, session, 403, "read-only: a viewer can sign out only their own sessions"
        )
    audit: AuditLog = request.app.state.audit
    await audit.record(AuditEntry(session.user, ACTION, f"user/{user}"))
    dash = dashboard_of(request)
    ttl_ms = round(settings_of(request).dashboard_session_ttl * 1000)
    await dash.sign_outs.sign_out(user, dash.now(), ttl_ms)
    secure = is_secure(request)
    if user == session.user:  # this session ended too
        response = RedirectResponse(BASE + "/login", status_code=303)
        clear_cookie(response, COOKIE, secure)
        return response
    response = RedirectResponse(PAGE, status_code=303)
    message = f"Every session of {user} is ended; they must sign in again"
    set_cookie(response, FLASH_COOKIE, quote(f"ok:{message}"), 60, secure)
    return response
