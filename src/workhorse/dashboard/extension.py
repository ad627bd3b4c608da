"""The dashboard as a part of the API process: its routes, its template renderer,
its live feed, its login counters (in memory) and the sign-outs (in the store),
started and closed with the API (``create_app`` adds it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter

from workhorse.app.service import QueueService
from workhorse.clock import Clock
from workhorse.dashboard.actions import router as actions_router
from workhorse.dashboard.live import LiveFeed
from workhorse.dashboard.login import router as login_router
from workhorse.dashboard.pages import router as pages_router
from workhorse.dashboard.render import Renderer
from workhorse.dashboard.session import SignOuts
from workhorse.dashboard.signout import router as signout_router
from workhorse.dashboard.stats import summarize
from workhorse.dashboard.throttle import LoginThrottle
from workhorse.queue import Queue


class Dashboard:
    """Serves ``/admin/queues``.  One per app, kept on ``app.state.dashboard``.

    Its clock is the store's (:attr:`workhorse.store.base.Store.clock`): the one
    clock of the engine, which a test hands to the store it builds."""

    def __init__(self) -> None:
        self.renderer = Renderer()
        self.logins = LoginThrottle()
        self._sign_outs: SignOuts | None = None
        self._feed: LiveFeed | None = None
        self._clock: Clock | None = None

    def routers(self) -> Sequence[APIRouter]:
        return [login_router, signout_router, pages_router, actions_router]

    async def start(self, service: QueueService) -> None:
        self._clock = service.store.clock
        self._sign_outs = SignOuts(service.store)
        await self._sign_outs.start()
        self._feed = LiveFeed(service.queues, _summary)
        await self._feed.start()

    def now(self) -> int:
        """The time by the dashboard's clock, in ms since the epoch."""
        if self._clock is None:
            raise RuntimeError("the dashboard is not started (the API's lifespan starts it)")
        return self._clock()

    async def close(self) -> None:
        if self._feed is not None:
            await self._feed.close()
            self._feed = None
        if self._sign_outs is not None:
            await self._sign_outs.close()

    @property
    def sign_outs(self) -> SignOuts:
        if self._sign_outs is None:
            raise RuntimeError("the dashboard is not started (the API's lifespan starts it)")
        return self._sign_outs

    @property
    def feed(self) -> LiveFeed:
        if self._feed is None:
            raise RuntimeError("the dashboard is not started (the API's lifespan starts it)")
        return self._feed


async def _summary(queue: Queue) -> dict[str, Any]:
    return (await summarize(queue)).as_json()
