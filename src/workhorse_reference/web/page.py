"""The demo page at ``/``: a demo user picks an entity and a format, starts an
export, watches its progress bar fill live (Server-Sent Events, so no third-party
JavaScript), and the file downloads when the job completes.

It uses the public API only -- ``GET /api/export``, the job's SSE stream, the signed
download URL from ``result.data.url`` -- plus one demo-only endpoint that hands the
page a bearer token for a demo user, since the demo has no login.  That endpoint
exists only in ``workhorse demo`` (never in ``workhorse serve``) and only mints
tokens for the non-admin demo users.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from workhorse.api.auth import mint_token
from workhorse.app.service import QueueService

DemoUser = Literal["alice", "bob"]
TOKEN_TTL_S = 8 * 3600


class TokenRequest(BaseModel):
    user: DemoUser


class TokenOut(BaseModel):
    token: str
    user: str


class DemoPage:
    """An :class:`~workhorse.api.extension.Extension` serving the page."""

    def __init__(self) -> None:
        self._html = resources.files(__package__).joinpath("index.html").read_text("utf-8")

    def routers(self) -> Sequence[APIRouter]:
        router = APIRouter(tags=["demo"])
        html = self._html

        @router.get("/", response_class=HTMLResponse, include_in_schema=False)
        async def page() -> HTMLResponse:
            return HTMLResponse(html, headers={"Cache-Control": "no-store"})

        @router.post("/demo/token", response_model=TokenOut)
        async def token(body: TokenRequest, request: Request) -> TokenOut:
            """A short-lived token for a demo user (demo only)."""
            secret: str = request.app.state.secret
            return TokenOut(token=mint_token(secret, body.user, ttl=TOKEN_TTL_S), user=body.user)

        return [router]

    async def start(self, service: QueueService) -> None:
        return None

    async def close(self) -> None:
        return None
