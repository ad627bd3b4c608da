"""The dashboard as a part of the API process: its routes, its template renderer
and its live feed, started and closed with the API (``create_app`` adds it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter

from workhorse.app.service import QueueService
from workhorse.dashboard.actions import router as actions_router
from workhorse.dashboard.live import LiveFeed
from workhorse.dashboard.login import router as login_router
from workhorse.dashboard.pages import router as pages_router
from workhorse.dashboard.render import Renderer
from workhorse.dashboard.stats import summarize
from workhorse.queue import Queue


class Dashboard:
    """Serves ``/admin/queues``.  One per app, kept on ``app.state.dashboard``."""

    def __init__(self) -> None:
        self.renderer = Renderer()
        self._feed: LiveFeed | None = None

    def routers(self) -> Sequence[APIRouter]:
        return [login_router, pages_router, actions_router]

    async def start(self, service: QueueService) -> None:
        self._feed = LiveFeed(service.queues, _summary)
        await self._feed.start()

    async def close(self) -> None:
        if self._feed is not None:
            await self._feed.close()
            self._feed = None

    @property
    def feed(self) -> LiveFeed:
        if self._feed is None:
            raise RuntimeError("the dashboard is not started (the API's lifespan starts it)")
        return self._feed


async def _summary(queue: Queue) -> dict[str, Any]:
    return (await summarize(queue)).as_json()
