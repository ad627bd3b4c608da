"""Time zones and all-day events in the google-calendar-sync job, against the local
Google server (tests/reference/calendar_server.py), on SQLite and PostgreSQL: events
are written in the user's IANA zone (``dateTime`` offset and ``timeZone``, right on
both sides of a DST change), read back from any zone, and all-day events are imported
over their local days and written back as all-day, without ping-pong.  The server's
own checks of event times are tested with plain httpx calls."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import update

from tests.reference.calendar_server import CalendarServer, event_time
from tests.reference.calendar_world import ALICE, World
from tests.reference.test_calendar_server import EVENTS, access, reason_of
from workhorse.job import JobState
from workhorse_reference.calendar.events import all_day_dates, day_start
from workhorse_reference.domain.models import Session, User

UTC = dt.UTC
PARIS = "Europe/Paris"
NEW_YORK = "America/New_York"  # DST began on Sunday 9 March 2031 at 02:00
NOTHING = {
    "pulled": {"created": 0, "updated": 0, "deleted": 0},
    "pushed": {"inserted": 0, "patched": 0, "deleted": 0},
    "fullResync": False,
}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


async def living_in(world: World, zone: str) -> None:
    """Alice's time zone, in the application and in her Google Calendar's settings."""
    async with world.db.session() as s:
        await s.execute(update(User).where(User.id == "alice").values(timezone=zone))
    world.google.set_time_zone(ALICE, zone)


async def add(world: World, title: str, start: dt.datetime, end: dt.datetime) -> int:
    async with world.db.session() as s:
        row = Session(user_id="alice", title=title, starts_at=start, ends_at=end)
        s.add(row)
        await s.flush()
        return row.id


def by_summary(google: CalendarServer) -> dict[str, dict[str, object]]:
    return {str(e["summary"]): e for e in google.events(ALICE).values()}


def writes(google: CalendarServer) -> list[str]:
    return [r.method for r in google.calls("POST") + google.calls("PATCH")]


# ---- time zones ---------------------------------------------------------------------
async def test_sessions_are_pushed_in_the_users_time_zone(world: World) -> None:
    google = world.google
    await living_in(world, PARIS)
    await add(world, "Summer", utc(2031, 5, 5, 9), utc(2031, 5, 5, 10))
    await add(world, "Winter", utc(2031, 1, 10, 9), utc(2031, 1, 10, 10, 30))

    assert (await world.synced())["pushed"]["inserted"] == 2
    sent = {r.body["summary"]: r.body for r in google.calls("POST")}
    assert sent["Summer"]["start"] == {"dateTime": "2031-05-05T11:00:00+02:00", "timeZone": PARIS}
    assert sent["Winter"]["end"] == {"dateTime": "2031-01-10T11:30:00+01:00", "timeZone": PARIS}
    events = by_summary(google)
    assert events["Summer"]["start"] == {"dateTime": "2031-05-05T11:00:00+02:00", "timeZone": PARIS}
    assert events["Summer"]["end"] == event_time(utc(2031, 5, 5, 10), PARIS)
    assert events["Winter"]["start"] == {"dateTime": "2031-01-10T10:00:00+01:00", "timeZone": PARIS}
    # Google answers our writes in the same zone: they come back as no change.
    assert await world.synced() == NOTHING
    assert {r.title: r.starts_at for r in (await world.sessions()).values()} == {
        "Summer": utc(2031, 5, 5, 9),
        "Winter": utc(2031, 1, 10, 9),
    }


async def test_local_times_are_right_on_both_sides_of_a_dst_change(world: World) -> None:
    google = world.google
    await living_in(world, NEW_YORK)
    await add(world, "Before", utc(2031, 3, 8, 14), utc(2031, 3, 8, 15))
    after = await add(world, "After", utc(2031, 3, 10, 13), utc(2031, 3, 10, 14))
    # 01:00 EST to 04:00 EDT: two hours long, across the change.
    await add(world, "Across", utc(2031, 3, 9, 6), utc(2031, 3, 9, 8))
    await world.synced()

    events = by_summary(google)
    assert events["Before"]["start"] == {
        "dateTime": "2031-03-08T09:00:00-05:00",
        "timeZone": NEW_YORK,
    }
    assert events["After"]["start"] == {
        "dateTime": "2031-03-10T09:00:00-04:00",
        "timeZone": NEW_YORK,
    }
    assert events["Across"]["start"] == event_time(utc(2031, 3, 9, 6), NEW_YORK)
    assert events["Across"]["start"]["dateTime"] == "2031-03-09T01:00:00-05:00"  # type: ignore[index]
    assert events["Across"]["end"]["dateTime"] == "2031-03-09T04:00:00-04:00"  # type: ignore[index]

    # An edit is patched in the zone too (and clears any all-day date: Google merges).
    await world.edit_session(after, starts_at=utc(2031, 3, 10, 14), ends_at=utc(2031, 3, 10, 15))
    assert (await world.synced())["pushed"]["patched"] == 1
    patch = google.calls("PATCH")[-1].body
    assert patch["start"] == {
        "dateTime": "2031-03-10T10:00:00-04:00",
        "timeZone": NEW_YORK,
        "date": None,
    }
    assert by_summary(google)["After"]["start"] == event_time(utc(2031, 3, 10, 14), NEW_YORK)
    assert google.calls("GET", "/events/") == []  # not a whole day: no need to read the event
    assert await world.synced() == NOTHING


async def test_events_in_any_zone_are_read_at_their_instant(world: World) -> None:
    """Alice lives in New York; her calendar shows Paris time; one event was entered
    as New York wall-clock time, one with an offset only."""
    google = world.google
    await living_in(world, NEW_YORK)
    google.set_time_zone(ALICE, PARIS)
    wall = google.add_event(
        ALICE,
        "Wall clock",
        {"dateTime": "2031-03-10T09:00:00", "timeZone": NEW_YORK},
        {"dateTime": "2031-03-10T10:00:00", "timeZone": NEW_YORK},
    )
    google.add_event(
        ALICE,
        "Offset",
        {"dateTime": "2031-03-08T09:00:00-05:00"},
        {"dateTime": "2031-03-08T09:45:00-05:00"},
    )
    assert google.events(ALICE)[wall]["start"] == {
        "dateTime": "2031-03-10T14:00:00+01:00",
        "timeZone": NEW_YORK,
    }

    assert (await world.synced())["pulled"]["created"] == 2
    sessions = await world.sessions()
    assert (sessions["Wall clock"].starts_at, sessions["Wall clock"].ends_at) == (
        utc(2031, 3, 10, 13),
        utc(2031, 3, 10, 14),
    )
    assert (sessions["Offset"].starts_at, sessions["Offset"].ends_at) == (
        utc(2031, 3, 8, 14),
        utc(2031, 3, 8, 14, 45),
    )
    assert await world.synced() == NOTHING

    await world.edit_session(sessions["Wall clock"].id, title="Wall clock (renamed)")
    assert (await world.synced())["pushed"]["patched"] == 1
    event = google.events(ALICE)[wall]
    assert event["start"] == {"dateTime": "2031-03-10T14:00:00+01:00", "timeZone": NEW_YORK}
    assert google.calls("PATCH")[-1].body["start"]["dateTime"] == "2031-03-10T09:00:00-04:00"


async def test_a_user_with_an_unknown_time_zone_is_not_synced(world: World) -> None:
    async with world.db.session() as s:
        await s.execute(update(User).where(User.id == "alice").values(timezone="Mars/Olympus"))
    await add(world, "Nowhere", utc(2031, 5, 5, 9), utc(2031, 5, 5, 10))
    world.google.add_event(ALICE, "Somewhere", utc(2031, 5, 5, 12), utc(2031, 5, 5, 13))

    job = await world.sync()
    assert job.state is JobState.FAILED
    assert "unknown time zone 'Mars/Olympus'" in (job.failed_reason or "")
    assert world.google.calls("GET") == []
    assert writes(world.google) == []
    assert set(await world.sessions()) == {"Nowhere"}


# ---- all-day events ---------------------------------------------------------------
async def test_all_day_events_round_trip_as_all_day(world: World) -> None:
    google = world.google
    await living_in(world, PARIS)
    single = google.add_event(ALICE, "Holiday", {"date": "2031-05-05"}, {"date": "2031-05-06"})
    # Across Paris' DST change (30 March 2031): 71 hours from midnight to midnight.
    google.add_event(ALICE, "Seminar", {"date": "2031-03-29"}, {"date": "2031-04-01"})

    assert (await world.synced())["pulled"]["created"] == 2
    sessions = await world.sessions()
    assert (sessions["Holiday"].starts_at, sessions["Holiday"].ends_at) == (
        utc(2031, 5, 4, 22),
        utc(2031, 5, 5, 22),
    )
    assert (sessions["Seminar"].starts_at, sessions["Seminar"].ends_at) == (
        utc(2031, 3, 28, 23),
        utc(2031, 3, 31, 22),
    )
    assert writes(google) == []
    assert await world.synced() == NOTHING
    assert writes(google) == []

    # Edited in Google Calendar: the session follows.
    google.edit_event(
        ALICE,
        single,
        summary="Long holiday",
        start={"date": "2031-05-05"},
        end={"date": "2031-05-08"},
    )
    assert (await world.synced())["pulled"]["updated"] == 1
    holiday = (await world.sessions())["Long holiday"]
    assert (holiday.starts_at, holiday.ends_at) == (utc(2031, 5, 4, 22), utc(2031, 5, 7, 22))
    assert writes(google) == []

    # Renamed here: pushed back as an all-day event, and nothing comes back.
    await world.edit_session(sessions["Seminar"].id, title="Seminar (Lyon)")
    assert (await world.synced())["pushed"]["patched"] == 1
    # The event was read first: only it can say the session is all-day.
    assert [r.method for r in google.requests[-2:]] == ["GET", "PATCH"]
    assert google.requests[-2].path == google.requests[-1].path
    patch = google.calls("PATCH")[-1]
    assert patch.body["start"] == {"date": "2031-03-29", "dateTime": None}
    assert patch.body["end"] == {"date": "2031-04-01", "dateTime": None}
    event = by_summary(google)["Seminar (Lyon)"]
    assert (event["start"], event["end"]) == ({"date": "2031-03-29"}, {"date": "2031-04-01"})
    assert await world.synced() == NOTHING

    # Moved to a time of day here: from then on it is a timed event.
    await world.edit_session(holiday.id, starts_at=utc(2031, 5, 5, 8), ends_at=utc(2031, 5, 5, 9))
    assert (await world.synced())["pushed"]["patched"] == 1
    event = google.events(ALICE)[single]
    assert event["start"] == {"dateTime": "2031-05-05T10:00:00+02:00", "timeZone": PARIS}
    assert event["end"] == event_time(utc(2031, 5, 5, 9), PARIS)
    assert await world.synced() == NOTHING


async def test_day_long_timed_events_and_sessions_stay_timed(world: World) -> None:
    """Midnight to midnight is not all-day unless the event says so."""
    google = world.google
    await living_in(world, NEW_YORK)
    shift = google.add_event(ALICE, "Night shift", utc(2031, 3, 8, 5), utc(2031, 3, 9, 5))
    day_off = await add(world, "Day off", utc(2031, 3, 10, 4), utc(2031, 3, 11, 4))
    await world.synced()
    sent = google.calls("POST")[-1].body
    assert sent["start"] == {"dateTime": "2031-03-10T00:00:00-04:00", "timeZone": NEW_YORK}

    sessions = await world.sessions()
    await world.edit_session(sessions["Night shift"].id, title="Night shift (B)")
    await world.edit_session(day_off, title="Day off (paid)")
    assert (await world.synced())["pushed"]["patched"] == 2
    events = by_summary(google)
    assert events["Night shift (B)"]["start"] == {
        "dateTime": "2031-03-08T00:00:00-05:00",
        "timeZone": NEW_YORK,
    }
    assert events["Day off (paid)"]["end"] == event_time(utc(2031, 3, 11, 4), NEW_YORK)
    assert google.events(ALICE)[shift]["summary"] == "Night shift (B)"
    assert await world.synced() == NOTHING


# ---- the server's checks ------------------------------------------------------------
async def test_the_server_checks_event_times_like_google(google: CalendarServer) -> None:
    async with httpx.AsyncClient(base_url=google.url, timeout=10) as http:
        headers = await access(http, google.grant(ALICE))
        bad_zone = {"dateTime": "2031-03-10T09:00:00", "timeZone": "Mars/Olympus"}
        r = await http.post(
            EVENTS,
            json={"start": bad_zone, "end": event_time(utc(2031, 3, 10, 14))},
            headers=headers,
        )
        message = "Invalid time zone definition for start time."
        assert r.status_code == 400
        assert r.json() == {
            "error": {
                "errors": [{"domain": "global", "reason": "invalid", "message": message}],
                "code": 400,
                "message": message,
            }
        }
        naive = {"dateTime": "2031-03-10T09:00:00"}
        r = await http.post(EVENTS, json={"start": naive, "end": naive}, headers=headers)
        assert reason_of(r) == (400, "required")

        # Wall-clock time in a zone; answered in the calendar's zone (UTC).
        local = {
            "start": {"dateTime": "2031-03-10T09:00:00", "timeZone": NEW_YORK},
            "end": {"dateTime": "2031-03-10T10:00:00", "timeZone": NEW_YORK},
        }
        made = (await http.post(EVENTS, json=local, headers=headers)).json()
        assert made["start"] == {"dateTime": "2031-03-10T13:00:00Z", "timeZone": NEW_YORK}
        url = f"{EVENTS}/{made['id']}"
        r = await http.patch(url, json={"end": {"timeZone": "EST5EDT?"}}, headers=headers)
        assert reason_of(r) == (400, "invalid")
        assert r.json()["error"]["message"] == "Invalid time zone definition for end time."
        backwards = {"end": {"dateTime": "2031-03-10T08:00:00-04:00"}}
        r = await http.patch(url, json=backwards, headers=headers)
        assert reason_of(r) == (400, "timeRangeEmpty")
        # A patch merges start and end: a date next to the dateTime is refused ...
        r = await http.patch(url, json={"start": {"date": "2031-03-10"}}, headers=headers)
        assert reason_of(r) == (400, "invalid")
        mixed = {"start": {"date": "2031-03-10", "dateTime": None}}
        r = await http.patch(url, json=mixed, headers=headers)
        assert reason_of(r) == (400, "invalid")  # start all-day, end timed
        # ... and nulls remove: the event becomes all-day (its zone kept).
        day = {
            "start": {"date": "2031-03-10", "dateTime": None},
            "end": {"date": "2031-03-11", "dateTime": None},
        }
        r = await http.patch(url, json=day, headers=headers)
        assert r.status_code == 200
        assert r.json()["start"] == {"date": "2031-03-10", "timeZone": NEW_YORK}
        assert r.json()["sequence"] == 1

        google.set_time_zone(ALICE, PARIS)
        listed = (await http.get(EVENTS, headers=headers)).json()
        assert listed["timeZone"] == PARIS
        assert listed["items"][0]["end"] == {"date": "2031-03-11", "timeZone": NEW_YORK}


@pytest.mark.parametrize(
    ("zone", "day", "first_instant"),
    [
        ("America/Santiago", dt.date(2022, 9, 11), utc(2022, 9, 11, 4)),  # midnight skipped
        ("America/Havana", dt.date(2022, 11, 6), utc(2022, 11, 6, 4)),  # midnight twice
        (PARIS, dt.date(2031, 3, 30), utc(2031, 3, 29, 23)),
    ],
)
def test_whole_days_survive_dst_changes_at_midnight(
    zone: str, day: dt.date, first_instant: dt.datetime
) -> None:
    tz = ZoneInfo(zone)
    assert day_start(day, tz) == first_instant
    next_day = day + dt.timedelta(days=1)
    whole = Session(starts_at=first_instant, ends_at=day_start(next_day, tz))
    assert all_day_dates(whole, tz) == (day, next_day)
    late = Session(starts_at=first_instant + dt.timedelta(hours=1), ends_at=whole.ends_at)
    assert all_day_dates(late, tz) is None
