"""Generating the occurrences of recurring sessions, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import Session, User
from workhorse_reference.recurring import (
    RecurringSessionsPayload,
    RuleError,
    UnknownUser,
    generate,
    occurrences,
)

UTC = dt.UTC
NOW = dt.datetime(2030, 3, 1, 12, 0, tzinfo=UTC)  # a month before both DST changes
HORIZON = dt.timedelta(days=90)
WEEKLY_TUESDAY = "FREQ=WEEKLY;BYDAY=TU"


async def add_user(db: Database, user_id: str, tz: str = "Europe/Paris") -> None:
    async with db.session() as s:
        s.add(User(id=user_id, email=f"{user_id}@example.com", name=user_id, timezone=tz))


async def add_series(
    db: Database,
    user_id: str,
    starts: dt.datetime,
    rrule: str | None = WEEKLY_TUESDAY,
    minutes: int = 60,
    **fields: object,
) -> int:
    async with db.session() as s:
        row = Session(
            user_id=user_id,
            title=f"coaching of {user_id}",
            location="room 3",
            starts_at=starts,
            ends_at=starts + dt.timedelta(minutes=minutes),
            rrule=rrule,
            **fields,
        )
        s.add(row)
        await s.flush()
        return row.id


def tuesday_9am(zone: str) -> dt.datetime:
    """The first Tuesday of February 2030 at 09:00 in ``zone`` (before ``NOW``)."""
    return dt.datetime(2030, 2, 5, 9, 0, tzinfo=ZoneInfo(zone))


def weekly_oracle(first: dt.datetime, now: dt.datetime, horizon: dt.timedelta) -> set[dt.datetime]:
    """Every 7 days of wall-clock time after ``first`` (aware datetime arithmetic keeps
    the local time), in ``[now, now + horizon)``: computed without dateutil."""
    found = set()
    at = first + dt.timedelta(weeks=1)
    while at < now + horizon:
        if at >= now:
            found.add(at.astimezone(UTC))
        at += dt.timedelta(weeks=1)
    return found


async def occurrence_rows(db: Database, series_id: int) -> list[Session]:
    async with db.session() as s:
        query = select(Session).where(Session.series_id == series_id)
        return list((await s.scalars(query.order_by(Session.starts_at))).all())


async def count_sessions(db: Database) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count(Session.id))) or 0)


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York"])
async def test_weekly_series_keeps_its_local_time_across_dst(db: Database, zone: str) -> None:
    await add_user(db, "alice", zone)
    first = tuesday_9am(zone)
    series = await add_series(db, "alice", first.astimezone(UTC), minutes=90)

    result = await generate(db, now=NOW, horizon=HORIZON)

    expected = weekly_oracle(first, NOW, HORIZON)
    rows = await occurrence_rows(db, series)
    assert {r.occurrence_start for r in rows} == expected
    assert (result.created, result.skipped, result.series, result.errors) == (
        len(expected),
        0,
        1,
        [],
    )
    local = [r.starts_at.astimezone(ZoneInfo(zone)) for r in rows]
    assert {(t.weekday(), t.hour, t.minute) for t in local} == {(1, 9, 0)}
    # The window crosses the start of summer time: two UTC offsets, one local time.
    assert len({t.utcoffset() for t in local}) == 2
    for row in rows:
        assert row.starts_at == row.occurrence_start
        assert row.ends_at - row.starts_at == dt.timedelta(minutes=90)
        assert (row.user_id, row.title, row.location, row.status, row.rrule) == (
            "alice",
            "coaching of alice",
            "room 3",
            "scheduled",
            None,
        )


async def test_running_twice_creates_nothing_more(db: Database) -> None:
    await add_user(db, "alice")
    await add_series(db, "alice", tuesday_9am("Europe/Paris").astimezone(UTC))
    first = await generate(db, now=NOW)
    before = await count_sessions(db)

    again = await generate(db, now=NOW)

    assert first.created > 0
    assert (again.created, again.skipped) == (0, first.created)
    assert await count_sessions(db) == before


async def test_two_runs_at_once_create_each_occurrence_once(db: Database) -> None:
    await add_user(db, "alice")
    await add_user(db, "bob", "America/New_York")
    await add_series(db, "alice", tuesday_9am("Europe/Paris").astimezone(UTC))
    await add_series(db, "bob", tuesday_9am("America/New_York").astimezone(UTC))
    expected = len(weekly_oracle(tuesday_9am("Europe/Paris"), NOW, HORIZON)) + len(
        weekly_oracle(tuesday_9am("America/New_York"), NOW, HORIZON)
    )

    one, two = await asyncio.gather(generate(db, now=NOW), generate(db, now=NOW))

    assert one.created + two.created == expected
    assert one.skipped + two.skipped == expected
    assert await count_sessions(db) == 2 + expected


async def test_one_user_then_all_users(db: Database) -> None:
    await add_user(db, "alice")
    await add_user(db, "bob")
    alice = await add_series(db, "alice", tuesday_9am("Europe/Paris").astimezone(UTC))
    bob = await add_series(db, "bob", tuesday_9am("Europe/Paris").astimezone(UTC))
    per_series = len(weekly_oracle(tuesday_9am("Europe/Paris"), NOW, HORIZON))

    only_alice = await generate(db, user_id="alice", now=NOW)
    assert (only_alice.series, only_alice.created) == (1, per_series)
    assert len(await occurrence_rows(db, alice)) == per_series
    assert await occurrence_rows(db, bob) == []

    everyone = await generate(db, now=NOW)
    assert (everyone.series, everyone.created, everyone.skipped) == (2, per_series, per_series)
    assert len(await occurrence_rows(db, bob)) == per_series


async def test_only_live_series_are_expanded(db: Database) -> None:
    await add_user(db, "alice")
    start = tuesday_9am("Europe/Paris").astimezone(UTC)
    live = await add_series(db, "alice", start)
    cancelled = await add_series(db, "alice", start, status="cancelled")
    deleted = await add_series(db, "alice", start, deleted_at=NOW - dt.timedelta(days=1))
    single = await add_series(db, "alice", start, rrule=None)
    ended = await add_series(db, "alice", start, rrule=WEEKLY_TUESDAY + ";COUNT=3")

    result = await generate(db, now=NOW)

    assert result.series == 2  # live and ended; the occurrences are not series
    assert result.created == len(await occurrence_rows(db, live)) > 0
    for other in (cancelled, deleted, single, ended):
        assert await occurrence_rows(db, other) == []


async def test_a_series_starting_later_is_not_generated_again_at_its_own_start(
    db: Database,
) -> None:
    await add_user(db, "alice")
    start = NOW + dt.timedelta(days=2)
    series = await add_series(db, "alice", start, rrule="FREQ=DAILY;COUNT=5")

    result = await generate(db, now=NOW)

    starts = [r.occurrence_start for r in await occurrence_rows(db, series)]
    assert result.created == 4
    assert starts == [start + dt.timedelta(days=d) for d in range(1, 5)]


async def test_horizon_bounds_the_occurrences(db: Database) -> None:
    await add_user(db, "alice")
    first = tuesday_9am("Europe/Paris")
    series = await add_series(db, "alice", first.astimezone(UTC))
    horizon = dt.timedelta(days=15)

    result = await generate(db, now=NOW, horizon=horizon)

    starts = {r.occurrence_start for r in await occurrence_rows(db, series)}
    assert starts == weekly_oracle(first, NOW, horizon)
    assert result.created == len(starts) == 2


async def test_a_bad_series_is_reported_and_the_others_go_on(db: Database) -> None:
    await add_user(db, "alice")
    await add_user(db, "mars", "Mars/Olympus_Mons")
    start = tuesday_9am("Europe/Paris").astimezone(UTC)
    good = await add_series(db, "alice", start)
    bad_rule = await add_series(db, "alice", start, rrule="FREQ=FORTNIGHTLY")
    too_often = await add_series(db, "alice", start, rrule="FREQ=HOURLY")
    bad_zone = await add_series(db, "mars", start)

    result = await generate(db, now=NOW)

    assert result.series == 4
    assert result.created == len(await occurrence_rows(db, good)) > 0
    errors = {e["seriesId"]: e for e in result.errors}
    assert set(errors) == {bad_rule, too_often, bad_zone}
    assert "invalid rrule 'FREQ=FORTNIGHTLY'" in errors[bad_rule]["error"]
    assert "at most daily" in errors[too_often]["error"]
    assert "unknown time zone 'Mars/Olympus_Mons'" in errors[bad_zone]["error"]
    assert errors[bad_zone]["userId"] == "mars"


async def test_unknown_user_is_an_error_naming_it(db: Database) -> None:
    with pytest.raises(UnknownUser, match="userId: no user 'nobody'"):
        await generate(db, user_id="nobody", now=NOW)


@pytest.mark.parametrize(
    ("series", "expected"),
    [(5, [(2, 5), (4, 5), (5, 5)]), (4, [(2, 4), (4, 4)]), (0, [])],
)
async def test_pages_of_series_are_reported_as_done(
    db: Database, series: int, expected: list[tuple[int, int]]
) -> None:
    await add_user(db, "alice")
    ids = [
        await add_series(db, "alice", tuesday_9am("Europe/Paris").astimezone(UTC))
        for _ in range(series)
    ]
    seen: list[tuple[int, int]] = []

    async def progress(done: int, total: int) -> None:
        seen.append((done, total))

    result = await generate(db, now=NOW, progress=progress, page_size=2)

    assert seen == expected
    assert result.series == series
    per_series = len(weekly_oracle(tuesday_9am("Europe/Paris"), NOW, HORIZON))
    for series_id in ids:  # every page was expanded, none twice
        assert len(await occurrence_rows(db, series_id)) == per_series


def test_occurrences_refuse_a_rule_that_would_flood_the_table() -> None:
    start = dt.datetime(2030, 1, 1, 9, tzinfo=UTC)
    with pytest.raises(RuleError, match="more than 10 occurrences"):
        occurrences("FREQ=DAILY", start, "UTC", NOW, NOW + HORIZON, limit=10)


def test_until_must_be_utc_as_in_rfc5545() -> None:
    start = dt.datetime(2030, 1, 1, 9, tzinfo=UTC)
    until_utc = occurrences(
        "FREQ=WEEKLY;UNTIL=20300320T000000Z", start, "Europe/Paris", NOW, NOW + HORIZON, 100
    )
    assert until_utc and max(until_utc) < dt.datetime(2030, 3, 20, tzinfo=UTC)
    with pytest.raises(RuleError, match="UNTIL"):
        occurrences("FREQ=WEEKLY;UNTIL=20300320", start, "Europe/Paris", NOW, NOW + HORIZON, 100)


def test_payload_fields_and_errors() -> None:
    assert RecurringSessionsPayload.model_validate({}).user_id is None
    payload = RecurringSessionsPayload.model_validate({"userId": "alice", "horizonDays": 30})
    assert (payload.user_id, payload.horizon_days) == ("alice", 30)
    bad = [{"userId": ""}, {"horizonDays": 0}, {"horizonDays": True}, {"user": "alice"}]
    fields = ["userId", "horizonDays", "horizonDays", "user"]
    for data, name in zip(bad, fields, strict=True):
        with pytest.raises(ValidationError) as info:
            RecurringSessionsPayload.model_validate(data)
        assert info.value.errors()[0]["loc"] == (name,)
