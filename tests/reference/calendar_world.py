"""The calendar sync tests' world: Alice with a connected calendar on the local
Google server, a queue service whose sync jobs run in a burst worker, and helpers to
read and change her sessions (the ``google`` and ``world`` fixtures are in
conftest.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select

from tests.reference.calendar_server import CLIENT_ID, CLIENT_SECRET, CalendarServer
from workhorse import Worker
from workhorse.app.queues import default_registry
from workhorse.app.registry import QueueConfig
from workhorse.app.service import QueueService
from workhorse.job import Job, JobState
from workhorse.options import Backoff
from workhorse.store.base import Store
from workhorse_reference.calendar import (
    JOB,
    QUEUE,
    CalendarSettings,
    CalendarSyncPayload,
    CalendarSyncProcessor,
)
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import CalendarLink, Session, User

UTC = dt.UTC
ALICE = "alice@example.test"
T0 = dt.datetime(2031, 5, 5, 9, 0, tzinfo=UTC)


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def calendar_registry() -> Any:
    config = QueueConfig(
        attempts=5,
        backoff=Backoff("fixed", delay=0.01),
        timeout=600,
        payloads={JOB: CalendarSyncPayload},
    )
    return default_registry().with_queue(QUEUE, config)


def calendar_settings(google: CalendarServer, **overrides: Any) -> CalendarSettings:
    fields: dict[str, Any] = {
        "api_url": google.api_url,
        "token_url": google.token_url,
        "client_id": CLIENT_ID,
        "client_secret": SecretStr(CLIENT_SECRET),
    }
    return CalendarSettings(**{**fields, **overrides})


async def add_user_with_link(db: Database, google: CalendarServer, user: str = "alice") -> str:
    """A user whose calendar is connected; the refresh token Google gave."""
    email = f"{user}@example.test"
    refresh = google.grant(email)
    async with db.session() as s:
        s.add(User(id=user, email=email, name=user.title()))
        await s.flush()
        s.add(CalendarLink(user_id=user, refresh_token=refresh))
    return refresh


@dataclass
class World:
    db: Database
    google: CalendarServer
    service: QueueService
    settings: CalendarSettings
    refresh_token: str

    @property
    def processor(self) -> CalendarSyncProcessor:
        return CalendarSyncProcessor(self.service, db=self.db, settings=self.settings)

    async def sync(self, user: str = "alice", **options: Any) -> Job:
        """Run one sync job in a burst worker; the finished job."""
        options.setdefault("attempts", 1)
        job = await self.service.add(QUEUE, JOB, {"userId": user}, **options)
        processor = self.processor
        worker = Worker(
            self.service.queue(QUEUE), processor.handle, retry_policy=processor.retry_policy
        )
        await worker.run(burst=True)
        return await self.service.get_job(QUEUE, job.id)

    async def synced(self, **options: Any) -> dict[str, Any]:
        job = await self.sync(**options)
        assert job.state is JobState.COMPLETED, job.failed_reason
        result: dict[str, Any] = job.returnvalue
        return result

    async def add_session(self, title: str, start: dt.datetime, **fields: Any) -> int:
        async with self.db.session() as s:
            row = Session(
                user_id="alice",
                title=title,
                starts_at=start,
                ends_at=start + dt.timedelta(hours=1),
                **fields,
            )
            s.add(row)
            await s.flush()
            return row.id

    async def edit_session(self, session_id: int, **fields: Any) -> None:
        async with self.db.session() as s:
            row = await s.get(Session, session_id)
            assert row is not None
            for name, value in fields.items():
                setattr(row, name, value)

    async def session(self, session_id: int) -> Session:
        async with self.db.session() as s:
            row = await s.get(Session, session_id)
        assert row is not None
        return row

    async def sessions(self) -> dict[str, Session]:
        """Alice's sessions by title."""
        async with self.db.session() as s:
            rows = await s.scalars(select(Session).where(Session.user_id == "alice"))
            return {r.title: r for r in rows}

    async def link(self) -> CalendarLink:
        async with self.db.session() as s:
            link = await s.get(CalendarLink, "alice")
        assert link is not None
        return link


async def make_world(
    db: Database, google: CalendarServer, store: Store, **settings: Any
) -> AsyncIterator[World]:
    refresh = await add_user_with_link(db, google)
    service = QueueService(store, calendar_registry())
    try:
        yield World(db, google, service, calendar_settings(google, **settings), refresh)
    finally:
        await service.close()
