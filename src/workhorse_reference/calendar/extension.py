"""The Google Calendar connection's part of the API process: the routes of
:mod:`workhorse_reference.calendar.routes` and the HTTP client they call Google
with."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from fastapi import APIRouter

from workhorse.app.service import QueueService
from workhorse_reference.calendar.connect import CalendarConnector
from workhorse_reference.calendar.routes import calendar_router
from workhorse_reference.calendar.settings import CalendarSettings
from workhorse_reference.domain.db import Database


class CalendarConnect:
    """Connect, show and disconnect users' calendars.  ``secret`` signs the consent
    flow's state (the API's secret); ``clock``: epoch seconds, for the state's
    expiry."""

    def __init__(
        self,
        db: Database,
        settings: CalendarSettings,
        secret: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.connector = CalendarConnector(db, settings, secret, clock)

    def routers(self) -> Sequence[APIRouter]:
        return [calendar_router(self.connector)]

    async def start(self, service: QueueService) -> None:
        self.connector.open(service)

    async def close(self) -> None:
        await self.connector.close()
