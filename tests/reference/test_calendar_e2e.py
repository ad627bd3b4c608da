"""End to end: Alice asks the HTTP API for a calendar sync, follows it live over
Socket.IO until it completes, and the sync reached both her Google Calendar (the
local Google server) and her database.  On Redis and on the embedded store."""

from __future__ import annotations

import datetime as dt
from functools import partial
from pathlib import Path

import httpx
from sqlalchemy import select

from tests.api.conftest import serve
from tests.api.test_live import Client
from tests.reference.calendar_server import CalendarServer, event_time
from tests.reference.calendar_world import (
    ALICE,
    add_user_with_link,
    at,
    calendar_registry,
    calendar_settings,
)
from workhorse.store.base import Store
from workhorse_reference.calendar import QUEUE, CalendarSyncProcessor
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import Session

URL = f"/api/queues/{QUEUE}/jobs"


async def test_a_sync_requested_over_http_is_followed_live_to_completion(
    store: Store, tmp_path: Path, google: CalendarServer, sqlite_db: Database
) -> None:
    await add_user_with_link(sqlite_db, google)
    async with sqlite_db.session() as s:
        s.add(Session(user_id="alice", title="Coaching", starts_at=at(0), ends_at=at(1)))
    booked = google.add_event(ALICE, "Booked in Google", at(4), at(5))
    factory = partial(CalendarSyncProcessor, db=sqlite_db, settings=calendar_settings(google))

    async for api in serve(store, tmp_path, [factory], registry=calendar_registry()):
        client = Client(api)
        await client.connect(api.tokens["alice"])
        try:
            async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
                bad = await http.post(
                    URL,
                    json={"name": "sync", "data": {"userId": "alice", "calendar": "x"}},
                    headers=api.headers("alice"),
                )
                assert bad.status_code == 422
                assert bad.json()["detail"][0]["loc"] == ["body", "data", "calendar"]

                r = await http.post(
                    URL,
                    json={"name": "sync", "data": {"userId": "alice"}},
                    headers=api.headers("alice"),
                )
                assert r.status_code == 202
                job_id = r.json()["jobId"]
                seen = await client.until(job_id, "completed")
                status = await http.get(r.json()["statusUrl"], headers=api.headers("alice"))
        finally:
            await client.sio.disconnect()

    expected = {
        "pulled": {"created": 1, "updated": 0, "deleted": 0},
        "pushed": {"inserted": 1, "patched": 0, "deleted": 0},
        "fullResync": True,
    }
    assert seen[-1]["result"] == {"success": True, "data": expected}
    assert status.json()["returnvalue"] == expected
    messages = [m.get("message") for m in seen if m["status"] == "active"]
    steps = [m for m in messages if m in ("refresh token", "pull", "push")]
    assert steps == ["refresh token", "pull", "push"]
    assert seen[-2]["progress"] == 100  # the last progress before completion

    events = {e["summary"]: e for e in google.events(ALICE).values()}
    assert set(events) == {"Coaching", "Booked in Google"}
    assert events["Coaching"]["start"] == event_time(at(0))
    async with sqlite_db.session() as s:
        rows = {r.title: r for r in await s.scalars(select(Session))}
    assert set(rows) == {"Coaching", "Booked in Google"}
    assert rows["Booked in Google"].google_event_id == booked
    assert rows["Booked in Google"].starts_at == at(4)
    assert rows["Coaching"].google_event_id == events["Coaching"]["id"]
    assert rows["Coaching"].synced_at is not None
    assert rows["Coaching"].synced_at > dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
