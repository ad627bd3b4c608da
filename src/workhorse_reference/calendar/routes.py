"""The HTTP side of connecting a Google Calendar (the flow is
:mod:`workhorse_reference.calendar.connect`):

- ``GET /api/calendar/connect`` (bearer): ``{"url": ...}``, Google's consent screen
  for the caller, to open in their browser; 503 when no OAuth client is configured,
  404 when the caller is not a user of the application;
- ``GET /api/calendar/callback?code=..&state=..`` (no bearer: Google redirects the
  browser here): connects the calendar and answers a small page, or a 303 to
  ``GOOGLE_OAUTH_SUCCESS_URL``.  A 400 page when the user refused
  (``error=access_denied``), the state was tampered with or expired, or the code
  was used or expired; a 502 page when Google failed.  Nothing is stored then;
- ``GET /api/calendar/link`` (bearer): the link's status, never its tokens;
- ``DELETE /api/calendar/link`` (bearer): revoke the access at Google and forget
  the link (204); 404 when there is none, 502 (link kept) when Google could not
  confirm the revocation.

The callback's pages are for a person in a browser, so they are HTML; they are
neither cached nor send a ``Referer`` (the callback's address carries the code).
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from workhorse.api.auth import Principal, current_user
from workhorse_reference.calendar.connect import (
    CalendarConnector,
    ConsentFailed,
    GoogleUnavailable,
    NotConfigured,
    UnknownUser,
    find_link,
)
from workhorse_reference.calendar.settings import CalendarSettings
from workhorse_reference.calendar.state import StateRefused

User = Annotated[Principal, Depends(current_user)]
CALLBACK = "calendar_callback"
NOT_CONNECTED = "Google Calendar not connected"
PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class ConnectUrl(BaseModel):
    url: str = Field(description="Google's consent screen; valid for 10 minutes")


class LinkStatus(BaseModel):
    connected: bool = Field(description="linked and not revoked: syncs run")
    calendarId: str | None = None
    lastSyncedAt: dt.datetime | None = None
    revokedAt: dt.datetime | None = Field(
        default=None, description="when Google refused the access: connect again"
    )
    lastError: str | None = None


def redirect_uri(settings: CalendarSettings, request: Request) -> str:
    """``GOOGLE_OAUTH_REDIRECT_URI``, else the callback on the URL the API was reached
    at.  The consent URL and the code exchange must use the same one."""
    return settings.redirect_uri or str(request.url_for(CALLBACK))


def page(status: int, title: str, message: str) -> HTMLResponse:
    title, message = html.escape(title, quote=False), html.escape(message, quote=False)
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body><h1>{title}</h1><p>{message}</p></body></html>"
    )
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _refused_page(error: str, description: str | None) -> HTMLResponse:
    if error == "access_denied":
        return page(
            400,
            NOT_CONNECTED,
            "You did not allow access to your Google Calendar, so nothing was connected. "
            "To sync your sessions, connect again and allow access.",
        )
    detail = f"{error}: {description}" if description else error
    return page(400, NOT_CONNECTED, f"Google did not grant access ({detail}). Connect again.")


async def _complete(connector: CalendarConnector, code: str, state: str, redirect: str) -> Response:
    """The callback's answer once Google sent a code."""
    try:
        await connector.complete(code, state, redirect)
    except StateRefused as exc:
        return page(400, NOT_CONNECTED, f"{_sentence(str(exc))}: connect again.")
    except ConsentFailed as exc:
        return page(400, NOT_CONNECTED, f"{_sentence(str(exc))}.")
    except GoogleUnavailable as exc:
        return page(
            502, NOT_CONNECTED, f"Google could not complete the connection ({exc}). Try again."
        )
    except NotConfigured as exc:
        return page(503, NOT_CONNECTED, str(exc))
    if connector.settings.success_url:
        return RedirectResponse(
            connector.settings.success_url, status_code=303, headers=PAGE_HEADERS
        )
    return page(
        200,
        "Google Calendar connected",
        "Your sessions and your Google Calendar are being synced. You can close this page.",
    )


def calendar_router(connector: CalendarConnector) -> APIRouter:
    router = APIRouter(prefix="/api/calendar", tags=["calendar"])
    settings = connector.settings

    @router.get(
        "/connect",
        response_model=ConnectUrl,
        responses={
            404: {"description": "The caller is not a user of the application"},
            503: {"description": "No Google OAuth client is configured"},
        },
    )
    async def connect(request: Request, user: User) -> ConnectUrl:
        """The address of Google's consent screen, where the caller allows the
        application to sync their sessions with their Google Calendar.  Google then
        sends their browser to the callback."""
        try:
            url = await connector.consent_url(user.user_id, redirect_uri(settings, request))
        except NotConfigured as exc:
            raise HTTPException(503, str(exc)) from None
        except UnknownUser as exc:
            raise HTTPException(404, str(exc)) from None
        return ConnectUrl(url=url)

    @router.get(
        "/callback",
        name=CALLBACK,
        response_class=HTMLResponse,
        responses={
            303: {"description": "Connected: to GOOGLE_OAUTH_SUCCESS_URL when set"},
            400: {"description": "Refused, tampered with, expired or used: connect again"},
            502: {"description": "Google failed to complete the connection"},
        },
    )
    async def callback(
        request: Request,
        code: str | None = None,
        state: str | None = None,
        error: str | None = None,
        error_description: str | None = None,
    ) -> Response:
        """Where Google's consent screen sends the browser back: connects the
        calendar of the user the signed ``state`` names and queues its first sync."""
        if error is not None:
            return _refused_page(error, error_description)
        if not code or not state:
            return page(
                400,
                NOT_CONNECTED,
                "This address is where Google sends you back after you allow access to "
                "your calendar, and this link is incomplete. Connect again from the "
                "application.",
            )
        return await _complete(connector, code, state, redirect_uri(settings, request))

    @router.get("/link", response_model=LinkStatus)
    async def link(user: User) -> LinkStatus:
        """The caller's Google Calendar link: whether it syncs, when it last did, and
        the last error (``connected: false`` and nothing else when there is none)."""
        found = await find_link(connector.db, user.user_id)
        if found is None:
            return LinkStatus(connected=False)
        return LinkStatus(
            connected=found.revoked_at is None,
            calendarId=found.calendar_id,
            lastSyncedAt=found.last_synced_at,
            revokedAt=found.revoked_at,
            lastError=found.last_error,
        )

    @router.delete(
        "/link",
        status_code=204,
        response_class=Response,
        responses={
            404: {"description": "No Google Calendar is connected"},
            502: {"description": "Google could not confirm the revocation; nothing changed"},
        },
    )
    async def disconnect(user: User) -> Response:
        """Revoke the application's access at Google and delete the link."""
        try:
            found = await connector.disconnect(user.user_id)
        except GoogleUnavailable as exc:
            raise HTTPException(
                502,
                f"Google could not confirm the revocation ({exc}); the calendar is still "
                "connected: try again",
            ) from None
        if not found:
            raise HTTPException(404, "no Google Calendar is connected")
        return Response(status_code=204)

    return router
