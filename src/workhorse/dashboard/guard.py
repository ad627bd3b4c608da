"""Who is asking, and the context every page is rendered with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlencode

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from workhorse.app.service import QueueService
from workhorse.app.settings import Settings
from workhorse.dashboard.session import (
    BASE,
    COOKIE,
    FLASH_COOKIE,
    Session,
    clear_cookie,
    read,
)

if TYPE_CHECKING:
    from workhorse.dashboard.extension import Dashboard


def dashboard_of(request: Request) -> Dashboard:
    dash: Dashboard = request.app.state.dashboard
    return dash


def service_of(request: Request) -> QueueService:
    service: QueueService = request.app.state.service
    return service


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def session_of(request: Request) -> Session | None:
    """The session of the request, checked on every request: signed, not expired,
    its user still there, and not ended by a "sign out everywhere" since its login."""
    dash = dashboard_of(request)
    users = settings_of(request).dashboard_users
    session = read(request.app.state.secret, request.cookies.get(COOKIE), users, dash.now())
    if session is None or dash.sign_outs.void(session):
        return None
    return session


def is_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def to_login(request: Request) -> RedirectResponse:
    """Back to the login page, which returns here afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{BASE}/login?next={quote(here, safe='')}", status_code=303)


def safe_back(value: str | None, default: str = BASE) -> str:
    """A path inside the dashboard to return to (never another site)."""
    if (
        value
        and value.startswith(BASE)
        and "//" not in value
        and "\\" not in value
        and all(ord(c) > 31 for c in value)
    ):
        return value
    return default


def page_context(request: Request, session: Session, **context: Any) -> dict[str, Any]:
    """What every page template gets: the user, the queues for the sidebar, the
    flash message of the last action, the address of the live feed."""
    service = service_of(request)
    dash = dashboard_of(request)
    query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "fragment"])
    here = request.url.path + (f"?{query}" if query else "")
    flash = unquote(request.cookies.get(FLASH_COOKIE, ""))
    kind, _, text = flash.partition(":")
    return {
        "session": session,
        "queue_names": [q.name for q in service.queues],
        "flash": {"kind": kind, "text": text} if text else None,
        "here": here,
        "live_after": getattr(request.state, "live_after", None) or dash.feed.position(),
        **context,
    }


def finish_page(request: Request, response: Response) -> Response:
    """Drop the flash message once a page has shown it."""
    if FLASH_COOKIE in request.cookies:
        clear_cookie(response, FLASH_COOKIE, is_secure(request))
    return response
