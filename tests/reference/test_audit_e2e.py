"""End to end: an admin starts an audit clean-up through the HTTP API, follows its
batches over Socket.IO, and only the old entries are gone from the database."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tests.api.conftest import Api, serve
from tests.api.test_live import Client
from tests.reference.test_audit_log import reference_registry
from workhorse.store.base import Store
from workhorse_reference.audit import QUEUE, AuditCleanupProcessor
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import AuditEntry
from workhorse_reference.domain.types import utcnow

URL = f"/api/queues/{QUEUE}/jobs"


@pytest.fixture
async def api(store: Store, tmp_path: Path, sqlite_db: Database) -> AsyncIterator[Api]:
    processor = partial(AuditCleanupProcessor, db=sqlite_db, batch=5)
    async for running in serve(store, tmp_path, [processor], registry=reference_registry()):
        yield running


async def test_admin_cleans_up_old_entries_in_batches(api: Api, sqlite_db: Database) -> None:
    now = utcnow()
    async with sqlite_db.session() as s:
        old = [
            AuditEntry(at=now - dt.timedelta(days=8 + i), actor="a", action="x", target="t")
            for i in range(12)
        ]
        kept = [
            AuditEntry(at=now - dt.timedelta(days=i), actor="a", action="x", target="t")
            for i in range(3)
        ]
        s.add_all(old + kept)
        await s.flush()
        kept_ids = {e.id for e in kept}
    client = Client(api)
    await client.connect(api.tokens["admin"])
    try:
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
            admin = api.headers("admin")
            bad = await http.post(
                URL, json={"name": "cleanup", "data": {"daysToKeep": 0}}, headers=admin
            )
            assert bad.status_code == 422
            assert bad.json()["detail"][0]["loc"] == ["body", "data", "daysToKeep"]

            r = await http.post(
                URL, json={"name": "cleanup", "data": {"daysToKeep": 7}}, headers=admin
            )
            assert r.status_code == 202
            job_id = r.json()["jobId"]
            seen = await client.until(job_id, "completed")
            status = (await http.get(f"{URL}/{job_id}", headers=admin)).json()
    finally:
        await client.sio.disconnect()

    messages = [m.get("message") for m in seen if m["status"] == "active"]
    assert [m for m in messages if m and m.endswith("/12 deleted")] == [
        "5/12 deleted",
        "10/12 deleted",
        "12/12 deleted",
    ]
    assert seen[-1]["result"] == {"success": True, "data": {"deleted": 12}}
    assert status["returnvalue"] == {"deleted": 12}
    async with sqlite_db.session() as s:
        assert set((await s.scalars(select(AuditEntry.id))).all()) == kept_ids
