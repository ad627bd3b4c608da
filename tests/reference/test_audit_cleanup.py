"""Deleting old audit entries in batches, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from workhorse_reference.audit import AuditCleanupPayload, delete_older_than
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import AuditEntry

UTC = dt.UTC
NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
CUTOFF = NOW - dt.timedelta(days=30)


async def add_entries(db: Database, ages: list[dt.timedelta]) -> list[int]:
    async with db.session() as s:
        rows = [
            AuditEntry(at=NOW - age, actor="alice", action="quote.sent", target=f"quotes/{i}")
            for i, age in enumerate(ages)
        ]
        s.add_all(rows)
        await s.flush()
        return [r.id for r in rows]


async def remaining(db: Database) -> set[int]:
    async with db.session() as s:
        return set((await s.scalars(select(AuditEntry.id))).all())


def old_ages(n: int) -> list[dt.timedelta]:
    """``n`` ages from just past the cutoff to 100 days."""
    return [dt.timedelta(days=30, minutes=1)] + [dt.timedelta(days=31 + i) for i in range(n - 1)]


def recent_ages() -> list[dt.timedelta]:
    return [dt.timedelta(days=30) - dt.timedelta(minutes=1), dt.timedelta(days=3), dt.timedelta()]


async def test_deletes_only_old_entries_in_batches_with_progress(db: Database) -> None:
    old = await add_entries(db, old_ages(25))
    recent = await add_entries(db, recent_ages())
    seen: list[tuple[int, int]] = []

    async def progress(deleted: int, total: int) -> None:
        # Each batch is committed before it is reported (one short transaction each).
        assert len(set(old) & await remaining(db)) == len(old) - deleted
        seen.append((deleted, total))

    deleted = await delete_older_than(db, CUTOFF, batch=7, progress=progress)

    assert deleted == len(old)
    assert seen == [(7, 25), (14, 25), (21, 25), (25, 25)]
    assert await remaining(db) == set(recent)


async def test_running_again_deletes_nothing(db: Database) -> None:
    await add_entries(db, old_ages(5))
    recent = await add_entries(db, recent_ages())
    assert await delete_older_than(db, CUTOFF) == 5
    calls: list[int] = []

    async def progress(deleted: int, total: int) -> None:
        calls.append(deleted)

    assert await delete_older_than(db, CUTOFF, progress=progress) == 0
    assert calls == []
    assert await remaining(db) == set(recent)


async def test_two_clean_ups_at_once_delete_each_entry_once(db: Database) -> None:
    old = await add_entries(db, old_ages(30))
    recent = await add_entries(db, recent_ages())

    counts = await asyncio.gather(
        delete_older_than(db, CUTOFF, batch=4), delete_older_than(db, CUTOFF, batch=4)
    )

    assert sum(counts) == len(old)
    assert await remaining(db) == set(recent)


async def test_batch_must_be_positive(db: Database) -> None:
    with pytest.raises(ValueError, match="batch must be >= 1"):
        await delete_older_than(db, CUTOFF, batch=0)


def test_payload_defaults_to_thirty_days_and_names_bad_fields() -> None:
    assert AuditCleanupPayload.model_validate({}).days_to_keep == 30
    assert AuditCleanupPayload.model_validate({"daysToKeep": 7}).days_to_keep == 7
    for data, name in [
        ({"daysToKeep": 0}, "daysToKeep"),
        ({"daysToKeep": -3}, "daysToKeep"),
        ({"daysToKeep": "30"}, "daysToKeep"),
        ({"daysToKeep": True}, "daysToKeep"),
        ({"days": 30}, "days"),
    ]:
        with pytest.raises(ValidationError) as info:
            AuditCleanupPayload.model_validate(data)
        assert info.value.errors()[0]["loc"] == (name,)
