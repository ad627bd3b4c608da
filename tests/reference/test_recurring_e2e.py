"""End to end: an admin starts the generation of every user's recurring sessions
through the HTTP API, follows it over Socket.IO, and the rows are in the database."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from tests.api.conftest import Api, serve
from tests.api.test_live import Client
from tests.reference.test_audit_log import reference_registry
from workhorse.store.base import Store
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import Session, User
from workhorse_reference.domain.types import utcnow
from workhorse_reference.recurring import QUEUE, RecurringSessionsProcessor

URL = f"/api/queues/{QUEUE}/jobs"


@pytest.fixture
async def api(store: Store, tmp_path: Path, sqlite_db: Database) -> AsyncIterator[Api]:
    processor = partial(RecurringSessionsProcessor, db=sqlite_db, horizon_days=30)
    async for running in serve(store, tmp_path, [processor], registry=reference_registry()):
        yield running


async def add_weekly_series(db: Database, user: str, zone: str) -> int:
    """A weekly series of ``user`` that began three weeks ago at 09:00 local time."""
    local_day = utcnow().astimezone(ZoneInfo(zone)).date() - dt.timedelta(weeks=3)
    starts = dt.datetime.combine(local_day, dt.time(9), ZoneInfo(zone)).astimezone(dt.UTC)
    async with db.session() as s:
        s.add(User(id=user, email=f"{user}@example.com", name=user, timezone=zone))
        await s.flush()
        series = Session(
            user_id=user,
            title="weekly",
            starts_at=starts,
            ends_at=starts + dt.timedelta(hours=1),
            rrule="FREQ=WEEKLY",
        )
        s.add(series)
        await s.flush()
        return series.id


async def test_admin_generates_every_users_occurrences(api: Api, sqlite_db: Database) -> None:
    series = {
        "alice": await add_weekly_series(sqlite_db, "alice", "Europe/Paris"),
        "bob": await add_weekly_series(sqlite_db, "bob", "America/New_York"),
    }
    client = Client(api)
    await client.connect(api.tokens["admin"])
    try:
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
            bad = await http.post(
                URL,
                json={"name": "generate", "data": {"horizonDays": 0}},
                headers=api.headers("admin"),
            )
            assert bad.status_code == 422
            assert bad.json()["detail"][0]["loc"] == ["body", "data", "horizonDays"]

            r = await http.post(
                URL, json={"name": "generate", "data": {}}, headers=api.headers("admin")
            )
            assert r.status_code == 202
            job_id = r.json()["jobId"]
            seen = await client.until(job_id, "completed")
    finally:
        await client.sio.disconnect()

    messages = [m.get("message") for m in seen if m["status"] == "active"]
    assert "series of every user, 30 days ahead" in messages and "2/2 series" in messages
    result = seen[-1]["result"]
    assert result["success"] is True
    async with sqlite_db.session() as s:
        rows = (await s.scalars(select(Session).where(Session.series_id.is_not(None)))).all()
    assert result["data"]["series"] == 2 and result["data"]["errors"] == []
    assert result["data"]["created"] == len(rows)
    for user, zone in (("alice", "Europe/Paris"), ("bob", "America/New_York")):
        own = [r for r in rows if r.user_id == user]
        assert {r.series_id for r in own} == {series[user]}
        # Weekly over a 30-day horizon: four or five occurrences, all at 09:00 local.
        assert 4 <= len(own) <= 5
        assert {r.starts_at.astimezone(ZoneInfo(zone)).hour for r in own} == {9}
        assert all(r.starts_at >= utcnow() - dt.timedelta(minutes=5) for r in own)
