"""The google-calendar-sync job against the local Google server
(tests/reference/calendar_server.py), on SQLite and PostgreSQL: first sync both
ways, incremental sync, 410 -> full resync, deletions on either side, the conflict
rule, access-token refresh, revoked credentials.  Each job runs in a real burst
worker on an embedded store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.reference.calendar_server import CalendarServer, event_time
from tests.reference.calendar_world import ALICE, World, at, make_world
from workhorse.job import JobState
from workhorse.store.sqlite import SqliteStore
from workhorse_reference.calendar.events import event_body, event_id_for
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import Session

UTC = dt.UTC


# ---- first sync, incremental sync, full resync --------------------------------------
async def test_first_sync_goes_both_ways(world: World) -> None:
    google = world.google
    kickoff = await world.add_session("Kick-off", at(0), description="agenda", location="Room 1")
    review = await world.add_session("Review", at(24))
    series = await world.add_session("Weekly", at(48), rrule="FREQ=WEEKLY;COUNT=3")
    remote = google.add_event(ALICE, "Dentist", at(3), at(4), location="Main St")
    google.add_event(ALICE, "Holiday", {"date": "2031-05-05"}, {"date": "2031-05-06"})

    job = await world.sync()
    assert job.state is JobState.COMPLETED, job.failed_reason
    assert job.returnvalue == {
        "pulled": {"created": 2, "updated": 0, "deleted": 0},
        "pushed": {"inserted": 2, "patched": 0, "deleted": 0},
        "fullResync": True,
    }
    assert job.progress["currentStep"] == "push"
    assert job.progress["overallProgress"] == 100

    # Google now holds the two local sessions, as the API shows them.
    events = google.events(ALICE)
    by_title = {e["summary"]: e for e in events.values()}
    assert set(by_title) == {"Kick-off", "Review", "Dentist", "Holiday"}
    assert by_title["Kick-off"]["start"] == event_time(at(0))
    assert by_title["Kick-off"]["end"] == event_time(at(1))
    assert by_title["Kick-off"]["description"] == "agenda"
    assert by_title["Kick-off"]["location"] == "Room 1"
    # Alice's database now holds both events; the all-day one over its day in her
    # time zone (UTC: she never set one).
    sessions = await world.sessions()
    assert set(sessions) == {"Kick-off", "Review", "Weekly", "Dentist", "Holiday"}
    dentist = sessions["Dentist"]
    assert (dentist.starts_at, dentist.ends_at, dentist.location) == (at(3), at(4), "Main St")
    holiday = sessions["Holiday"]
    assert (holiday.starts_at, holiday.ends_at) == (at(-9), at(15))
    assert dentist.google_event_id == remote
    assert dentist.google_etag == events[remote]["etag"]
    for session_id in (kickoff, review):
        row = await world.session(session_id)
        assert row.google_event_id in events
        assert row.google_etag == events[row.google_event_id]["etag"]
        assert row.synced_at == row.updated_at
    assert (await world.session(series)).google_event_id is None  # a series is no event
    link = await world.link()
    assert link.sync_token
    assert link.last_synced_at is not None
    assert link.last_error is None

    # Nothing changed since: the next sync is incremental and moves nothing (our own
    # inserts come back from Google with the etags we stored).
    again = await world.synced()
    assert again == {
        "pulled": {"created": 0, "updated": 0, "deleted": 0},
        "pushed": {"inserted": 0, "patched": 0, "deleted": 0},
        "fullResync": False,
    }
    assert google.calls("GET", "/events")[-1].params["syncToken"] == link.sync_token


async def test_incremental_sync_uses_the_token_and_applies_only_changes(world: World) -> None:
    google = world.google
    mine = await world.add_session("Coaching", at(0))
    other = await world.add_session("Untouched", at(5))
    theirs = google.add_event(ALICE, "Lunch", at(2), at(3))
    await world.synced()
    token = (await world.link()).sync_token
    untouched_before = await world.session(other)

    google.edit_event(ALICE, theirs, summary="Lunch with Bob", start=at(2.5), end=at(3.5))
    new = google.add_event(ALICE, "Call", at(6), at(7), description="by phone")
    stored_etag = (await world.session(mine)).google_etag
    await world.edit_session(mine, title="Coaching (moved)", starts_at=at(1), ends_at=at(2))
    lists_before = len(google.calls("GET", "/events"))

    result = await world.synced()
    assert result == {
        "pulled": {"created": 1, "updated": 1, "deleted": 0},
        "pushed": {"inserted": 0, "patched": 1, "deleted": 0},
        "fullResync": False,
    }
    lists = google.calls("GET", "/events")[lists_before:]
    assert [r.params.get("syncToken") for r in lists] == [token]
    sessions = await world.sessions()
    assert (sessions["Lunch with Bob"].starts_at, sessions["Lunch with Bob"].ends_at) == (
        at(2.5),
        at(3.5),
    )
    assert sessions["Call"].description == "by phone"
    assert sessions["Call"].google_event_id == new
    pushed = google.events(ALICE)[(await world.session(mine)).google_event_id or ""]
    assert pushed["summary"] == "Coaching (moved)"
    assert pushed["start"] == event_time(at(1))
    patch = google.calls("PATCH")[-1]
    assert patch.headers["if-match"] == stored_etag
    assert (await world.session(other)).synced_at == untouched_before.synced_at
    assert (await world.link()).sync_token != token


async def test_expired_sync_token_falls_back_to_a_full_resync(world: World) -> None:
    google = world.google
    first = google.add_event(ALICE, "One", at(0), at(1))
    google.add_event(ALICE, "Two", at(2), at(3))
    await world.synced()
    old_token = (await world.link()).sync_token
    google.expire_sync_tokens(ALICE)
    google.edit_event(ALICE, first, summary="One (renamed)")
    lists_before = len(google.calls("GET", "/events"))

    result = await world.synced()
    assert result["fullResync"] is True
    # Only the event that really changed counts; the other came back unchanged.
    assert result["pulled"] == {"created": 0, "updated": 1, "deleted": 0}
    lists = google.calls("GET", "/events")[lists_before:]
    assert [r.params.get("syncToken") for r in lists] == [old_token, None]
    assert lists[1].params["showDeleted"] == "true"
    assert set(await world.sessions()) == {"One (renamed)", "Two"}
    new_token = (await world.link()).sync_token
    assert new_token not in (None, old_token)

    assert (await world.synced())["fullResync"] is False
    assert google.calls("GET", "/events")[-1].params["syncToken"] == new_token


async def test_a_full_listing_is_read_page_by_page(
    db: Database, google: CalendarServer, tmp_path: Path
) -> None:
    store = SqliteStore(tmp_path / "jobs.db")
    try:
        async for world in make_world(db, google, store, page_size=2):
            titles = {f"Event {i}" for i in range(5)}
            for i, title in enumerate(sorted(titles)):
                google.add_event(ALICE, title, at(i), at(i + 0.5))
            result = await world.synced()
            assert result["pulled"]["created"] == 5
            lists = google.calls("GET", "/events")
            assert [r.params.get("pageToken") is not None for r in lists] == [False, True, True]
            assert all(r.params["maxResults"] == "2" for r in lists)
            assert set(await world.sessions()) == titles
    finally:
        await store.close()


# ---- deletions --------------------------------------------------------------------
async def test_remote_deletion_cancels_the_session(world: World) -> None:
    google = world.google
    event = google.add_event(ALICE, "Workshop", at(0), at(2))
    await world.synced()
    google.delete_event(ALICE, event)

    result = await world.synced()
    assert result["pulled"] == {"created": 0, "updated": 0, "deleted": 1}
    assert result["pushed"] == {"inserted": 0, "patched": 0, "deleted": 0}
    row = (await world.sessions())["Workshop"]
    assert row.status == "cancelled"
    assert row.deleted_at is None  # kept, for history and exports
    assert google.calls("DELETE") == []
    assert (await world.synced())["pulled"]["deleted"] == 0


async def test_local_deletion_and_cancellation_delete_the_events(world: World) -> None:
    google = world.google
    gone = await world.add_session("Dropped", at(0))
    called_off = await world.add_session("Called off", at(3))
    kept = await world.add_session("Kept", at(6))
    await world.synced()
    ids = {s: (await world.session(s)).google_event_id for s in (gone, called_off, kept)}

    await world.edit_session(gone, deleted_at=dt.datetime.now(UTC))
    await world.edit_session(called_off, status="cancelled")
    result = await world.synced()
    assert result["pushed"] == {"inserted": 0, "patched": 0, "deleted": 2}
    assert set(google.events(ALICE)) == {ids[kept]}
    assert google.event(ALICE, ids[gone] or "").status == "cancelled"
    assert {r.path.rsplit("/", 1)[-1] for r in google.calls("DELETE")} == {
        ids[gone],
        ids[called_off],
    }
    # The deletions come back in the next incremental list: nothing more to do.
    assert await world.synced() == {
        "pulled": {"created": 0, "updated": 0, "deleted": 0},
        "pushed": {"inserted": 0, "patched": 0, "deleted": 0},
        "fullResync": False,
    }


async def test_a_full_resync_cancels_sessions_whose_event_vanished(world: World) -> None:
    google = world.google
    vanished = google.add_event(ALICE, "Long gone", at(0), at(1))
    google.add_event(ALICE, "Still there", at(2), at(3))
    await world.synced()
    google.forget_event(ALICE, vanished)

    result = await world.synced()
    assert result["fullResync"] is True
    assert result["pulled"] == {"created": 0, "updated": 0, "deleted": 1}
    sessions = await world.sessions()
    assert sessions["Long gone"].status == "cancelled"
    assert sessions["Still there"].status == "scheduled"


# ---- the conflict rule ------------------------------------------------------------
async def _both_changed(world: World, remote_at: dt.datetime) -> tuple[int, str]:
    """A session synced once, then edited here now and in Google at ``remote_at``."""
    session_id = await world.add_session("Original", at(0))
    await world.synced()
    event_id = (await world.session(session_id)).google_event_id
    assert event_id is not None
    await world.edit_session(session_id, title="Edited here", location="Room 2")
    world.google.edit_event(ALICE, event_id, at=remote_at, summary="Edited in Google")
    return session_id, event_id


async def test_conflict_the_more_recent_remote_edit_wins(world: World) -> None:
    future = dt.datetime.now(UTC) + dt.timedelta(minutes=5)
    session_id, event_id = await _both_changed(world, remote_at=future)
    result = await world.synced()
    assert result["pulled"]["updated"] == 1
    assert result["pushed"]["patched"] == 0
    row = await world.session(session_id)
    assert (row.title, row.location) == ("Edited in Google", "")
    assert world.google.events(ALICE)[event_id]["summary"] == "Edited in Google"


async def test_conflict_the_more_recent_local_edit_wins(world: World) -> None:
    past = dt.datetime.now(UTC) - dt.timedelta(minutes=5)
    session_id, event_id = await _both_changed(world, remote_at=past)
    remote_etag = world.google.event(ALICE, event_id).etag
    result = await world.synced()
    assert result["pulled"]["updated"] == 0
    assert result["pushed"]["patched"] == 1
    assert (await world.session(session_id)).title == "Edited here"
    event = world.google.events(ALICE)[event_id]
    assert (event["summary"], event["location"]) == ("Edited here", "Room 2")
    # It overwrote the version it had seen, not a newer one.
    assert world.google.calls("PATCH")[-1].headers["if-match"] == remote_etag


async def test_conflict_a_remote_deletion_wins_over_a_local_edit(world: World) -> None:
    session_id = await world.add_session("Original", at(0))
    await world.synced()
    event_id = (await world.session(session_id)).google_event_id or ""
    await world.edit_session(session_id, title="Edited here")
    world.google.delete_event(ALICE, event_id)

    result = await world.synced()
    assert result["pulled"]["deleted"] == 1
    assert result["pushed"] == {"inserted": 0, "patched": 0, "deleted": 0}
    assert (await world.session(session_id)).status == "cancelled"
    assert world.google.events(ALICE) == {}


async def test_conflict_a_local_deletion_wins_over_a_remote_edit(world: World) -> None:
    future = dt.datetime.now(UTC) + dt.timedelta(minutes=5)
    session_id = await world.add_session("Original", at(0))
    await world.synced()
    event_id = (await world.session(session_id)).google_event_id or ""
    await world.edit_session(session_id, deleted_at=dt.datetime.now(UTC))
    world.google.edit_event(ALICE, event_id, at=future, summary="Edited in Google")

    result = await world.synced()
    assert result["pulled"]["updated"] == 0
    assert result["pushed"]["deleted"] == 1
    assert world.google.events(ALICE) == {}


async def test_an_insert_whose_answer_was_lost_is_not_duplicated(world: World) -> None:
    """An attempt inserted the event, then died before storing its id: the retry
    links the session to that event instead of importing it or inserting again."""
    session_id = await world.add_session("Once", at(0))
    async with world.db.session() as s:
        row = await s.get(Session, session_id)
        assert row is not None
        body = {"id": event_id_for(row), **event_body(row, ZoneInfo("UTC"))}
    world.google.add_event(ALICE, body["summary"], at(0), at(1), id=body["id"])

    result = await world.synced()
    assert result["pulled"]["created"] == 0
    assert list(await world.sessions()) == ["Once"]
    assert (await world.session(session_id)).google_event_id == body["id"]
    assert list(world.google.events(ALICE)) == [body["id"]]


async def test_an_event_inserted_meanwhile_under_our_id_is_brought_up_to_date(
    world: World,
) -> None:
    """Another run of the same sync inserted the session's event between our pull and
    our push: our insert answers 409, and the existing event is patched instead."""
    google = world.google
    session_id = await world.add_session("Once", at(0), location="Room 3")
    event_id = event_id_for(await world.session(session_id))
    google.after_next("GET", lambda: google.add_event(ALICE, "Stale", at(5), at(6), id=event_id))

    result = await world.synced()
    assert result["pushed"]["inserted"] == 1
    assert [r.method for r in google.requests[-3:]] == ["POST", "GET", "PATCH"]
    event = google.events(ALICE)[event_id]
    assert (event["summary"], event["location"], event["start"]) == (
        "Once",
        "Room 3",
        event_time(at(0)),
    )
    assert list(google.events(ALICE)) == [event_id]
    assert (await world.session(session_id)).google_event_id == event_id
