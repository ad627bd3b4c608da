"""The domain schema on SQLite and PostgreSQL: created, versioned, constrained."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from workhorse_reference.domain.db import SCHEMA_VERSION, Database, SchemaMismatch, SchemaVersion
from workhorse_reference.domain.models import Session, User

UTC = dt.UTC


async def test_datetimes_come_back_aware_utc(db: Database) -> None:
    start = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    async with db.session() as s:
        s.add(User(id="alice", email="alice@example.test", name="Alice"))
        await s.flush()
        s.add(Session(user_id="alice", title="Kick-off", starts_at=start, ends_at=start))
    async with db.session() as s:
        got = (await s.execute(select(Session))).scalar_one()
    assert got.starts_at == start
    assert got.starts_at.tzinfo is not None
    assert got.starts_at.utcoffset() == dt.timedelta(0)


async def test_naive_datetime_is_refused(db: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        async with db.session() as s:
            s.add(User(id="bob", email="b@example.test", name="Bob", created_at=dt.datetime.now()))


async def test_an_occurrence_cannot_be_stored_twice(db: Database) -> None:
    t = dt.datetime(2026, 3, 2, 9, tzinfo=UTC)
    async with db.session() as s:
        s.add(User(id="alice", email="a@example.test", name="Alice"))
        await s.flush()
        series = Session(
            user_id="alice", title="Weekly", starts_at=t, ends_at=t, rrule="FREQ=WEEKLY"
        )
        s.add(series)
        await s.flush()
        series_id = series.id
        s.add(
            Session(
                user_id="alice",
                title="Weekly",
                starts_at=t,
                ends_at=t,
                series_id=series_id,
                occurrence_start=t,
            )
        )
    with pytest.raises(IntegrityError):
        async with db.session() as s:
            s.add(
                Session(
                    user_id="alice",
                    title="Weekly",
                    starts_at=t,
                    ends_at=t,
                    series_id=series_id,
                    occurrence_start=t,
                )
            )


async def test_schema_version_is_recorded_and_checked(db: Database) -> None:
    async with db.session() as s:
        assert (await s.execute(select(SchemaVersion.version))).scalar_one() == SCHEMA_VERSION
    await db.create()  # the same version again: accepted
    async with db.session() as s:
        await s.execute(update(SchemaVersion).values(version=SCHEMA_VERSION + 1))
    with pytest.raises(SchemaMismatch, match="upgrade workhorse"):
        await db.create()
